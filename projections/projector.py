"""The projector: folds a batch of stream events into a projection's rows and counters, idempotently.

Per batch, records are grouped by aggregate; each aggregate's new events are folded in number order and
its row is written once, conditional on the version read, together with the counter deltas it causes
and the event counters of the events folded (one TransactWriteItems, or one PutItem when nothing is counted),
through a projection store (projections/store.py). So each batch costs at most one write request per distinct
aggregate, and a row and its counters never disagree. An event at or below the row's
version is a duplicate; a gap is filled from the event store; a conflicting write is re-read and retried.

With a parking store (projections/parking.py), an event the projection cannot fold is parked with the
aggregate's later ones instead of failing its records (the events before it are folded), and the events of an
aggregate already parked are parked behind it; one `parked_among` request per batch tells which are parked.
`redrive` folds an aggregate's parked events through the same path once the fold is fixed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import takewhile
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import EventSourcingError
from core.events import RecordedEvent
from core.store import EventStore
from projections.definition import Projection, Row, counter_deltas, nonzero, project_records
from projections.dynamodb_store import DEFAULT_SHARDS, DynamoDBProjectionStore
from projections.errors import (
    GapError,
    RowsUnavailableError,
    StaleRowError,
    UnfoldableEventError,
    WriteConflictError,
)
from projections.items import version_of
from projections.lag import created_seconds
from projections.parking import Parked, ParkingStore
from projections.store import ProjectionStore, Totals
from projections.tables import Tables


@dataclass(frozen=True)
class StreamEvent:
    """One event as a stream delivered it; `sequence` names the record in `batchItemFailures`."""

    aggregate_id: str
    event: RecordedEvent
    sequence: str = ""


@dataclass
class BatchCounts:
    """What one batch did; `failed` maps the sequence number of each record to report as failed to why."""

    folded: int = 0
    duplicates: int = 0
    gaps_filled: int = 0
    conflicts: int = 0
    writes: int = 0
    #: events parked by this batch (projections/parking.py), and the aggregates they belong to
    parked: int = 0
    parked_aggregates: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: commit-to-visible lag of each event folded (seconds from its `created` to its row's write returning)
    visible: list[float] = field(default_factory=list)
    #: the newest `created` (epoch seconds) among the events folded
    newest_projected: float | None = None

    def made_visible(self, events: Iterable[RecordedEvent], written: float) -> None:
        for event in events:
            created = created_seconds(event.created)
            if created is not None:
                self.visible.append(max(0.0, written - created))
                self.newest_projected = max(created, self.newest_projected or created)

    def fail(self, events: Iterable[StreamEvent], error: BaseException) -> None:
        self.failed.update((item.sequence, str(error)) for item in events)
        if str(error) not in self.errors:  # one read failure covers many aggregates
            self.errors.append(str(error))


class Projector:
    """Applies batches of stream events to the generation of a projection that `tables()` names."""

    def __init__(self, projection: Projection, client: Any, store: EventStore,
                 tables: Callable[[], Tables], shards: int = DEFAULT_SHARDS, attempts: int = 5,
                 rows: ProjectionStore | None = None, clock: Callable[[], float] = time.time,
                 parking: ParkingStore | None = None) -> None:
        self.projection = projection
        #: wall-clock seconds, read when a row's write returns (commit-to-visible lag)
        self.clock = clock
        self.client = client
        self.store = store
        self.tables = tables
        self.shards = shards
        self.attempts = attempts
        #: where rows and counters live (projections/store.py); DynamoDB through `client` unless given
        self.rows: ProjectionStore = rows or DynamoDBProjectionStore(projection, client, shards)
        #: where unfoldable events wait for a redrive; None: they fail their records, as before
        self.parking = parking

    def apply(self, events: Iterable[StreamEvent], outcome: BatchCounts | None = None) -> BatchCounts:
        outcome = outcome or BatchCounts()
        groups: dict[str, list[StreamEvent]] = {}
        for item in events:
            groups.setdefault(item.aggregate_id, []).append(item)
        if not groups:
            return outcome
        tables = self.tables()
        rows, unread = self.try_read_rows(tables, list(groups))
        parked, unknown = self._parked_among(list(groups))
        for aggregate_id, items in groups.items():
            if aggregate_id in unread:
                outcome.fail(items, unread[aggregate_id])
                continue
            if unknown is not None:  # whether it is parked cannot be told: redelivered later
                outcome.fail(items, unknown)
                continue
            try:
                if aggregate_id in parked:
                    self._park_behind(parked[aggregate_id], items, outcome)
                else:
                    self._project(tables, aggregate_id, items, rows.get(aggregate_id), outcome, park=True)
            except (EventSourcingError, ClientError, BotoCoreError) as exc:
                outcome.fail(items, exc)
        return outcome

    def _parked_among(self, ids: list[str]) -> tuple[dict[str, Parked], BaseException | None]:
        """The parked aggregates among `ids` (none without a parking store), or why that could not be told."""
        if self.parking is None:
            return {}, None
        try:
            return self.parking.parked_among(self.projection.name, ids), None
        except (EventSourcingError, ClientError, BotoCoreError) as exc:
            return {}, exc

    def _park_behind(self, parked: Parked, items: list[StreamEvent], outcome: BatchCounts) -> None:
        """Park the events of an already parked aggregate after what is parked (filling gaps from the store)."""
        assert self.parking is not None
        pending = sorted({i.event.number: i.event for i in items if i.event.number > parked.last}.values())
        outcome.duplicates += len(items) - len(pending)
        if not pending:
            return
        events = self._contiguous(parked.aggregate_id, parked.last, pending[-1].number, pending, outcome)
        self.parking.park(self.projection.name, parked.aggregate_id, events, parked.reason)
        outcome.parked += len(events)
        if parked.aggregate_id not in outcome.parked_aggregates:
            outcome.parked_aggregates.append(parked.aggregate_id)

    def redrive(self, aggregate_id: str) -> BatchCounts:
        """Fold the aggregate's parked events into the live row, in order, and remove them from parking.

        Idempotent: events at or below the row's version are duplicates, and the parked events are removed
        only after the row holds them. An event that still cannot be folded raises `UnfoldableEventError`
        and leaves everything parked. Events parked meanwhile are folded by a further pass.
        """
        outcome = BatchCounts()
        if self.parking is None:
            return outcome
        for _ in range(self.attempts):
            marker = self.parking.parked_among(self.projection.name, [aggregate_id]).get(aggregate_id)
            if marker is None:
                return outcome
            events = self.parking.events(self.projection.name, aggregate_id)
            items = [StreamEvent(aggregate_id, event) for event in events if event.number <= marker.last]
            tables = self.tables()
            row = self.read_rows(tables, [aggregate_id]).get(aggregate_id)
            self._project(tables, aggregate_id, items, row, outcome, upto=marker.last)
            if self.parking.release(marker):
                return outcome
        raise WriteConflictError(f"parked events of {aggregate_id!r} in {self.projection.name} kept growing over "
                                 f"{self.attempts} redrives")

    def catch_up(self, tables: Tables, aggregate_id: str, version: int) -> BatchCounts:
        """Bring one row in `tables` up to at least `version` from the event store (used by rebuilds)."""
        outcome = BatchCounts()
        row = self.read_rows(tables, [aggregate_id]).get(aggregate_id)
        if version_of(row) < version:
            self._project(tables, aggregate_id, [], row, outcome, upto=version)
        return outcome

    def _project(self, tables: Tables, aggregate_id: str, items: list[StreamEvent], row: Row | None,
                 outcome: BatchCounts, upto: int = 0, park: bool = False) -> None:
        """Fold `items` (and, with `upto`, every event up to that number) into the row; retry on conflicts.
        With `park` and a parking store, an unfoldable event and those after it are parked, the rest folded."""
        for attempt in range(self.attempts):
            version = version_of(row)
            pending = sorted({i.event.number: i.event for i in items if i.event.number > version}.values())
            if attempt == 0:
                outcome.duplicates += len(items) - len(pending)
            last = max(upto, pending[-1].number if pending else 0)
            if last <= version:
                return
            events = self._contiguous(aggregate_id, version, last, pending, outcome)
            tally: dict[str, dict[str, Decimal]] = {}
            try:
                new = project_records(self.projection, aggregate_id, row, events, tally)
            except UnfoldableEventError as exc:
                if not park or self.parking is None:
                    raise
                self._park(aggregate_id, [e for e in events if e.number >= exc.number], str(exc), outcome)
                events = [e for e in events if e.number < exc.number]
                if not events:
                    return
                tally = {}
                new = project_records(self.projection, aggregate_id, row, events, tally)
            try:
                self._write(tables, aggregate_id, row, new, tally, outcome)
            except StaleRowError:
                outcome.conflicts += 1
                row = self.read_rows(tables, [aggregate_id]).get(aggregate_id)
                continue
            outcome.folded += len(events)
            outcome.made_visible(events, self.clock())
            return
        raise WriteConflictError(f"row {aggregate_id!r} of {self.projection.name} kept changing over "
                                 f"{self.attempts} attempts")

    def _park(self, aggregate_id: str, events: list[RecordedEvent], reason: str, outcome: BatchCounts) -> None:
        assert self.parking is not None
        self.parking.park(self.projection.name, aggregate_id, events, reason)
        outcome.parked += len(events)
        if aggregate_id not in outcome.parked_aggregates:
            outcome.parked_aggregates.append(aggregate_id)

    def _contiguous(self, aggregate_id: str, version: int, last: int, pending: list[RecordedEvent],
                    outcome: BatchCounts) -> list[RecordedEvent]:
        """The events version+1 .. last, reading the missing ones from the event store."""
        if len(pending) == last - version:  # distinct numbers above version, up to last: none missing
            return pending
        filled = list(takewhile(lambda record: record.number <= last, self.store.read(aggregate_id, version, last)))
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
        return self.rows.read_rows(tables, ids)

    def _write(self, tables: Tables, aggregate_id: str, old: Row | None, new: Row | None, tally: Totals,
               outcome: BatchCounts) -> None:
        """The row and what it moves in its counters, guarded by the version read (`StaleRowError`)."""
        deltas = counter_deltas(self.projection, old, new) if tables.counters else {}
        outcome.writes += 1
        self.rows.write(tables, aggregate_id, old, new or {}, deltas,
                        nonzero(tally) if tables.event_counters else {})
