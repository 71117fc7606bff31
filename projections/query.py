"""Reading a projection: one row, rows by an index, counters summed over their shards, event counters by group.

Thin functions over the DynamoDB projection store (projections/dynamodb_store.py) for callers holding a client.
"""

from __future__ import annotations

from typing import Any

from projections.definition import Projection, Row
from projections.dynamodb_store import DynamoDBProjectionStore, call, read_counters, read_event_counters, scan
from projections.items import from_item
from projections.tables import Tables


def read_row(client: Any, projection: Projection, tables: Tables, aggregate_id: str) -> Row | None:
    return DynamoDBProjectionStore(projection, client).read_row(tables, aggregate_id)


def scan_rows(client: Any, projection: Projection, tables: Tables) -> dict[str, Row]:
    return dict(DynamoDBProjectionStore(projection, client).rows(tables))


def query_index(client: Any, projection: Projection, table: str, index: str, value: str, limit: int = 50,
                start: dict[str, Any] | None = None) -> tuple[list[tuple[str, Row]], dict[str, Any] | None]:
    """One page of rows whose index partition key equals `value`, newest sort key first, at most `limit`,
    after `start` (a previous page's last key); with the key to give back for the next page, or None at the
    end. The caller validates a `start` it did not get from this function."""
    (partition,) = [part["AttributeName"] for spec in projection.indexes if spec["IndexName"] == index
                    for part in spec["KeySchema"] if part["KeyType"] == "HASH"]
    request: dict[str, Any] = {
        "TableName": table, "IndexName": index, "KeyConditionExpression": "#k = :v",
        "ExpressionAttributeNames": {"#k": partition}, "ExpressionAttributeValues": {":v": {"S": value}},
        "ScanIndexForward": False, "Limit": limit}
    if start is not None:
        request["ExclusiveStartKey"] = start
    page = call(client, "query", table, **request)
    return [from_item(projection.key, item) for item in page.get("Items", ())], page.get("LastEvaluatedKey")



__all__ = ["query_index", "read_counters", "read_event_counters", "read_row", "scan", "scan_rows"]
