"""Racing writers on one aggregate leave one live snapshot, and a snapshot that cannot be folded on is skipped."""

from __future__ import annotations

import threading
from dataclasses import replace
from decimal import Decimal

import pytest

from core import Aggregate, codec, execute
from core.events import Event
from core.repository import Repository
from loans import Loan
from snapshots import COUNTERS, AggregateCache, SnapshotPolicy, SnapshottingRepository, take
from tests.snapshot_support import START, loan_events, make_backend, replayed

PAY = {"type": "LoanPaid", "amount": Decimal("1.00")}
WRITERS, PAYMENTS, EVERY = 4, 20, 5


def snapshot_items(backend, loan_id: str) -> list[str]:
    items = backend.dynamodb.query(TableName="Loans", KeyConditionExpression="id = :id",
                                   ExpressionAttributeValues={":id": {"S": loan_id}}, ConsistentRead=True)["Items"]
    return [item["number"]["N"] for item in items if "kind" in item]


def race(backend, loan_id: str) -> int:
    """WRITERS threads, each a process of its own (own repository and cache), paying PAYMENTS times."""
    start = threading.Barrier(WRITERS)
    errors: list[BaseException] = []

    def writer() -> None:
        repository = SnapshottingRepository(backend.events, backend.snapshots, SnapshotPolicy(every=EVERY),
                                            AggregateCache())
        start.wait()
        try:
            for _ in range(PAYMENTS):
                execute(Loan(loan_id, repository=repository), lambda loan: loan.commit(PAY), attempts=50)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return 3 + WRITERS * PAYMENTS


@pytest.fixture
def atomic_moto(aws, monkeypatch):
    """One DynamoDB request at a time in moto, as DynamoDB's conditional writes are atomic (moto can let two
    racing conditional writes both pass: docs/local-aws.md, "Racing writes on moto"). The code does not rely on it."""
    from moto.dynamodb.responses import DynamoHandler

    lock, call = threading.Lock(), DynamoHandler.call_action

    def serialized(self):
        with lock:
            return call(self)

    monkeypatch.setattr(DynamoHandler, "call_action", serialized)


@pytest.mark.parametrize("kind", ["dynamodb", "memory", "s3"])
def test_racing_writers_leave_one_live_snapshot(atomic_moto, kind):
    backend = make_backend(kind)
    opening = loan_events(WRITERS * PAYMENTS)[:3]
    backend.write_events("l", opening)
    written = COUNTERS["written"]
    version = race(backend, "l")
    expected = replayed("l", opening).apply([PAY] * (WRITERS * PAYMENTS))
    cold = SnapshottingRepository(backend.events, backend.snapshots, SnapshotPolicy(every=EVERY))
    loan = Loan("l", repository=cold)
    loaded = cold.hydrate(loan)
    replay = Loan("l", repository=Repository(backend.events)).hydrate()
    assert (loan.version, loan.state()) == (version, replay.state())
    assert (loan.balance, loan.status) == (expected.balance, expected.status)
    assert loaded.snapshot_version is not None and version - loaded.snapshot_version < 2 * EVERY
    if kind == "dynamodb":
        assert len(snapshot_items(backend, "l")) == 1, snapshot_items(backend, "l")
        # About one snapshot per EVERY events, not one per commit: a writer that lost a race learns of the
        # winner's snapshot in its catch-up read (without that, nearly every commit wrote one).
        assert COUNTERS["written"] - written <= 2 * version // EVERY


def mistyped_snapshot(events, **fields):
    """A snapshot of the history with some state fields of the wrong type, under a checksum that holds."""
    snapshot = take(replayed("l", events))
    state = {**codec.decode(snapshot.state), **fields}
    snapshot = replace(snapshot, state=codec.encode(state))
    return replace(snapshot, checksum=snapshot.computed_checksum())


@pytest.mark.parametrize("kind", ["memory", "dynamodb", "s3"])
@pytest.mark.parametrize("tail", [0, 3])
@pytest.mark.parametrize("fields", [{"balance": "60.00"}, {"status": 7}, {"last_updated": "yesterday"}])
def test_a_snapshot_with_a_wrongly_typed_field_is_skipped_as_corrupt_and_counted(aws, kind, tail, fields):
    events = loan_events(6)
    backend = make_backend(kind)
    backend.write_events("l", events)
    backend.plant(mistyped_snapshot(events[:len(events) - tail], **fields))
    before = COUNTERS["skipped_corrupt"]
    repository = SnapshottingRepository(backend.events, backend.snapshots, SnapshotPolicy(every=EVERY))
    loan = Loan("l", repository=repository)
    loaded = repository.hydrate(loan)
    assert loaded.snapshot_version is None and loaded.snapshot_skipped.startswith("corrupt:")
    assert (loan.version, loan.state()) == (len(events), replayed("l", events).state())
    assert COUNTERS["skipped_corrupt"] == before + 1
    loan.commit(PAY)  # and the loan works on: due (no valid snapshot), so a good one replaces the bad one
    again = Loan("l", repository=repository)
    assert repository.hydrate(again).snapshot_version == len(events) + 1


class Tally(Aggregate):
    """No annotations: only folding the tail on the restored state shows the state is wrong."""

    def __init__(self, id=None, **kwargs) -> None:  # noqa: A002 - the aggregate's own signature
        super().__init__(id, **kwargs)
        self.total = 0

    def on_added(self, event: Event) -> None:
        self.total += event.data["n"]


def test_a_tail_that_cannot_be_folded_on_the_snapshot_state_costs_a_replay_not_the_hydrate():
    from core.events import to_record
    from core.store import InMemoryEventStore
    from snapshots import InMemorySnapshotStore

    events, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
    events.append("t", 0, [to_record(Event("Added", {"n": n}, n, START)) for n in range(1, 6)])
    bad = take(Tally("t").apply([Event("Added", {"n": n}, n, START) for n in range(1, 4)]))
    bad = replace(bad, state=codec.encode({"total": "6"}))
    snapshots.put(replace(bad, checksum=bad.computed_checksum()))
    repository = SnapshottingRepository(events, snapshots, SnapshotPolicy(every=100))
    tally = Tally("t", repository=repository)
    loaded = repository.hydrate(tally)
    assert (tally.version, tally.total) == (5, 15)
    assert loaded.snapshot_skipped.startswith("corrupt: the tail after the snapshot at version 3 cannot be folded")
    assert "TypeError" in loaded.snapshot_skipped


def test_a_writer_that_lost_a_race_learns_of_the_winners_snapshot_in_its_catch_up_read(aws):
    backend = make_backend("dynamodb")
    backend.write_events("l", loan_events(7))  # version 10
    one, other = (SnapshottingRepository(backend.events, backend.snapshots, SnapshotPolicy(every=EVERY),
                                         AggregateCache()) for _ in range(2))
    one.save(Loan("l", repository=one).hydrate())  # a snapshot at 10, cached by this process
    other.hydrate(Loan("l", repository=other))  # and read by the other
    for _ in range(5):  # the other process moves on to 15 and snapshots there
        execute(Loan("l", repository=other), lambda loan: loan.commit(PAY))
    assert snapshot_items(backend, "l") == ["15.5"]
    written = COUNTERS["written"]
    execute(Loan("l", repository=one), lambda loan: loan.commit(PAY))  # cached at 10: conflict, catch-up, 16
    assert COUNTERS["written"] == written  # 16 is one event past the snapshot at 15: not due
    assert snapshot_items(backend, "l") == ["15.5"]
    execute(Loan("l", repository=one), lambda loan: loan.commit([PAY] * 4))  # 20: due, and 15.5 is superseded
    assert snapshot_items(backend, "l") == ["20.5"]
