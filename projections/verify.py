"""`rebuild --verify`: a projection's tables checked against the write side's own state, not its own fold.

A check that reused the projection's fold would agree with any bug in it. Here each aggregate is folded from
the events table by its own handlers (`core.repository.fold`, the write side's replay: no snapshots, no
projection code), and the projection's `check(row, aggregate)` lists where the row disagrees on what both
hold. The counters must equal the sum over the rows. Each difference names the aggregate and the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.dynamodb import from_item as event_from_item
from core.dynamodb import is_event_item
from core.errors import EventSourcingError
from core.events import RecordedEvent
from core.repository import fold
from projections.definition import Projection, Row, counter_totals
from projections.errors import ProjectionError
from projections.items import version_of
from projections.query import read_counters, scan, scan_rows
from projections.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from core.aggregate import Aggregate

#: What stops the write side's own fold of a stored event: refused by a handler, undecodable, or a handler
#: failing on a payload the write side would never have accepted.
_CANNOT_LOAD = (EventSourcingError, ArithmeticError, LookupError, TypeError, ValueError)


def verify(client: DynamoDBClient, events_table: str, projection: Projection, tables: Tables,
           segments: int = 4) -> list[str]:
    """Every difference between a projection's tables and the write side's state; empty when they agree."""
    if projection.aggregate is None or projection.check is None:
        raise ProjectionError(f"projection {projection.name} declares no aggregate and check to verify against")
    rows = scan_rows(client, projection, tables)
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
                found.extend((aggregate_id, difference) for difference in projection.check(row, aggregate))
    found.extend((aggregate_id, f"a row at version {version_of(row)} in {tables.rows}, but no events in the log")
                 for aggregate_id, row in unmatched.items())
    differences = [f"{label} {aggregate_id}: {text}" for aggregate_id, text in sorted(found)]
    return differences + counter_differences(client, projection, tables, rows)


def reckon_segment(client: DynamoDBClient, events_table: str, aggregate: type[Aggregate], segment: int,
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
        fold(instance, iter(run))
    except _CANNOT_LOAD as exc:
        if isinstance(exc, EventSourcingError):  # the write side's replay names the event itself
            return str(exc)
        record = run[instance.version + 1 - run[0].number]
        return f"stored event {record.type}#{record.number} cannot be applied: {type(exc).__name__}: {exc}"
    return None


def counter_differences(client: DynamoDBClient, projection: Projection, tables: Tables,
                        rows: dict[str, Row]) -> list[str]:
    """Where the counter table differs from the sum over the rows."""
    if not tables.counters:
        return []
    want, have = counter_totals(projection, rows.values()), read_counters(client, tables)
    differences = []
    for group in sorted(set(want) | set(have)):
        for name in sorted(set(want.get(group, {})) | set(have.get(group, {}))):
            total, stored = want.get(group, {}).get(name, 0), have.get(group, {}).get(name, 0)
            if total != stored:
                differences.append(f"{projection.counters_name} {group}.{name}: the rows add up to {total}, "
                                   f"{tables.counters} holds {stored}")
    return differences

