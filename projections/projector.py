"""The projector: folds a batch of stream events into a projection's rows and counters, idempotently.

Per batch, records are grouped by aggregate; each aggregate's new events are folded in number order and
its row is written once, conditional on the version read, together with the counter deltas it causes
(one TransactWriteItems, or one PutItem when nothing is counted). So each batch costs at most one write
request per distinct aggregate, and a row and its counters never disagree. An event at or below the row's
version is a duplicate; a gap is filled from the event store; a conflicting write is re-read and retried.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import takewhile
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import EventSourcingError, error_code
from core.events import RecordedEvent
from core.store import EventStore
from projections.definition import Projection, Row, counter_deltas, fold_records
from projections.errors import GapError, ProjectionError, RowsUnavailableError, WriteConflictError
from projections.items import from_item, to_item, version_of
from projections.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef

#: Counter items per group: each is its own DynamoDB item, so writes spread over this many hot keys.
DEFAULT_SHARDS = 8
#: BatchGetItem requests per 100 rows while DynamoDB leaves keys unprocessed (botocore does not retry those),
#: pausing READ_PAUSE seconds, doubled each time, in between; then the rows' records are reported as failed.
READ_ATTEMPTS = 5
READ_PAUSE = 0.05


@dataclass(frozen=True)
class StreamEvent:
    """One event as a stream delivered it; `sequence` names the record in `batchItemFailures`."""

    aggregate_id: str
    event: RecordedEvent
    sequence: str = ""


@dataclass
class Outcome:
    """What one batch did; `failed` maps the sequence number of each record to report as failed to why."""

    folded: int = 0
    duplicates: int = 0
    gaps_filled: int = 0
    conflicts: int = 0
    writes: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def fail(self, events: Iterable[StreamEvent], error: BaseException) -> None:
        self.failed.update((item.sequence, str(error)) for item in events)
        if str(error) not in self.errors:  # one read failure covers many aggregates
            self.errors.append(str(error))


class _Conflict(Exception):
    """The row changed since it was read (internal: the caller re-reads and retries)."""


class Projector:
    """Applies batches of stream events to the generation of a projection that `tables()` names."""

    def __init__(self, projection: Projection, client: DynamoDBClient, store: EventStore,
                 tables: Callable[[], Tables], shards: int = DEFAULT_SHARDS, attempts: int = 5) -> None:
        self.projection = projection
        self.client = client
        self.store = store
        self.tables = tables
        self.shards = shards
        self.attempts = attempts

    def apply(self, events: Iterable[StreamEvent], outcome: Outcome | None = None) -> Outcome:
        outcome = outcome or Outcome()
        groups: dict[str, list[StreamEvent]] = {}
        for item in events:
            groups.setdefault(item.aggregate_id, []).append(item)
        if not groups:
            return outcome
        tables = self.tables()
        rows, unread = self.try_read_rows(tables, list(groups))
        for aggregate_id, items in groups.items():
            if aggregate_id in unread:
                outcome.fail(items, unread[aggregate_id])
                continue
            try:
                self._project(tables, aggregate_id, items, rows.get(aggregate_id), outcome)
            except (EventSourcingError, ClientError, BotoCoreError) as exc:
                outcome.fail(items, exc)
        return outcome

    def catch_up(self, tables: Tables, aggregate_id: str, version: int) -> Outcome:
        """Bring one row in `tables` up to at least `version` from the event store (used by rebuilds)."""
        outcome = Outcome()
        row = self.read_rows(tables, [aggregate_id]).get(aggregate_id)
        if version_of(row) < version:
            self._project(tables, aggregate_id, [], row, outcome, upto=version)
        return outcome

    def _project(self, tables: Tables, aggregate_id: str, items: list[StreamEvent], row: Row | None,
                 outcome: Outcome, upto: int = 0) -> None:
        """Fold `items` (and, with `upto`, every event up to that number) into the row; retry on conflicts."""
        for attempt in range(self.attempts):
            version = version_of(row)
            pending = sorted({i.event.number: i.event for i in items if i.event.number > version}.values())
            if attempt == 0:
                outcome.duplicates += len(items) - len(pending)
            last = max(upto, pending[-1].number if pending else 0)
            if last <= version:
                return
            events = self._contiguous(aggregate_id, version, last, pending, outcome)
            new = fold_records(self.projection, aggregate_id, row, events)
            try:
                self._write(tables, aggregate_id, row, new, outcome)
            except _Conflict:
                outcome.conflicts += 1
                row = self.read_rows(tables, [aggregate_id]).get(aggregate_id)
                continue
            outcome.folded += len(events)
            return
        raise WriteConflictError(f"row {aggregate_id!r} of {self.projection.name} kept changing over "
                                 f"{self.attempts} attempts")

    def _contiguous(self, aggregate_id: str, version: int, last: int, pending: list[RecordedEvent],
                    outcome: Outcome) -> list[RecordedEvent]:
        """The events version+1 .. last, reading the missing ones from the event store."""
        if len(pending) == last - version:  # distinct numbers above version, up to last: none missing
            return pending
        filled = list(takewhile(lambda record: record.number <= last, self.store.read(aggregate_id, after=version)))
        if [record.number for record in filled] != list(range(version + 1, last + 1)):
            raise GapError(f"event store has no events {version + 1}..{last} of {aggregate_id!r} "
                           f"to fill the gap in {self.projection.name}")
        outcome.gaps_filled += len(filled) - len(pending)
        return filled

    def read_rows(self, tables: Tables, ids: list[str]) -> dict[str, Row]:
        """Rows by aggregate id, strongly consistent; `RowsUnavailableError` when some cannot be read."""
        rows, unread = self.try_read_rows(tables, ids)
        if unread:
            raise next(iter(unread.values()))
        return rows

    def try_read_rows(self, tables: Tables, ids: list[str]) -> tuple[dict[str, Row], dict[str, RowsUnavailableError]]:
        """Rows by aggregate id (100 keys per request), and why each row that could not be read was not."""
        rows: dict[str, Row] = {}
        unread: dict[str, RowsUnavailableError] = {}
        for start in range(0, len(ids), 100):
            chunk = ids[start:start + 100]
            try:
                self._read_chunk(tables, chunk, rows)
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
                page = self._call("batch_get_item", RequestItems=request)
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

    def _write(self, tables: Tables, aggregate_id: str, old: Row | None, new: Row | None, outcome: Outcome) -> None:
        put = self._put(tables, aggregate_id, old, new or {})
        deltas = counter_deltas(self.projection, old, new) if tables.counters else {}
        outcome.writes += 1
        if not deltas:
            try:
                self.client.put_item(**put)
            except ClientError as exc:
                if error_code(exc) == "ConditionalCheckFailedException":
                    raise _Conflict from exc
                raise
            return
        updates = [self._counter_update(tables.counters or "", group, values, aggregate_id, new)
                   for group, values in sorted(deltas.items())]
        self._transact([{"Put": put}, *updates], aggregate_id)

    def _put(self, tables: Tables, aggregate_id: str, old: Row | None, new: Row) -> PutTypeDef:
        put: PutTypeDef = {"TableName": tables.rows, "Item": to_item(self.projection.key, aggregate_id, new)}
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

    def _counter_update(self, table: str, group: str, values: dict[str, Any], aggregate_id: str,
                        new: Row | None) -> TransactWriteItemTypeDef:
        shard = zlib.crc32(f"{aggregate_id}#{version_of(new)}".encode()) % self.shards
        names = {f"#c{i}": name for i, name in enumerate(values)}
        return {"Update": {
            "TableName": table,
            "Key": {"id": {"S": f"{group}#{shard}"}},
            # a delta, not a total: safe because it commits with the version-guarded row or not at all
            "UpdateExpression": "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(values))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {f":c{i}": {"N": str(v)} for i, v in enumerate(values.values())},
        }}

    def _transact(self, items: list[TransactWriteItemTypeDef], aggregate_id: str) -> None:
        try:
            self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if error_code(exc) != "TransactionCanceledException":
                raise
            codes = [reason.get("Code", "None") for reason in exc.response.get("CancellationReasons", ())]
            if "ConditionalCheckFailed" in codes or "TransactionConflict" in codes:
                raise _Conflict from exc
            raise ProjectionError(f"write of row {aggregate_id!r} in {self.projection.name} was cancelled: "
                                  f"{codes}") from exc

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        try:
            reply: dict[str, Any] = getattr(self.client, operation)(**request)
            return reply
        except ClientError as exc:
            if error_code(exc) == "ResourceNotFoundException":
                raise ProjectionError(f"a table of projection {self.projection.name} does not exist: "
                                      "run `aws-es init`") from exc
            raise


def _keys(request: dict[str, Any], key: str) -> tuple[str, ...]:
    return tuple(k[key]["S"] for spec in request.values() for k in spec.get("Keys", ()))


def _ids(request: dict[str, Any], key: str) -> str:
    keys = _keys(request, key)
    shown = ", ".join(repr(k) for k in keys[:3])
    return f"{len(keys)} aggregates ({shown}{', ...' if len(keys) > 3 else ''})"
