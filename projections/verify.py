"""`rebuild --verify`: a projection's tables checked against the write side's own state, not its own fold.

A check that reused the projection's fold would agree with any bug in it. Here each aggregate is folded from
the events table by its own handlers (`core.repository.apply_stored`, the write side's replay: no snapshots, no
projection code), and the projection's `compare(row, aggregate)` lists where the row disagrees on what both
hold. The counters must equal the sum over the rows. Each difference names the aggregate and the field.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.dynamodb import from_item as event_from_item
from core.dynamodb import is_event_item
from core.errors import EventSourcingError
from core.events import RecordedEvent, from_record
from core.repository import apply_stored
from projections.definition import Projection, Row, add_counts, counter_totals, nonzero
from projections.dynamodb_store import DynamoDBProjectionStore
from projections.errors import ProjectionError
from projections.items import version_of
from projections.query import scan
from projections.store import ProjectionStore
from projections.tables import Tables

if TYPE_CHECKING:
    from core.aggregate import Aggregate

#: What stops the write side's own fold of a stored event: refused by a handler, undecodable, or a handler
#: failing on a payload the write side would never have accepted.
_CANNOT_LOAD = (EventSourcingError, ArithmeticError, LookupError, TypeError, ValueError)


def verify(client: Any, events_table: str, projection: Projection, tables: Tables, segments: int = 4,
           store: ProjectionStore | None = None) -> list[str]:
    """Every difference between a projection's tables and the write side's state; empty when they agree.

    The events table is read through `client`; the projection through `store` (DynamoDB through `client`
    unless given)."""
    store = store or DynamoDBProjectionStore(projection, client)
    if projection.aggregate is None or projection.compare is None:
        raise ProjectionError(f"projection {projection.name} declares no aggregate and check to verify against")
    rows = dict(store.rows(tables))
    unmatched = dict(rows)
    label = projection.aggregate.__name__
    found: list[tuple[str, str]] = []
    for segment in range(segments):
        aggregates, broken = reckon_segment(client, events_table, projection.aggregate, segment, segments)
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
    differences = [f"{label} {aggregate_id}: {text}" for aggregate_id, text in sorted(found)]
    return (differences + counter_differences(client, projection, tables, rows, store)
            + event_counter_differences(client, events_table, projection, tables, segments, store))


def reckon_segment(client: Any, events_table: str, aggregate: type[Aggregate], segment: int,
                   of: int) -> tuple[dict[str, Aggregate], dict[str, str]]:
    """Each aggregate of one scan segment folded by its own handlers; and why each one that could not be,
    was not (a refused or undecodable event, a gap in its numbers)."""
    loaded: dict[str, Aggregate] = {}
    waiting: dict[str, dict[int, RecordedEvent]] = {}
    broken: dict[str, str] = {}
    for item in scan(client, events_table, segment, of):
        if not is_event_item(item) or item["id"]["S"] in broken:
            continue
        aggregate_id, record = item["id"]["S"], event_from_item(item)
        buffer = waiting.setdefault(aggregate_id, {})
        buffer[record.number] = record
        try:
            instance = loaded.get(aggregate_id) or loaded.setdefault(aggregate_id, aggregate(aggregate_id))
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


def counter_differences(client: Any, projection: Projection, tables: Tables, rows: dict[str, Row],
                        store: ProjectionStore | None = None) -> list[str]:
    """Where the counter table differs from the sum over the rows."""
    if not tables.counters:
        return []
    have = (store or DynamoDBProjectionStore(projection, client)).counters(tables)
    want = counter_totals(projection, rows.values())
    return _compare(projection.counters_name or projection.name, tables.counters, "the rows add up to", want, have)

def event_counter_differences(client: Any, events_table: str, projection: Projection, tables: Tables,
                              segments: int = 4, store: ProjectionStore | None = None) -> list[str]:
    """Where the event counter table differs from each stored event counted once, straight from the log."""
    if not tables.event_counters or projection.event_counters is None:
        return []
    want: dict[str, dict[str, Decimal]] = {}
    for segment in range(segments):
        for item in scan(client, events_table, segment, segments):
            if is_event_item(item):
                try:
                    event = from_record(event_from_item(item))
                except EventSourcingError:
                    continue  # named among the aggregates the write side cannot load
                add_counts(want, projection.event_counters(event))
    have = (store or DynamoDBProjectionStore(projection, client)).all_event_counters(tables)
    return _compare(projection.event_counters_name or projection.name, tables.event_counters, "the log adds up to",
                    nonzero(want), nonzero(have))


def _compare(label: str, table: str, source: str, want: dict[str, dict[str, Decimal]],
             have: dict[str, dict[str, Decimal]]) -> list[str]:
    differences = []
    for group in sorted(set(want) | set(have)):
        for name in sorted(set(want.get(group, {})) | set(have.get(group, {}))):
            total, stored = want.get(group, {}).get(name, 0), have.get(group, {}).get(name, 0)
            if total != stored:
                differences.append(f"{label} {group}.{name}: {source} {total}, {table} holds {stored}")
    return differences
