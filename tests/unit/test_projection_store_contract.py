"""The projection store contract and the control's (testkit's suites, the ones users run on their own
stores), run against every backend: in memory, and DynamoDB on moto; then what only DynamoDB can get wrong."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from core.dynamodb_calls import paged_items
from projections.definition import Projection
from projections.dynamodb_store import DynamoDBProjectionStore
from projections.errors import ProjectionError
from projections.store import InMemoryProjectionStore
from projections.tables import Control, InMemoryControl, generation_definitions, keyed_table_definition
from testkit import ControlContract, ProjectionStoreContract
from testkit.contracts.projection_store import ACCOUNTS, TABLES, row


class TestInMemoryProjectionStore(ProjectionStoreContract):
    def create_store(self, projection: Projection) -> InMemoryProjectionStore:
        return InMemoryProjectionStore()


@pytest.mark.usefixtures("aws")
class TestDynamoDBProjectionStore(ProjectionStoreContract):
    def create_store(self, projection: Projection) -> DynamoDBProjectionStore:
        return DynamoDBProjectionStore(projection, boto3.client("dynamodb", region_name="us-east-1"), shards=4)


class TestInMemoryControl(ControlContract):
    def create_control(self) -> Control:
        return InMemoryControl()


@pytest.mark.usefixtures("aws")
class TestDynamoDBControl(ControlContract):
    def create_control(self) -> Control:
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**keyed_table_definition("ProjectionControl", key="name"))
        return Control("ProjectionControl", client, ttl=0)


def test_the_pager_follows_every_page_when_limit_cuts_them(dynamodb: Any) -> None:
    """Loop on LastEvaluatedKey's presence: moto omits it when Limit equals what is left (docs/local-aws.md)."""
    for definition in generation_definitions(ACCOUNTS, 0):
        dynamodb.create_table(**definition)
    store = DynamoDBProjectionStore(ACCOUNTS, dynamodb)
    store.put_rows(TABLES, {f"a-{n}": row(n) for n in range(1, 8)})
    for limit in (1, 2, 7):
        found = list(paged_items(lambda request: dynamodb.scan(**request), {"TableName": "Accounts", "Limit": limit}))
        assert sorted(item["account"]["S"] for item in found) == sorted(f"a-{n}" for n in range(1, 8))


def test_a_missing_control_table_is_named_with_what_to_run(dynamodb: Any) -> None:
    with pytest.raises(ProjectionError, match="control table 'Nowhere' does not exist: run `aws-es init` first"):
        Control("Nowhere", dynamodb, ttl=0).live("accounts")
