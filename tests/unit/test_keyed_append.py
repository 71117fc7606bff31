"""The keyed append (an idempotency marker committed with the events; testkit's suite), run on both stores:
the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

import boto3
import pytest

from core.dynamodb import DynamoDBEventStore, events_table_definition
from core.store import InMemoryEventStore
from handlers import idempotency
from handlers.settings import Settings
from handlers.tables import ensure_table
from testkit import KeyedAppendContract
from testkit.contracts.event_store import MARKER_TABLE


class TestInMemoryKeyedAppend(KeyedAppendContract):
    def create_store(self) -> InMemoryEventStore:
        return InMemoryEventStore()


@pytest.mark.usefixtures("aws")
class TestDynamoDBKeyedAppend(KeyedAppendContract):
    def create_store(self) -> DynamoDBEventStore:
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**events_table_definition("Loans"))
        ensure_table(client, {**idempotency.table_definition(Settings()), "TableName": MARKER_TABLE})
        return DynamoDBEventStore("Loans", client=client)
