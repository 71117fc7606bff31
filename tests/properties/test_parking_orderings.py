"""Parking under hostile orderings: any interleaving of aggregates' events, with duplicates and redeliveries,
some events unfoldable until a fix. Before the fix, each aggregate's row plus what is parked is its log and
no record fails; other aggregates' rows never wait; after the fix and a redrive (run twice), the rows are the
log folded once and nothing is parked. In-process, with the real projector and the in-memory stores."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.codec import encode
from core.events import Event, RecordedEvent
from core.store import InMemoryEventStore
from projections.definition import Projection, Row
from projections.parking import InMemoryParkingStore
from projections.projector import Projector, StreamEvent
from projections.rebuild import project_segment
from projections.store import InMemoryProjectionStore
from projections.tables import generation_definitions, tables_for

FIXED = {"done": False}


def fold(row: Row | None, event: Event) -> Row:
    if event.data.get("poison") and not FIXED["done"]:
        raise ValueError("a payment in a currency this fold does not know")
    current = row or {"total": Decimal(0), "count": 0}
    return {"total": current["total"] + Decimal(event.data["amount"]), "count": current["count"] + 1}


PROJECTION = Projection(name="ledger", table="Ledger", event_types=frozenset({"Added"}), fold=fold)
TABLES = tables_for(PROJECTION, 0)


def recorded(number: int, amount: int, poison: bool) -> RecordedEvent:
    data: dict[str, Any] = {"amount": amount, "poison": True} if poison else {"amount": amount}
    return RecordedEvent(number, "Added", "2026-12-02T08:00:00+00:00", encode(data))


histories = st.lists(st.lists(st.tuples(st.integers(1, 99), st.integers(0, 9).map(lambda n: n == 0)),
                              min_size=1, max_size=8), min_size=1, max_size=6)


@settings(max_examples=80, deadline=None)
@given(histories, st.randoms(use_true_random=False), st.integers(1, 6))
def test_parked_and_projected_make_the_log_and_a_redrive_folds_it_once(histories: list[list[tuple[int, bool]]],
                                                                        random: Any, batches: int) -> None:
    FIXED["done"] = False
    log = InMemoryEventStore()
    logs: dict[str, list[RecordedEvent]] = {}
    for index, history in enumerate(histories):
        aggregate_id = f"agg-{index}"
        logs[aggregate_id] = [recorded(n, amount, poison) for n, (amount, poison) in enumerate(history, 1)]
        log.append(aggregate_id, 0, logs[aggregate_id])
    rows, parking = InMemoryProjectionStore(), InMemoryParkingStore()
    rows.create(generation_definitions(PROJECTION, 0))
    projector = Projector(PROJECTION, None, log, lambda: TABLES, rows=rows, parking=parking)

    # every event delivered at least once, some again, in any order, split into batches
    deliveries = [StreamEvent(a, e, f"{a}-{e.number}") for a, events in logs.items() for e in events]
    deliveries += random.sample(deliveries, random.randint(0, len(deliveries)))
    random.shuffle(deliveries)
    cuts = sorted(random.sample(range(1, len(deliveries)), min(batches - 1, len(deliveries) - 1)))
    seen: dict[str, int] = {}
    for start, end in zip([0, *cuts], [*cuts, len(deliveries)], strict=True):
        batch = deliveries[start:end]
        outcome = projector.apply(batch)
        assert outcome.failed == {}, "no record fails: unfoldable events are parked, not retried"
        for item in batch:
            seen[item.aggregate_id] = max(seen.get(item.aggregate_id, 0), item.event.number)
        held = dict(rows.rows(TABLES))
        for aggregate_id, number in seen.items():
            poisoned = [e.number for e in logs[aggregate_id][:number] if b'"poison"' in e.data.encode()]
            version = held.get(aggregate_id, {}).get("version", 0)
            # another aggregate's row never waits: it holds every event delivered so far up to its first poison
            assert version == (poisoned[0] - 1 if poisoned else number)

    for aggregate_id, events in logs.items():
        version = dict(rows.rows(TABLES)).get(aggregate_id, {}).get("version", 0)
        assert events[:version] + parking.events("ledger", aggregate_id) == events  # projected + parked == log
        marker = parking.parked_among("ledger", [aggregate_id]).get(aggregate_id)
        assert (marker is not None) == (version < len(events))
        if marker is not None:
            assert (marker.first, marker.last) == (version + 1, len(events))
            assert "currency" in marker.reason

    FIXED["done"] = True
    for marker in parking.parked("ledger")[: len(parking.parked()) // 2]:
        projector.redrive(marker.aggregate_id)  # a first redrive stopped halfway
    projector.apply(random.sample(deliveries, min(3, len(deliveries))))  # redeliveries meanwhile
    for aggregate_id in logs:
        projector.redrive(aggregate_id)
        projector.redrive(aggregate_id)  # run twice: nothing moves
    assert parking.parked() == []
    want, broken = project_segment(log, PROJECTION)
    assert not broken
    assert dict(rows.rows(TABLES)) == want
    assert all(want[a]["count"] == len(events) for a, events in logs.items())
