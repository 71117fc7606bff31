"""The snapshotting repository: policy, skipped snapshots, failed writes, the warm cache, request counts."""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal

import pytest

from core import IllegalEventError, execute
from core.metering import RequestMeter
from core.repository import Repository
from loans import Loan
from snapshots import (
    COUNTERS,
    AggregateCache,
    InMemorySnapshotStore,
    SnapshotError,
    SnapshotPolicy,
    SnapshottingRepository,
    take,
)
from tests.snapshot_support import loan_events, make_backend, replayed

PAY = {"type": "LoanPaid", "amount": Decimal("1.00")}


@pytest.fixture
def dynamodb_backend(aws: None):
    return make_backend("dynamodb")


def repository(backend, every: int = 10, cache: AggregateCache | None = None) -> SnapshottingRepository:
    return SnapshottingRepository(backend.events, backend.snapshots, SnapshotPolicy(every=every), cache)


def test_commits_take_a_snapshot_every_n_events_and_hydrate_reads_only_the_tail():
    backend = make_backend("memory")
    repo = repository(backend, every=10)
    loan = Loan("l", repository=repo)
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("900.00"), "interest": Decimal("0")},
                 {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    for _ in range(22):
        loan.commit(PAY)
    assert backend.snapshots.get("Loan", "l").version == 20  # taken at 10 and at 20 of 25 events
    fresh = Loan("l", repository=repo)
    loaded = repo.hydrate(fresh)
    assert (loaded.snapshot_version, loaded.events_read, fresh.version) == (20, 5, 25)
    assert fresh.state() == loan.state()


def test_policy_per_class_and_off_switch():
    policy = SnapshotPolicy(every=100, per_class={"Loan": 3})
    assert policy.interval(Loan) == 3 and policy.due(Loan, 5, 2) and not policy.due(Loan, 4, 2)
    assert not SnapshotPolicy(enabled=False).due(Loan, 10_000, 0)
    with pytest.raises(Exception, match="at least 1"):
        SnapshotPolicy(every=0)


def test_off_switch_writes_no_snapshot():
    backend = make_backend("memory")
    repo = SnapshottingRepository(backend.events, backend.snapshots, SnapshotPolicy(every=1, enabled=False))
    Loan("l", repository=repo).commit({"type": "LoanCreated", "requested_amount": Decimal(1), "interest": Decimal(0)})
    assert backend.snapshots.get("Loan", "l") is None


def test_a_stale_snapshot_is_skipped_logged_counted_and_replaced_by_the_next_commit(monkeypatch, caplog):
    backend = make_backend("memory")
    backend.write_events("l", loan_events(30))
    backend.snapshots.put(take(replayed("l", loan_events(30)[:25])))
    monkeypatch.setattr(Loan, "snapshot_version", 2)
    before = COUNTERS["skipped_stale"]
    repo = repository(backend, every=10)
    loan = Loan("l", repository=repo)
    with caplog.at_level(logging.WARNING, logger="snapshots.repository"):
        loaded = repo.hydrate(loan)
    assert loaded.snapshot_skipped.startswith("stale: snapshot at version 25 has fingerprint")
    assert (loaded.snapshot_version, loaded.events_read) == (None, 33)
    assert COUNTERS["skipped_stale"] == before + 1
    assert "skipped, replaying the log: stale" in caplog.text
    loan.commit(PAY)  # 34 events past no valid snapshot: due now
    assert backend.snapshots.get("Loan", "l").version == 34
    again = Loan("l", repository=repo)
    assert repo.hydrate(again).snapshot_version == 34


def test_a_corrupt_s3_document_is_skipped(aws):
    backend = make_backend("s3")
    backend.write_events("l", loan_events(5))
    backend.plant_bytes("l", b'{"aggregate_type": "Loan", "aggreg')
    loan = Loan("l", repository=repository(backend))
    loaded = loan.repository.hydrate(loan)
    assert loaded.snapshot_skipped.startswith("corrupt: snapshot s3://loan-snapshots/snapshots/Loan/l.json")
    assert loan.version == 8


def test_a_snapshot_that_cannot_be_restored_leaves_nothing_half_done():
    class Picky(Loan):
        def restore(self, state):
            self.status = "HALF"
            raise ValueError("no")

    backend = make_backend("memory")
    backend.write_events("l", loan_events(4))
    loan = Picky("l", repository=repository(backend))
    backend.snapshots.put(take(Picky("l", repository=loan.repository).apply(loan_events(4)[:5])))
    loaded = loan.repository.hydrate(loan)
    assert loaded.snapshot_skipped.startswith("corrupt: snapshot state at version 5 cannot be restored")
    assert (loan.version, loan.state()) == (7, replayed("l", loan_events(4)).state())


class FailingStore(InMemorySnapshotStore):
    def put(self, snapshot, replaces=None):
        raise SnapshotError("the snapshot store is down")


def test_a_failed_snapshot_write_never_fails_the_command(caplog):
    backend = make_backend("memory")
    repo = SnapshottingRepository(backend.events, FailingStore(), SnapshotPolicy(every=1))
    before = COUNTERS["write_failed"]
    with caplog.at_level(logging.WARNING, logger="snapshots.repository"):
        event = Loan("l", repository=repo).commit(
            {"type": "LoanCreated", "requested_amount": Decimal(5), "interest": Decimal(0)})
    assert event.number == 1 and [r.number for r in backend.events.read("l")] == [1]
    assert COUNTERS["write_failed"] == before + 1
    assert "not written: the snapshot store is down" in caplog.text


def test_a_state_too_large_for_dynamodb_is_logged_and_the_commit_stands(dynamodb_backend, caplog):
    class Chatty(Loan):
        table = "Loans"

        def on_loan_approved(self, event):
            super().on_loan_approved(event)
            self.notes = "x" * 420_000

    repo = repository(dynamodb_backend, every=1)
    loan = Chatty("c", repository=repo)
    with caplog.at_level(logging.WARNING, logger="snapshots.repository"):
        loan.commit([{"type": "LoanCreated", "requested_amount": Decimal(5), "interest": Decimal(0)},
                     {"type": "LoanApproved"}])
    assert "SNAPSHOT_STORE=s3" in caplog.text
    assert loan.version == 2


def test_cache_entries_are_copies_and_bounded():
    backend = make_backend("memory")
    cache = AggregateCache(2)
    repo = repository(backend, cache=cache)
    for name in ("a", "b", "c"):
        backend.write_events(name, loan_events(2))
        repo.hydrate(Loan(name, repository=repo))
    assert len(cache) == 2
    first = Loan("c", repository=repo)
    repo.hydrate(first)
    first.balance = Decimal("-1")
    first.status = "MUTATED"
    second = Loan("c", repository=repo)
    repo.hydrate(second)
    assert second.state() == replayed("c", loan_events(2)).state()


class CountingStore:
    """Wraps an event store and counts reads: the in-memory analogue of a request meter."""

    def __init__(self, inner):
        self.inner, self.reads = inner, 0

    def read(self, aggregate_id, after=0):
        self.reads += 1
        return self.inner.read(aggregate_id, after)

    def append(self, aggregate_id, expected_version, events, **options):
        self.inner.append(aggregate_id, expected_version, events, **options)


def test_a_command_on_a_cached_aggregate_appends_without_reading_and_catches_up_on_conflict():
    backend = make_backend("memory")
    backend.write_events("l", loan_events(3))
    store = CountingStore(backend.events)
    repo = SnapshottingRepository(store, None, SnapshotPolicy(enabled=False), AggregateCache())
    repo.hydrate(Loan("l", repository=repo))
    store.reads = 0
    execute(Loan("l", repository=repo), lambda loan: loan.commit(PAY))
    assert store.reads == 0
    other = Loan("l", repository=Repository(backend.events)).hydrate()  # a writer elsewhere, unseen by the cache
    other.commit(PAY)
    execute(Loan("l", repository=repo), lambda loan: loan.commit(PAY))
    assert store.reads == 1  # one conflict, one catch-up read of the tail, then the append
    assert [r.number for r in backend.events.read("l")][-3:] == [7, 8, 9]


def test_dynamodb_costs_one_request_to_hydrate_and_one_write_per_cached_command(dynamodb_backend):
    meter = RequestMeter()
    meter.attach(dynamodb_backend.dynamodb)
    dynamodb_backend.write_events("l", loan_events(497))
    repo = repository(dynamodb_backend, every=100, cache=AggregateCache())
    dynamodb_backend.snapshots.put(take(replayed("l", loan_events(497)[:450])))

    cold = SnapshottingRepository(dynamodb_backend.events, dynamodb_backend.snapshots, SnapshotPolicy(every=100))
    before = meter.snapshot()
    loan = Loan("l", repository=cold)
    loaded = cold.hydrate(loan)
    assert (meter.requests - before[0], loaded.snapshot_version, loaded.events_read) == (1, 450, 50)

    repo.hydrate(Loan("l", repository=repo))  # warm the cache
    before = meter.snapshot()
    repo.hydrate(Loan("l", repository=repo))
    assert meter.requests - before[0] == 1  # warm: the events after the cached version only
    meter.by_operation.clear()
    execute(Loan("l", repository=repo), lambda loan: loan.commit(PAY))
    assert meter.by_operation == {"PutItem": 1}


def test_an_impossible_snapshot_at_the_top_of_a_partition_is_skipped(dynamodb_backend):
    dynamodb_backend.write_events("l", loan_events(5))
    snapshot = take(replayed("l", loan_events(5)))
    snapshot = replace(snapshot, version=40)
    dynamodb_backend.plant(replace(snapshot, checksum=snapshot.computed_checksum()))
    loan = Loan("l", repository=repository(dynamodb_backend))
    assert loan.repository.hydrate(loan).snapshot_skipped.startswith("impossible: snapshot at version 40")
    assert loan.version == 8


def test_a_long_tail_without_a_snapshot_replays_in_pages(dynamodb_backend):
    dynamodb_backend.write_events("l", loan_events(80))
    loan = Loan("l", repository=repository(dynamodb_backend, every=5))
    loaded = loan.repository.hydrate(loan)
    assert (loaded.snapshot_version, loaded.snapshot_skipped, loan.version) == (None, None, 83)


def test_an_unreadable_snapshot_store_costs_a_replay_not_the_command(aws):
    import boto3

    from snapshots import S3SnapshotStore

    backend = make_backend("memory")
    backend.write_events("l", loan_events(4))
    missing = S3SnapshotStore("no-such-bucket", client=boto3.client("s3", region_name="us-east-1"))
    repo = SnapshottingRepository(backend.events, missing, SnapshotPolicy(every=1))
    loan = Loan("l", repository=repo)
    loaded = repo.hydrate(loan)
    assert loaded.snapshot_skipped.startswith("unavailable: snapshot bucket 'no-such-bucket' does not exist")
    assert loan.version == 7
    loan.commit(PAY)  # the snapshot write fails too, and is only logged
    assert loan.version == 8


def test_a_refusal_decided_on_a_stale_cache_is_decided_again_on_fresh_state():
    backend = make_backend("memory")
    backend.write_events("l", loan_events(3)[:2])  # created and approved, not yet disbursed
    repo = SnapshottingRepository(backend.events, None, SnapshotPolicy(enabled=False), AggregateCache())
    repo.hydrate(Loan("l", repository=repo))  # this process caches the loan as APPROVED
    Loan("l", repository=Repository(backend.events)).hydrate().commit({"type": "LoanDisbursed"})  # elsewhere
    paid = execute(Loan("l", repository=repo), lambda loan: loan.commit(PAY))
    assert paid.number == 4
    with pytest.raises(IllegalEventError, match="LoanCollections is illegal for a loan in status PAID"):
        execute(Loan("l", repository=repo), lambda loan: loan.commit({"type": "LoanCollections"}))
