"""Reading a projection: one row, rows by an index, counters summed over their shards, event counters by group.

Thin functions over the DynamoDB projection store (projections/dynamodb_store.py) for callers holding a client.
"""

from __future__ import annotations

import heapq
from itertools import islice
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


#: A partition's position in a merged listing: None (not read yet), DONE (read to its end), or the index key
#: of the last row taken from it.
DONE = False
Position = dict[str, Any] | None | bool


def index_keys(projection: Projection, index: str) -> tuple[str, str]:
    """The index's partition and sort key attribute names."""
    (spec,) = [spec for spec in projection.indexes if spec["IndexName"] == index]
    parts = {part["KeyType"]: part["AttributeName"] for part in spec["KeySchema"]}
    return parts["HASH"], parts["RANGE"]


def query_partitions(client: Any, projection: Projection, table: str, index: str, values: list[str], limit: int,
                     positions: list[Position]) -> tuple[list[tuple[str, Row]], list[Position]]:
    """One page of the rows of several index partitions merged, newest sort key first, at most `limit`: one
    Query per partition not yet read to its end (so at most `len(values)` requests a page), each for `limit`
    rows after its position, merged by the sort key. With each partition's position after the page (all DONE
    at the end of the listing)."""
    partition, sort = index_keys(projection, index)
    pages: list[list[tuple[str, Row]]] = []
    more: list[bool] = []
    for value, position in zip(values, positions, strict=True):
        if position is DONE:
            pages.append([])
            more.append(False)
            continue
        rows, last = query_index(client, projection, table, index, value, limit,
                                 position if isinstance(position, dict) else None)
        pages.append(rows)
        more.append(last is not None)
    tagged = [[(row.get(sort, ""), loan_id, shard, row) for loan_id, row in rows] for shard, rows in enumerate(pages)]
    taken = list(islice(heapq.merge(*tagged, key=lambda entry: entry[0], reverse=True), limit))
    after: list[Position] = list(positions)
    counts = [0] * len(values)
    for _, aggregate_id, shard, row in taken:
        counts[shard] += 1
        after[shard] = {projection.key: {"S": aggregate_id}, partition: {"S": values[shard]}, sort: {"S": row[sort]}}
    for shard, rows in enumerate(pages):
        if after[shard] is not DONE and counts[shard] == len(rows) and not more[shard]:
            after[shard] = DONE
    return [(aggregate_id, row) for _, aggregate_id, _, row in taken], after


__all__ = ["DONE", "Position", "index_keys", "query_index", "query_partitions", "read_counters", "read_event_counters",
           "read_row", "scan", "scan_rows"]
