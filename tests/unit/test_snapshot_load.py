"""Each snapshot store's access strategy (`load`, `catch_up`), run against every backend: in memory, DynamoDB
in the aggregate's partition, S3 beside the log. Expected values come from the history written, never from
the store under test."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.metering import RequestMeter
from loans import Loan
from snapshots import SnapshotPolicy, SnapshottingRepository, take
from snapshots.envelope import Snapshot
from snapshots.store import InMemorySnapshotStore, Seen, SeparateSnapshotStore
from tests.snapshot_support import BACKENDS, loan_events, make_backend, replayed


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, aws: None):
    return make_backend(request.param)


def numbers(events) -> list[int]:
    return [event.number for event in events]


def test_load_gives_the_latest_snapshot_and_exactly_the_events_after_it(backend):
    history = loan_events(20)  # 23 events
    backend.write_events("l", history)
    backend.snapshots.put(take(replayed("l", history[:10])))
    backend.snapshots.put(take(replayed("l", history[:17])))
    head = backend.snapshots.load("Loan", "l", backend.events, interval=10)
    assert head.snapshot is not None and head.snapshot.version == 17 and head.skipped is None
    assert head.stored.version == 17
    assert head.gap() is None and head.gap() is None  # asking twice reads nothing twice
    assert numbers(head.tail) == list(range(18, 24))


def test_a_tail_folded_without_the_gap_check_still_starts_after_the_snapshot(backend):
    backend.write_events("l", loan_events(5))
    backend.snapshots.put(take(replayed("l", loan_events(5)[:4])))
    head = backend.snapshots.load("Loan", "l", backend.events)
    assert numbers(head.tail) == [5, 6, 7, 8]


def test_with_no_snapshot_the_head_says_whether_its_tail_is_the_whole_log(backend):
    backend.write_events("l", loan_events(3))
    head = backend.snapshots.load("Loan", "l", backend.events, interval=10)
    assert head.snapshot is None and head.skipped is None and head.stored is None
    if head.complete:  # the in-partition store read the whole short log already
        assert numbers(head.tail) == [1, 2, 3, 4, 5, 6]
    else:
        assert list(head.tail) == []


def test_a_snapshot_above_the_log_is_impossible(backend):
    backend.write_events("l", loan_events(2))
    backend.plant(take(replayed("l", loan_events(9))))  # version 12, the log holds 5
    head = backend.snapshots.load("Loan", "l", backend.events)
    assert head.snapshot.version == 12
    assert head.gap().startswith("impossible: snapshot at version 12")


@pytest.mark.parametrize("kind", ["dynamodb", "s3"])
def test_a_snapshot_that_cannot_be_read_is_skipped_naming_the_copy_to_replace(aws, kind):
    backend = make_backend(kind)
    backend.write_events("l", loan_events(8))
    if kind == "s3":
        backend.plant_bytes("l", b"{not json", 6)
    else:  # a snapshot item with no envelope in it
        backend.dynamodb.put_item(TableName="Loans", Item={"id": {"S": "l"}, "number": {"N": "6.5"},
                                                           "kind": {"S": "snapshot"}, "version": {"N": "6"}})
    head = backend.snapshots.load("Loan", "l", backend.events)
    assert head.snapshot is None and head.skipped.startswith("corrupt: ")
    assert head.stored is not None and (head.stored.version, head.stored.token) != (None, None)


def test_the_in_partition_load_reads_snapshot_and_tail_in_one_request(aws):
    backend = make_backend("dynamodb")
    history = loan_events(300)
    backend.write_events("l", history)
    backend.snapshots.put(take(replayed("l", history[:280])))
    meter = RequestMeter()
    meter.attach(backend.dynamodb)
    head = backend.snapshots.load("Loan", "l", backend.events, interval=100)
    assert (head.snapshot.version, head.gap(), numbers(head.tail)) == (280, None, list(range(281, 304)))
    assert meter.requests == 1


def test_catch_up_reads_the_events_after_a_version_and_reports_snapshots_it_passes(backend):
    history = loan_events(12)
    backend.write_events("l", history)
    backend.snapshots.put(take(replayed("l", history[:9])))
    seen: list[Seen] = []
    assert numbers(backend.snapshots.catch_up("l", 6, backend.events, seen)) == list(range(7, 16))
    if backend.kind == "dynamodb":  # in the partition: the Query passed the snapshot item
        assert [(entry.stored.version, entry.snapshot.version) for entry in seen] == [(9, 9)]
    else:
        assert seen == []


class Lookaside(SeparateSnapshotStore):
    """A user's own store: `get` and `put` only; the separate store's access strategy does the rest."""

    def __init__(self) -> None:
        self.inner = InMemorySnapshotStore()

    def get(self, aggregate_type: str, aggregate_id: str) -> Snapshot | None:
        return self.inner.get(aggregate_type, aggregate_id)

    def put(self, snapshot, replaces=None) -> bool:
        return self.inner.put(snapshot, replaces)


def test_a_store_that_only_gets_and_puts_snapshots_hydrates_from_them():
    backend = make_backend("memory")
    repo = SnapshottingRepository(backend.events, Lookaside(), SnapshotPolicy(every=5))
    loan = Loan("l", repository=repo)
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("50.00"), "interest": Decimal("0")},
                 {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    for _ in range(8):
        loan.commit({"type": "LoanPaid", "amount": Decimal("1.00")})
    fresh = Loan("l", repository=repo)
    loaded = repo.hydrate(fresh)
    assert (loaded.snapshot_version, loaded.events_read, fresh.state()) == (10, 1, loan.state())
