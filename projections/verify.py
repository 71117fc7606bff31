"""`rebuild --verify`: a projection's tables checked against the write side's own state, not its own fold.

A check that reused the projection's fold would agree with any bug in it. Here each aggregate is folded from
the log (the event store's segmented scan) by its own handlers (`core.repository.apply_stored`, the write side's
replay: no snapshots, no projection code), and the projection's `compare(row, aggregate)` lists where the row
disagrees on what both hold. The counters must equal the sum over the rows, and the event counters each event
of the log counted once. Each difference names the aggregate and the field. The rows are read through a
projection store, so verify runs on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from core.errors import EventSourcingError
from core.events import RecordedEvent
from core.repository import apply_stored
from core.store import EventStore
from projections.definition import Projection, Row, add_counts, counter_totals, nonzero
from projections.errors import ProjectionError
from projections.items import version_of
from projections.store import ProjectionStore
from projections.tables import Tables

if TYPE_CHECKING:
    from core.aggregate import Aggregate

#: What stops the write side's own fold of a stored event: refused by a handler, undecodable, or a handler
#: failing on a payload the write side would never have accepted.
_CANNOT_LOAD = (EventSourcingError, ArithmeticError, LookupError, TypeError, ValueError)


@dataclass
class VerifyReport:
    """What `verify` compared, and every difference it found (one line each); none when the read side agrees."""

    tables: Tables
    rows: int = 0
    aggregates: int = 0
    differences: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        return not self.differences


def verify(projection: Projection, events: EventStore, rows: ProjectionStore, tables: Tables,
           segments: int = 4) -> VerifyReport:
    """Every difference between a projection's tables (read from `rows`) and the write side's state (each
    aggregate folded from `events`, the log, by its own handlers)."""
    if projection.aggregate is None or projection.compare is None:
        raise ProjectionError(f"projection {projection.name} declares no aggregate and check to verify against")
    held = dict(rows.rows(tables))
    report = VerifyReport(tables, rows=len(held))
    unmatched = dict(held)
    label = projection.aggregate.__name__
    found: list[tuple[str, str]] = []
    for segment in range(segments):
        aggregates, broken = reckon_segment(events, projection.aggregate, segment, segments)
        report.aggregates += len(aggregates) + len(broken)
        for aggregate_id, reason in broken.items():
            unmatched.pop(aggregate_id, None)
            found.append((aggregate_id, f"the write side cannot load it: {reason}"))
        for aggregate_id, aggregate in aggregates.items():
            row = unmatched.pop(aggregate_id, None)
            if row is None:
                found.append((aggregate_id, f"no row in {tables.rows}; the log holds version {aggregate.version}"))
            else:
                found.extend((aggregate_id, difference) for difference in projection.compare(row, aggregate))
    found.extend((aggregate_id, f"a row at version {version_of(row)} in {tables.rows}, but no events in the log")
                 for aggregate_id, row in unmatched.items())
    report.differences = [f"{label} {aggregate_id}: {text}" for aggregate_id, text in sorted(found)]
    report.differences += counter_differences(projection, rows, tables, held)
    report.differences += event_counter_differences(projection, events, rows, tables, segments)
    return report


def reckon_segment(events: EventStore, aggregate: type[Aggregate], segment: int,
                   of: int) -> tuple[dict[str, Aggregate], dict[str, str]]:
    """Each aggregate of one scan segment folded by its own handlers; and why each one that could not be,
    was not (a refused or undecodable event, a gap in its numbers)."""
    loaded: dict[str, Aggregate] = {}
    waiting: dict[str, dict[int, RecordedEvent]] = {}
    broken: dict[str, str] = {}
    for aggregate_id, record in events.scan(segment, of):
        if aggregate_id in broken:
            continue
        buffer = waiting.setdefault(aggregate_id, {})
        buffer[record.number] = record
        try:
            # the table named, so loading one reads no configuration: this fold never touches a store
            instance = loaded.get(aggregate_id) or loaded.setdefault(
                aggregate_id, aggregate(aggregate_id, aggregate.declared_table()))
        except EventSourcingError as exc:  # an id the write side refuses (InvalidIdError)
            broken[aggregate_id] = str(exc)
            continue
        problem = _fold_ready(instance, buffer)
        if problem:
            broken[aggregate_id] = problem
            del loaded[aggregate_id]
    for aggregate_id, buffer in waiting.items():
        if buffer and aggregate_id not in broken:
            version = loaded.pop(aggregate_id).version
            broken[aggregate_id] = f"the log has no event {version + 1} (it holds {sorted(buffer)[:5]} after it)"
    return loaded, broken


def _fold_ready(instance: Aggregate, buffer: dict[int, RecordedEvent]) -> str | None:
    """Fold the buffered events that follow the aggregate's version; why one could not be, if so."""
    run: list[RecordedEvent] = []
    while instance.version + len(run) + 1 in buffer:
        run.append(buffer.pop(instance.version + len(run) + 1))
    try:
        apply_stored(instance, iter(run))
    except _CANNOT_LOAD as exc:
        if isinstance(exc, EventSourcingError):  # the write side's replay names the event itself
            return str(exc)
        record = run[instance.version + 1 - run[0].number]
        return f"stored event {record.type}#{record.number} cannot be applied: {type(exc).__name__}: {exc}"
    return None


def counter_differences(projection: Projection, rows: ProjectionStore, tables: Tables,
                        held: dict[str, Row]) -> list[str]:
    """Where the counter table differs from the sum over the rows `held`."""
    if not tables.counters:
        return []
    want = counter_totals(projection, held.values())
    return _compare(projection.counters_name or projection.name, tables.counters, "the rows add up to", want,
                    rows.counters(tables))


def event_counter_differences(projection: Projection, events: EventStore, rows: ProjectionStore, tables: Tables,
                              segments: int = 4) -> list[str]:
    """Where the event counter table differs from each stored event counted once, straight from the log."""
    if not tables.event_counters or projection.event_counters is None:
        return []
    want: dict[str, dict[str, Decimal]] = {}
    decode = projection.decoder()
    for segment in range(segments):
        for _, record in events.scan(segment, segments):
            try:
                event = decode(record)
            except EventSourcingError:
                continue  # named among the aggregates the write side cannot load
            add_counts(want, projection.event_counters(event))
    return _compare(projection.event_counters_name or projection.name, tables.event_counters, "the log adds up to",
                    nonzero(want), nonzero(rows.all_event_counters(tables)))


def _compare(label: str, table: str, source: str, want: dict[str, dict[str, Decimal]],
             have: dict[str, dict[str, Decimal]]) -> list[str]:
    differences = []
    for group in sorted(set(want) | set(have)):
        for name in sorted(set(want.get(group, {})) | set(have.get(group, {}))):
            total, stored = want.get(group, {}).get(name, 0), have.get(group, {}).get(name, 0)
            if total != stored:
                differences.append(f"{label} {group}.{name}: {source} {total}, {table} holds {stored}")
    return differences
