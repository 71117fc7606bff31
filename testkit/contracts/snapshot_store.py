"""The snapshot store contract (snapshots/store.py), as a suite a store of yours runs:

    class TestMySnapshotStore(SnapshotStoreContract):
        def create_store(self) -> SnapshotStore:
            return MySnapshotStore(...)         # a fresh, empty store for each test

The snapshots stored are of `Tally`, a small aggregate of the kit's own. The library runs the suite on its
in-memory, DynamoDB and S3 stores (tests/unit/test_snapshot_store_contract.py).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

import pytest

from core.aggregate import Aggregate
from core.events import Event, RecordedEvent, to_record
from core.store import EventStore, InMemoryEventStore
from snapshots.envelope import Snapshot, take
from snapshots.store import Seen, SnapshotStore, Stored
from testkit.commands import START


class Tally(Aggregate):
    """The aggregate whose snapshots the suite stores: a count of `Counted` events."""

    table = "Tallies"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.count = 0

    def on_counted(self, event: Event) -> None:
        self.count += 1


def snapshot_at(version: int, aggregate_id: str = "tally-1") -> Snapshot:
    """A valid snapshot of a tally at `version`, taken at a fixed time."""
    tally = Tally(aggregate_id, Tally.table, store=InMemoryEventStore())
    tally.apply([Event("Counted", {}, number, START + timedelta(minutes=number)) for number in range(1, version + 1)])
    return take(tally, created=START)


def tally_records(first: int, last: int) -> list[RecordedEvent]:
    """The log of a tally: `Counted` events numbered `first`..`last`."""
    return [to_record(Event("Counted", {}, number, START + timedelta(minutes=number)))
            for number in range(first, last + 1)]


def stale_at(version: int, aggregate_id: str = "tally-1") -> Snapshot:
    """A snapshot of an older version of the code: another fingerprint, a valid checksum."""
    snapshot = replace(snapshot_at(version, aggregate_id), fingerprint="f" * 32)
    return replace(snapshot, checksum=snapshot.computed_checksum())


class SnapshotStoreContract:
    """Get, put, newest wins whatever the order, replacing exactly the stored copy a reader named; and the
    access strategy, `load` (a snapshot and the events after it) and `catch_up`."""

    def create_store(self) -> SnapshotStore:
        """A fresh, empty store (called once per test)."""
        raise NotImplementedError(f"{type(self).__name__} must define create_store()")

    def events_for(self, store: SnapshotStore) -> EventStore:
        """The event store whose log `store` loads snapshots beside: a fresh in-memory one, unless the
        snapshot store keeps its snapshots in the log's own table (then that table's event store)."""
        return InMemoryEventStore()

    @pytest.fixture
    def store(self) -> SnapshotStore:
        return self.create_store()

    @staticmethod
    def stored(store: SnapshotStore, snapshot: Snapshot) -> Stored:
        """What a reader saw of the stored copy of `snapshot`: its version and token, from `get`."""
        seen = store.get(snapshot.aggregate_type, snapshot.aggregate_id)
        assert seen == snapshot
        assert seen is not None
        return Stored(seen.version, seen.token)

    def test_nothing_stored_is_none(self, store: SnapshotStore) -> None:
        assert store.get("Tally", "missing") is None

    def test_reads_back_what_was_put(self, store: SnapshotStore) -> None:
        snapshot = snapshot_at(5)
        assert store.put(snapshot) is True
        assert store.get("Tally", "tally-1") == snapshot

    def test_newer_replaces_older_and_never_the_reverse(self, store: SnapshotStore) -> None:
        old, new = snapshot_at(5), snapshot_at(9)
        assert store.put(old)
        assert store.put(new, replaces=self.stored(store, old))
        store.put(old)
        assert store.get("Tally", "tally-1") == new
        assert store.put(new) is False  # the same version again: nothing written

    def test_aggregates_are_separate(self, store: SnapshotStore) -> None:
        store.put(snapshot_at(4, "a"))
        store.put(snapshot_at(6, "b"))
        assert [getattr(store.get("Tally", key), "version", None) for key in ("a", "b")] == [4, 6]

    def test_an_id_with_slashes_and_spaces_is_one_key(self, store: SnapshotStore) -> None:
        snapshot = snapshot_at(4, "tenant/7 tally?x=1")
        store.put(snapshot)
        assert store.get("Tally", "tenant/7 tally?x=1") == snapshot
        assert store.get("Tally", "tenant") is None

    def test_an_unusable_snapshot_is_replaced_at_its_own_version_only_when_named_exactly(
            self, store: SnapshotStore) -> None:
        stale, fresh = stale_at(9), snapshot_at(9)
        store.put(stale)
        seen = self.stored(store, stale)
        assert store.put(fresh) is False  # not named: the same version stays
        assert store.put(fresh, replaces=Stored(9, "some-other-copy")) is False
        assert getattr(store.get("Tally", "tally-1"), "fingerprint", None) == "f" * 32
        assert store.put(fresh, replaces=seen) is True
        assert store.get("Tally", "tally-1") == fresh
        assert store.put(stale_at(9), replaces=seen) is False  # that copy is gone: nothing replaced
        assert store.get("Tally", "tally-1") == fresh

    def test_an_unusable_snapshot_above_the_log_is_replaced_when_named(self, store: SnapshotStore) -> None:
        impossible, fresh = stale_at(40), snapshot_at(9)
        store.put(impossible)
        assert store.put(fresh, replaces=self.stored(store, impossible)) is True
        assert store.get("Tally", "tally-1") == fresh

    def test_racing_replacements_of_one_unusable_snapshot_write_exactly_one(self, store: SnapshotStore) -> None:
        stale = stale_at(9)
        store.put(stale)
        seen = self.stored(store, stale)
        candidates = []
        for second in range(8):
            candidate = replace(snapshot_at(9), created=f"2026-01-01T00:00:{second:02d}.000000+00:00")
            candidates.append(replace(candidate, checksum=candidate.computed_checksum()))
        results = run_together([partial(store.put, snapshot, replaces=seen) for snapshot in candidates])
        assert sorted(results) == [False] * 7 + [True]
        assert store.get("Tally", "tally-1") in candidates

    # -- the access strategy: how a hydrate reads a snapshot and the events after it ------------------------

    def test_load_with_no_snapshot_gives_no_snapshot_and_at_most_the_whole_log(self, store: SnapshotStore) -> None:
        events = self.events_for(store)
        events.append("tally-1", 0, tally_records(1, 5))
        head = store.load("Tally", "tally-1", events, interval=10)
        assert (head.snapshot, head.skipped) == (None, None)
        if head.complete:  # else the repository replays the log itself
            assert [record.number for record in head.tail] == [1, 2, 3, 4, 5]

    def test_load_gives_the_snapshot_and_the_events_after_it(self, store: SnapshotStore) -> None:
        events = self.events_for(store)
        events.append("tally-1", 0, tally_records(1, 5))
        snapshot = snapshot_at(3)
        store.put(snapshot)
        head = store.load("Tally", "tally-1", events, interval=2)
        assert head.snapshot == snapshot and head.skipped is None
        assert head.stored is not None and head.stored.version == 3
        assert head.gap() is None
        assert [record.number for record in head.tail] == [4, 5]

    def test_load_says_a_snapshot_beyond_the_log_is_impossible(self, store: SnapshotStore) -> None:
        events = self.events_for(store)
        events.append("tally-1", 0, tally_records(1, 5))
        store.put(snapshot_at(9))
        head = store.load("Tally", "tally-1", events, interval=2)
        assert head.snapshot is not None and head.snapshot.version == 9
        assert (head.gap() or "").startswith("impossible"), head.gap()

    def test_a_catch_up_reads_the_events_after_a_version(self, store: SnapshotStore) -> None:
        events = self.events_for(store)
        events.append("tally-1", 0, tally_records(1, 5))
        store.put(snapshot_at(3))
        seen: list[Seen] = []
        assert [record.number for record in store.catch_up("tally-1", 2, events, seen)] == [3, 4, 5]
        assert all(found.stored.version == 3 for found in seen)  # what it passed, if it sees snapshots at all

    def test_racing_writers_leave_the_newest(self, store: SnapshotStore) -> None:
        snapshots = [snapshot_at(version) for version in range(4, 24)]
        random.Random(7).shuffle(snapshots)
        run_together([partial(store.put, snapshot) for snapshot in snapshots])
        assert getattr(store.get("Tally", "tally-1"), "version", None) == 23


def run_together(calls: list[Callable[[], bool]]) -> list[bool]:
    """Start every call at once, one thread each; their results (an exception in any is raised here)."""
    start = threading.Barrier(len(calls))
    results: list[bool] = []
    errors: list[BaseException] = []

    def run(call: Callable[[], bool]) -> None:
        start.wait()
        try:
            results.append(call())
        except BaseException as exc:  # raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results
