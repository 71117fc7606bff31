"""The event store contract (testkit's suite, the one users run on their own stores), run against every
backend: the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

import boto3
import pytest

from core.dynamodb import DynamoDBEventStore, events_table_definition
from core.store import InMemoryEventStore
from testkit import EventStoreContract


class TestInMemoryEventStore(EventStoreContract):
    def create_store(self) -> InMemoryEventStore:
        return InMemoryEventStore()


@pytest.mark.usefixtures("aws")
class TestDynamoDBEventStore(EventStoreContract):
    def create_store(self) -> DynamoDBEventStore:
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**events_table_definition("Loans"))
        return DynamoDBEventStore("Loans", client=client)
