"""Invariant 1: for every loan history and every snapshot point, snapshot + tail equals a full replay.

Also when the stored snapshot is stale (the fingerprint changed), corrupt, truncated or impossible: hydrate
skips it, says why, and still gives exactly the full replay's state. Run for every snapshot store.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.events import Event
from loans import Loan
from loans.loan import APPROVED, ARREARS, CREATED, DISBURSED, PAID
from snapshots import SnapshotPolicy, SnapshottingRepository, take
from tests.snapshot_support import BACKENDS, START, damaged, make_backend, replayed

DAMAGE = ("none", "stale", "checksum", "truncated", "impossible")
MONEY = st.decimals(min_value=Decimal("1.00"), max_value=Decimal("100000.00"), places=2)


@st.composite
def loan_histories(draw: st.DrawFn, max_events: int) -> list[Event]:
    """A random valid loan history: every event is legal in the state the ones before it built."""
    loan = Loan("h")
    events: list[Event] = []

    def add(kind: str, **data: object) -> None:
        event = Event(kind, data, loan.version + 1, START + timedelta(hours=loan.version))
        loan.apply(event)
        events.append(event)

    add("LoanCreated", requested_amount=draw(MONEY),
        interest=draw(st.decimals(min_value=Decimal("0"), max_value=Decimal("0.5"), places=3)))
    for _ in range(draw(st.integers(0, max_events - 1))):
        options = {CREATED: ["LoanApproved", "LoanRejected"], APPROVED: ["LoanDisbursed"],
                   DISBURSED: ["LoanPaid", "LoanPaid", "LoanArrears"], PAID: ["LoanPaid", "LoanPaid", "LoanArrears"],
                   ARREARS: ["LoanPaid", "LoanCollections"]}.get(loan.status)
        if not options:
            break  # REJECTED, SETTLED and COLLECTIONS are final
        if loan.status in (DISBURSED, PAID) and loan.balance == 0:
            options = ["LoanSettled"]
        kind = draw(st.sampled_from(options))
        if kind == "LoanPaid":
            all_of_it = draw(st.booleans()) and draw(st.booleans())
            amount = loan.balance if all_of_it else draw(
                st.decimals(min_value=Decimal("0.01"), max_value=loan.balance, places=2))
            add(kind, amount=amount)
        else:
            add(kind)
    return events


def check(kind: str, history: list[Event], point: int, damage: str) -> None:
    backend = make_backend(kind)
    aggregate_id = f"loan-{uuid.uuid4()}"
    history = [Event(e.type, e.data, e.number, e.created) for e in history]
    backend.write_events(aggregate_id, history)
    snapshot = take(replayed(aggregate_id, history[:point]))
    if damage == "impossible":
        snapshot = take(replayed(aggregate_id, history[:point]))
        snapshot = replace(snapshot, version=len(history) + 3)
        snapshot = replace(snapshot, checksum=snapshot.computed_checksum())
    elif damage in ("checksum", "truncated"):
        snapshot = damaged(snapshot, damage)
    backend.plant(snapshot)

    repository = SnapshottingRepository(backend.events, backend.snapshots, SnapshotPolicy(every=10))
    loan = Loan(aggregate_id, repository=repository)
    if damage == "stale":
        Loan.snapshot_version = 1
    try:
        loaded = repository.hydrate(loan)
    finally:
        Loan.snapshot_version = 0
    expected = replayed(aggregate_id, history)
    assert (loan.version, loan.state()) == (expected.version, expected.state())
    if damage == "none":
        assert loaded.snapshot_version == point
        assert loaded.events_read == len(history) - point
        assert loaded.snapshot_skipped is None
    else:
        assert loaded.snapshot_version is None
        assert loaded.events_read == len(history)
        expected_kind = {"stale": "stale", "impossible": "impossible"}.get(damage, "corrupt")
        assert loaded.snapshot_skipped.startswith(expected_kind + ":"), loaded.snapshot_skipped


@pytest.mark.parametrize("kind", BACKENDS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=loan_histories(max_events=40), data=st.data())
def test_snapshot_plus_tail_equals_full_replay(aws, kind, history, data):
    point = data.draw(st.integers(1, len(history)), label="snapshot point")
    damage = data.draw(st.sampled_from(DAMAGE), label="damage")
    check(kind, history, point, damage)


@settings(max_examples=30, deadline=None)
@given(history=loan_histories(max_events=400), data=st.data())
def test_long_histories_in_memory(history, data):
    point = data.draw(st.integers(1, len(history)), label="snapshot point")
    check("memory", history, point, data.draw(st.sampled_from(DAMAGE), label="damage"))
