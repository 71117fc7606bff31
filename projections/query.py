"""Reading a projection: one row, rows by an index, and counters summed over their shards."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from projections.definition import Projection, Row
from projections.errors import ProjectionError
from projections.items import from_item
from projections.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def read_row(client: DynamoDBClient, projection: Projection, tables: Tables, aggregate_id: str) -> Row | None:
    item = _call(client, "get_item", TableName=tables.rows, Key={projection.key: {"S": aggregate_id}},
                 ConsistentRead=True).get("Item")
    return from_item(projection.key, item)[1] if item else None


def scan(client: DynamoDBClient, table: str, segment: int = 0, of: int = 1) -> Iterator[dict[str, Any]]:
    """Every item of a table (or of one parallel-scan segment), page by page."""
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    if of > 1:
        request.update(Segment=segment, TotalSegments=of)
    while True:
        page = _call(client, "scan", **request)
        yield from page.get("Items", ())
        if "LastEvaluatedKey" not in page:  # loop on the key's presence (LOCAL-AWS trap 10)
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def scan_rows(client: DynamoDBClient, projection: Projection, tables: Tables) -> dict[str, Row]:
    return dict(from_item(projection.key, item) for item in scan(client, tables.rows))


def query_index(client: DynamoDBClient, projection: Projection, table: str, index: str, value: str, limit: int = 50,
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
    page = _call(client, "query", **request)
    return [from_item(projection.key, item) for item in page.get("Items", ())], page.get("LastEvaluatedKey")


def read_counters(client: DynamoDBClient, tables: Tables) -> dict[str, dict[str, Decimal]]:
    """Counters per group, each the sum of the group's shard items (`<group>#<shard>`)."""
    totals: dict[str, dict[str, Decimal]] = {}
    if not tables.counters:
        return totals
    for item in scan(client, tables.counters):
        group = item["id"]["S"].rsplit("#", 1)[0]
        bucket = totals.setdefault(group, {})
        for name, value in item.items():
            if name != "id" and "N" in value:
                bucket[name] = bucket.get(name, Decimal(0)) + Decimal(value["N"])
    return totals


def _call(client: DynamoDBClient, operation: str, **request: Any) -> dict[str, Any]:
    try:
        reply: dict[str, Any] = getattr(client, operation)(**request)
        return reply
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise ProjectionError(f"table {request['TableName']!r} does not exist: run `aws-es init`") from exc
        raise
