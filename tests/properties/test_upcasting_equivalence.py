"""A history written at v1 and read after the upcaster was added folds to the same state, events, snapshot and
projection row as the equivalent history written at v2, on DynamoDB (moto) with its in-partition snapshots."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.dynamodb import DynamoDBEventStore
from core.events import Event, RecordedEvent, to_record
from loans import Loan
from loans.loan import UNRECORDED
from projections.definition import project_records
from snapshots import DynamoDBSnapshotStore, SnapshotPolicy, SnapshottingRepository, take
from tests.projection_support import PROJECTION
from tests.properties.test_snapshot_equivalence import loan_histories


def as_v1(event: Event) -> RecordedEvent:
    """How code before `LoanPaid` v2 stored the event: no channel, no version attribute."""
    return to_record(event)


def as_v2(event: Event) -> RecordedEvent:
    """The same event as today's code stores it: a repayment at v2 with the channel the upcaster supplies."""
    if event.type != "LoanPaid":
        return to_record(event)
    return to_record(event.replace(data={**event.data, "channel": UNRECORDED}), 2)


def tally(records: list[RecordedEvent]) -> dict[str, dict[str, Decimal]]:
    counts: dict[str, dict[str, Decimal]] = {}
    project_records(PROJECTION, "x", None, records, counts)
    return counts


def loaded(store: DynamoDBEventStore, snapshots: DynamoDBSnapshotStore, loan_id: str,
           snapshot: int | None = None) -> tuple[Any, ...]:
    """The loan as a hydrate finds it, having started from the snapshot at `snapshot` (None: from nothing)."""
    loan = Loan(loan_id)
    load = SnapshottingRepository(store, snapshots, SnapshotPolicy(every=10_000)).hydrate(loan)
    assert load.snapshot_version == snapshot, load
    return loan.version, loan.state()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=loan_histories(max_events=30), data=st.data())
def test_a_v1_history_reads_as_its_v2_equivalent(dynamodb, events_table, history, data):
    store = DynamoDBEventStore(events_table, client=dynamodb)
    snapshots = DynamoDBSnapshotStore(events_table, client=dynamodb)
    old, new = f"old-{uuid.uuid4()}", f"new-{uuid.uuid4()}"
    # the old log crossed the deploy somewhere: its repayments before that point are v1, the rest v2
    deploy = data.draw(st.integers(1, len(history) + 1), label="deployed before event")
    written_old = [as_v1(event) if event.number < deploy else as_v2(event) for event in history]
    written_new = [as_v2(event) for event in history]
    for loan_id, records in ((old, written_old), (new, written_new)):
        for start in range(0, len(records), 100):
            store.append(loan_id, start, records[start:start + 100])

    expected = Loan("x")  # the independent reckoning: today's events folded in memory
    expected.apply([Event(event.type, {**event.data, "channel": UNRECORDED} if event.type == "LoanPaid"
                          else event.data, event.number, event.created) for event in history])
    want = (expected.version, expected.state())
    assert loaded(store, snapshots, old) == loaded(store, snapshots, new) == want
    assert list(Loan(old, store=store).events()) == list(Loan(new, store=store).events())

    point = data.draw(st.integers(1, len(history)), label="snapshot at")
    for loan_id in (old, new):  # a snapshot of the upcast history at `point`, then snapshot + tail
        partial = Loan(loan_id)
        partial.apply([event for event in Loan(loan_id, store=store).events()
                       if event.number is not None and event.number <= point])
        assert snapshots.put(take(partial))
    assert loaded(store, snapshots, old, point) == loaded(store, snapshots, new, point) == want

    read_old, read_new = list(store.read(old)), list(store.read(new))
    assert project_records(PROJECTION, "x", None, read_old) == project_records(PROJECTION, "x", None, read_new)
    assert tally(read_old) == tally(read_new)
