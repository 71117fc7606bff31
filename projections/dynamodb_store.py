"""The projection store on DynamoDB (the contract is in projections/store.py).

Rows are items keyed by the aggregate id. Row counters are spread over shard items (`<group>#<shard>`, the
shard a hash of the aggregate id and version) so no one item is hot; event counters are one partition per
group (`group`, `part`), so a day is read by key whatever parts (shards, rebuild segments) wrote it. The
guarded write is one conditional PutItem, or one TransactWriteItems when a counter moves: the row's
condition and the counters' `ADD`s commit together or not at all.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.dynamodb_calls import cancellation_codes, is_conflict, paged_items, raise_if_missing_table
from core.errors import error_code
from projections.definition import Projection, Row, add_counts
from projections.errors import ProjectionError, RowsUnavailableError, StaleRowError
from projections.items import from_item, to_item, version_of
from projections.store import Moves, Totals
from projections.tables import Tables, table_definitions

#: Counter items per group: each is its own DynamoDB item, so writes spread over this many hot keys.
DEFAULT_SHARDS = 8
#: BatchGetItem requests per 100 rows while DynamoDB leaves keys unprocessed (botocore does not retry those),
#: pausing READ_PAUSE seconds, doubled each time, in between; then the rows' records are reported as failed.
READ_ATTEMPTS = 5
READ_PAUSE = 0.05
#: BatchWriteItem requests per 25 items while DynamoDB leaves items unprocessed, pausing as for reads; then
#: the write fails naming the table (a rebuild run again resumes from its last checkpoint).
WRITE_ATTEMPTS = 8
#: How long a created table may take to become active: DescribeTable every second, this many times.
ACTIVE_WAIT = 60


class DynamoDBProjectionStore:
    """One projection's tables on DynamoDB, through `client` (a boto3 DynamoDB client)."""

    def __init__(self, projection: Projection, client: Any, shards: int = DEFAULT_SHARDS) -> None:
        self.projection = projection
        self.client = client
        self.shards = shards

    def read_rows(self, tables: Tables, ids: Sequence[str]) -> tuple[dict[str, Row], dict[str, RowsUnavailableError]]:
        rows: dict[str, Row] = {}
        unread: dict[str, RowsUnavailableError] = {}
        for start in range(0, len(ids), 100):
            try:
                self._read_chunk(tables, list(ids[start:start + 100]), rows)
            except RowsUnavailableError as exc:
                unread.update((aggregate_id, exc) for aggregate_id in exc.keys)
        return rows, unread

    def _read_chunk(self, tables: Tables, ids: list[str], rows: dict[str, Row]) -> None:
        key = self.projection.key
        request = {tables.rows: {"Keys": [{key: {"S": i}} for i in ids], "ConsistentRead": True}}
        for attempt in range(READ_ATTEMPTS):
            if attempt:
                time.sleep(READ_PAUSE * 2 ** (attempt - 1))
            try:
                page = self._call("batch_get_item", tables.rows, RequestItems=request)
            except (ClientError, BotoCoreError) as exc:
                raise RowsUnavailableError(f"rows of {_ids(request, key)} in {tables.rows} could not be read: {exc}",
                                           keys=_keys(request, key), cause=exc) from exc
            for item in page.get("Responses", {}).get(tables.rows, ()):
                aggregate_id, row = from_item(key, item)
                rows[aggregate_id] = row
            request = page.get("UnprocessedKeys") or {}
            if not request:
                return
        raise RowsUnavailableError(f"rows of {_ids(request, key)} in {tables.rows} were still unprocessed after "
                                   f"{READ_ATTEMPTS} BatchGetItem attempts (throttled)", keys=_keys(request, key))

    def read_row(self, tables: Tables, aggregate_id: str) -> Row | None:
        item = self._call("get_item", tables.rows, TableName=tables.rows,
                          Key={self.projection.key: {"S": aggregate_id}}, ConsistentRead=True).get("Item")
        return from_item(self.projection.key, item)[1] if item else None

    def write(self, tables: Tables, aggregate_id: str, old: Row | None, new: Row, counters: Moves,
              event_counters: Moves) -> None:
        put = self._put(tables, aggregate_id, old, new)
        shard = str(zlib.crc32(f"{aggregate_id}#{version_of(new)}".encode()) % self.shards)
        updates = [_add({"id": {"S": f"{group}#{shard}"}}, tables.counters, values)
                   for group, values in sorted(counters.items())]
        updates += [_add({"group": {"S": group}, "part": {"S": shard}}, tables.event_counters, values)
                    for group, values in sorted(event_counters.items())]
        if not updates:
            try:
                self._call("put_item", tables.rows, **put)
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    raise StaleRowError(f"row {aggregate_id!r} in {tables.rows} moved first") from exc
                raise
            return
        self._transact([{"Put": put}, *updates], tables, aggregate_id)

    def _put(self, tables: Tables, aggregate_id: str, old: Row | None, new: Row) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": tables.rows, "Item": to_item(self.projection.key, aggregate_id, new)}
        if old is None:
            # the row is new: nobody has written it yet
            put["ConditionExpression"] = "attribute_not_exists(#k)"
            put["ExpressionAttributeNames"] = {"#k": self.projection.key}
        else:
            # the row is still at the version this fold started from
            put["ConditionExpression"] = "#v = :expected"
            put["ExpressionAttributeNames"] = {"#v": "version"}
            put["ExpressionAttributeValues"] = {":expected": {"N": str(version_of(old))}}
        return put

    def _transact(self, items: list[dict[str, Any]], tables: Tables, aggregate_id: str) -> None:
        try:
            self._call("transact_write_items", tables.rows, TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            codes = cancellation_codes(exc)
            if is_conflict(codes):
                raise StaleRowError(f"row {aggregate_id!r} in {tables.rows} moved first: {codes}") from exc
            raise ProjectionError(f"write of row {aggregate_id!r} in {self.projection.name} was cancelled: "
                                  f"{codes}") from exc

    def rows(self, tables: Tables) -> Iterator[tuple[str, Row]]:
        return (from_item(self.projection.key, item) for item in scan(self.client, tables.rows))

    def counters(self, tables: Tables) -> Totals:
        return read_counters(self.client, tables)

    def event_counters(self, tables: Tables, groups: Sequence[str]) -> Totals:
        return read_event_counters(self.client, tables, groups)

    def all_event_counters(self, tables: Tables) -> Totals:
        return _group_totals({}, scan(self.client, tables.event_counters)) if tables.event_counters else {}

    def create_generation(self, tables: Tables) -> None:
        for definition in table_definitions(self.projection, tables):
            try:
                self.client.create_table(**definition)
            except ClientError as exc:
                if error_code(exc) != "ResourceInUseException":
                    raise
            self.client.get_waiter("table_exists").wait(TableName=definition["TableName"],
                                                        WaiterConfig={"Delay": 1, "MaxAttempts": ACTIVE_WAIT})

    def put_rows(self, tables: Tables, rows: Mapping[str, Row]) -> None:
        key = self.projection.key
        self._batch_write(tables.rows, [{"PutRequest": {"Item": to_item(key, k, row)}} for k, row in rows.items()])

    def put_totals(self, tables: Tables, part: str, counters: Moves, event_counters: Moves) -> None:
        if tables.counters:
            self._batch_write(tables.counters, [{"PutRequest": {"Item": {
                "id": {"S": f"{group}#{part}"}, **_attributes(values)}}} for group, values in counters.items()])
        if tables.event_counters:
            self._batch_write(tables.event_counters, [{"PutRequest": {"Item": {
                "group": {"S": group}, "part": {"S": part}, **_attributes(values)}}}
                for group, values in event_counters.items()])

    def _batch_write(self, table: str, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending: Any = {table: requests[start:start + 25]}
            for attempt in range(WRITE_ATTEMPTS):
                if attempt:
                    time.sleep(READ_PAUSE * 2 ** (attempt - 1))
                pending = self._call("batch_write_item", table, RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
            else:
                left = sum(len(items) for items in pending.values())
                raise ProjectionError(f"{left} items for {table} were still unprocessed after {WRITE_ATTEMPTS} "
                                      "BatchWriteItem attempts (throttled); run the rebuild again to resume")

    def _call(self, operation: str, table: str, **request: Any) -> dict[str, Any]:
        return call(self.client, operation, table, **request)


def call(client: Any, operation: str, table: str, **request: Any) -> dict[str, Any]:
    """One DynamoDB call on a projection's `table`; a missing table is a `ProjectionError` naming it."""
    try:
        result: dict[str, Any] = getattr(client, operation)(**request)
        return result
    except ClientError as exc:
        raise_if_missing_table(exc, "projection table", table, ProjectionError)
        raise


def read_counters(client: Any, tables: Tables) -> Totals:
    """Row counters per group, each the sum of the group's shard items (`<group>#<shard>`, `<group>#r<k>of<n>`)."""
    totals: Totals = {}
    for item in scan(client, tables.counters) if tables.counters else ():
        add_counts(totals, {item["id"]["S"].rsplit("#", 1)[0]: _numbers(item, ("id",))})
    return totals


def read_event_counters(client: Any, tables: Tables, groups: Sequence[str]) -> Totals:
    """Event counters of the groups named, one Query by key each (never a Scan), summed over the parts."""
    totals: Totals = {}
    table = tables.event_counters or ""
    for group in dict.fromkeys(groups) if table else ():
        request = {"TableName": table, "KeyConditionExpression": "#g = :g", "ExpressionAttributeNames": {"#g": "group"},
                   "ExpressionAttributeValues": {":g": {"S": group}}, "ConsistentRead": True}
        _group_totals(totals, paged_items(lambda page_request: call(client, "query", table, **page_request), request))
    return totals


def _group_totals(totals: Totals, items: Iterable[dict[str, Any]]) -> Totals:
    for item in items:
        add_counts(totals, {item["group"]["S"]: _numbers(item, ("group", "part"))})
    return totals


def scan(client: Any, table: str, segment: int = 0, of: int = 1) -> Iterator[dict[str, Any]]:
    """Every item of a table (or of one parallel-scan segment), page by page, strongly consistent."""
    request: dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    if of > 1:
        request.update(Segment=segment, TotalSegments=of)
    return paged_items(lambda page_request: call(client, "scan", table, **page_request), request)


def _add(key: dict[str, Any], table: str | None, values: Mapping[str, Decimal | int]) -> dict[str, Any]:
    return {"Update": {
        "TableName": table,
        "Key": key,
        # a delta, not a total: safe because it commits with the version-guarded row or not at all
        "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(values))),
        "ExpressionAttributeNames": {f"#c{i}": name for i, name in enumerate(values)},
        "ExpressionAttributeValues": {f":c{i}": {"N": str(v)} for i, v in enumerate(values.values())},
    }}


def _attributes(values: Mapping[str, Decimal | int]) -> dict[str, dict[str, str]]:
    return {name: {"N": str(value)} for name, value in values.items()}


def _numbers(item: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Decimal]:
    return {name: Decimal(value["N"]) for name, value in item.items() if name not in keys and "N" in value}


def _keys(request: dict[str, Any], key: str) -> tuple[str, ...]:
    return tuple(k[key]["S"] for spec in request.values() for k in spec.get("Keys", ()))


def _ids(request: dict[str, Any], key: str) -> str:
    keys = _keys(request, key)
    shown = ", ".join(repr(k) for k in keys[:3])
    return f"{len(keys)} aggregates ({shown}{', ...' if len(keys) > 3 else ''})"
