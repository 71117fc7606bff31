"""The event store contract (testkit's suite, the one users run on their own stores), run against every
backend: the in-memory fake and DynamoDB on moto; and its reads on DynamoDB with two-item pages (so every read
crosses many pages, and moto's last page, where `Limit` equals the items left, comes without a key)."""

from __future__ import annotations

import boto3
import pytest

from core.dynamodb import DynamoDBEventStore, events_table_definition
from core.store import InMemoryEventStore
from testkit import EventStoreContract, EventStoreReadsContract


class TestInMemoryEventStore(EventStoreContract):
    def create_store(self) -> InMemoryEventStore:
        return InMemoryEventStore()


def dynamodb_store(page_size: int | None = None) -> DynamoDBEventStore:
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.create_table(**events_table_definition("Loans"))
    return DynamoDBEventStore("Loans", client=client, page_size=page_size)


@pytest.mark.usefixtures("aws")
class TestDynamoDBEventStore(EventStoreContract):
    def create_store(self) -> DynamoDBEventStore:
        return dynamodb_store()


@pytest.mark.usefixtures("aws")
class TestDynamoDBEventStoreReadsInSmallPages(EventStoreReadsContract):
    def create_store(self) -> DynamoDBEventStore:
        return dynamodb_store(page_size=2)
