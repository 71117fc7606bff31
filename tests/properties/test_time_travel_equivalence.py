"""Reading a loan at a version or as of a date equals replaying the log filtered to that point, whatever snapshot
the partition holds and whatever a warm cache holds, on DynamoDB (moto) with its in-partition snapshots."""

from __future__ import annotations

import uuid
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.dynamodb import DynamoDBEventStore
from core.events import Event, to_record
from core.repository import Until
from loans import Loan
from snapshots import AggregateCache, DynamoDBSnapshotStore, SnapshotPolicy, SnapshottingRepository, take
from tests.properties.test_snapshot_equivalence import loan_histories


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=loan_histories(max_events=30), data=st.data())
def test_a_read_at_any_point_equals_a_replay_of_the_filtered_log(dynamodb, events_table, history, data):
    loan_id = f"loan-{uuid.uuid4()}"
    store = DynamoDBEventStore(events_table, client=dynamodb)
    repository = SnapshottingRepository(store, DynamoDBSnapshotStore(events_table, client=dynamodb),
                                        SnapshotPolicy(every=5), AggregateCache())
    stored = [to_record(event, Loan.upcasting.version_of(event.type)) for event in history]  # type: ignore[union-attr]
    store.append(loan_id, 0, stored)
    Loan(loan_id, repository=repository).hydrate()  # the warm cache holds the newest state
    snapshot_at = data.draw(st.none() | st.integers(1, len(history)), label="snapshot at")
    if snapshot_at is not None:  # written an hour after its event, as a commit's snapshot is
        partial = Loan(loan_id).apply([Event(e.type, e.data, e.number, e.created) for e in history[:snapshot_at]])
        written = history[snapshot_at - 1].created + timedelta(minutes=data.draw(st.integers(0, 180)))  # type: ignore[operator]
        assert repository.snapshots.put(take(partial, created=written))  # type: ignore[union-attr]

    first, last = history[0].created, history[-1].created
    assert first is not None and last is not None
    version = data.draw(st.integers(1, len(history) + 3), label="until_version")
    as_of = first + (last - first) * data.draw(st.floats(-0.1, 1.1), label="as_of") if last > first else first
    for until in (Until(version), Until(as_of=as_of), Until(version, as_of)):
        want = Loan("x").apply([Event(e.type, e.data, e.number, e.created) for e in history
                                if until.admits(to_record(e))])
        loan = Loan(loan_id, repository=repository)
        loaded = repository.hydrate_until(loan, until)
        assert (loan.version, loan.state()) == (want.version, want.state()), until
        assert loaded.snapshot_version is None or loaded.snapshot_version <= want.version
    assert Loan(loan_id, repository=repository).hydrate().version == len(history)
