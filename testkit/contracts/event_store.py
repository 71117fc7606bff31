"""The event store contract (core/store.py), as suites a store of yours runs:

    class TestMyEventStore(EventStoreContract):
        def create_store(self) -> EventStore:
            return MyEventStore(...)            # a fresh, empty store for each test

`KeyedAppendContract` adds the keyed append (an idempotency marker written with the events); a store that
supports it also gives `find_marker`. The library runs both on its in-memory and DynamoDB stores
(tests/unit/test_store_contract.py, tests/unit/test_keyed_append.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from core.errors import (
    AlreadyCommittedError,
    ConcurrencyError,
    EventSourcingError,
    EventTooLargeError,
    KeyReusedError,
    VersionGapError,
)
from core.events import RecordedEvent
from core.store import MAX_EVENTS_PER_APPEND, EventStore, KeyMarker


def record(number: int, data: str = "{}", type_: str = "Happened") -> RecordedEvent:
    return RecordedEvent(number, type_, "2026-01-01T00:00:00.000000+00:00", data)


def numbers(store: EventStore, aggregate_id: str = "a") -> list[int]:
    return [event.number for event in store.read(aggregate_id)]


class EventStoreContract:
    """Read, append, optimistic concurrency, version gaps and size limits; the scan of every event by
    segments that rebuild and verify read."""

    def create_store(self) -> EventStore:
        """A fresh, empty store (called once per test)."""
        raise NotImplementedError(f"{type(self).__name__} must define create_store()")

    @pytest.fixture
    def store(self) -> EventStore:
        return self.create_store()

    def test_reads_back_what_was_appended_in_order(self, store: EventStore) -> None:
        store.append("a", 0, [record(1)])
        store.append("a", 1, [record(2), record(3)])
        assert numbers(store) == [1, 2, 3]
        assert [r.number for r in store.read("a", after=2)] == [3]
        assert list(store.read("missing")) == []

    def test_reads_back_every_field_exactly(self, store: EventStore) -> None:
        written = [RecordedEvent(1, "Opened", "2026-01-01T00:00:00.000001+00:00", '{"who":"ann","n":{"$d":"1.50"}}',
                                 '{"actor":"ann"}'),
                   RecordedEvent(2, "Noted", "2026-01-02T00:00:00.000000+00:00", '{"text":"zürich ✓"}')]
        store.append("a", 0, written)
        assert list(store.read("a")) == written

    def test_streams_of_different_aggregates_are_separate(self, store: EventStore) -> None:
        store.append("a", 0, [record(1, '{"x":1}')])
        store.append("b", 0, [record(1, '{"x":2}')])
        assert [r.data for r in store.read("b")] == ['{"x":2}']

    def test_a_taken_number_is_a_conflict_and_writes_nothing(self, store: EventStore) -> None:
        store.append("a", 0, [record(1)])
        with pytest.raises(ConcurrencyError, match="'a'.*version 0"):
            store.append("a", 0, [record(1, '{"other":true}')])
        with pytest.raises(ConcurrencyError):
            store.append("a", 0, [record(1), record(2)])
        assert [r.data for r in store.read("a")] == ["{}"]

    def test_a_batch_is_all_or_nothing(self, store: EventStore) -> None:
        store.append("a", 0, [record(1), record(2)])
        with pytest.raises(ConcurrencyError):
            store.append("a", 1, [record(2), record(3)])
        assert numbers(store) == [1, 2]

    def test_append_checks_shape_before_sending(self, store: EventStore) -> None:
        with pytest.raises(EventSourcingError, match="no events"):
            store.append("a", 0, [])
        with pytest.raises(EventSourcingError, match="must number its events 1..2"):
            store.append("a", 0, [record(1), record(3)])
        with pytest.raises(EventSourcingError, match=f"at most {MAX_EVENTS_PER_APPEND}"):
            store.append("a", 0, [record(n) for n in range(1, MAX_EVENTS_PER_APPEND + 2)])
        with pytest.raises(EventTooLargeError, match="400 KB|409,600"):
            store.append("a", 0, [record(1, '"' + "x" * 410_000 + '"')])
        assert list(store.read("a")) == []

    def test_a_full_hundred_event_batch_lands(self, store: EventStore) -> None:
        store.append("a", 0, [record(n) for n in range(1, MAX_EVENTS_PER_APPEND + 1)])
        assert numbers(store) == list(range(1, MAX_EVENTS_PER_APPEND + 1))

    def test_an_append_past_the_stored_version_is_a_gap_and_writes_nothing(self, store: EventStore) -> None:
        with pytest.raises(VersionGapError, match=r"'a' at version 2 refused.*no event #2.*event #3 would leave a gap"):
            store.append("a", 2, [record(3)])
        with pytest.raises(VersionGapError) as caught:
            store.append("a", 2, [record(3), record(4)])
        assert (caught.value.aggregate_id, caught.value.expected_version) == ("a", 2)
        assert list(store.read("a")) == []
        store.append("a", 0, [record(1)])
        with pytest.raises(VersionGapError, match="'a' at version 5"):
            store.append("a", 5, [record(6)])
        assert numbers(store) == [1]
        store.append("a", 1, [record(2)])  # the next one in line still lands
        assert numbers(store) == [1, 2]


    def test_the_segments_of_a_scan_hold_every_event_once_each_aggregate_in_one_in_order(
            self, store: EventStore) -> None:
        written = {f"agg-{n}": n % 4 + 1 for n in range(9)}  # ids and how many events each holds
        for aggregate_id, count in written.items():
            store.append(aggregate_id, 0, [record(number) for number in range(1, count + 1)])
        for of in (1, 2, 3):
            owners: dict[str, int] = {}
            found: list[tuple[str, int]] = []
            for segment in range(of):
                for aggregate_id, event in store.scan(segment, of):
                    assert owners.setdefault(aggregate_id, segment) == segment, f"{aggregate_id} in two segments"
                    found.append((aggregate_id, event.number))
            assert sorted(found) == sorted((key, n) for key, count in written.items() for n in range(1, count + 1))
            for aggregate_id in written:  # each aggregate's events ascending
                numbers_seen = [n for key, n in found if key == aggregate_id]
                assert numbers_seen == sorted(numbers_seen)

    def test_a_scan_resumes_right_after_any_event_it_yielded(self, store: EventStore) -> None:
        for aggregate_id in ("a", "b", "c"):
            store.append(aggregate_id, 0, [record(1), record(2)])
        listing = [(aggregate_id, event.number) for aggregate_id, event in store.scan(0, 1)]
        assert len(listing) == 6
        for position, (aggregate_id, number) in enumerate(listing):
            rest = [(key, event.number) for key, event in store.scan(0, 1, start_after=(aggregate_id, number))]
            assert rest == listing[position + 1:]

    def test_a_scan_refuses_a_segment_outside_its_count_before_reading(self, store: EventStore) -> None:
        assert list(store.scan(0, 1)) == []
        for segment, of in ((1, 1), (-1, 2), (0, 0)):
            with pytest.raises(EventSourcingError):
                list(store.scan(segment, of))

    def test_an_estimate_is_a_count_or_none(self, store: EventStore) -> None:
        store.append("a", 0, [record(1), record(2)])
        estimate = store.estimate()
        assert estimate is None or (isinstance(estimate, int) and estimate >= 0)

#: The table a keyed append's markers are written to: a store under `KeyedAppendContract` must have it ready.
MARKER_TABLE = "Idempotency"


def marker(key: str = "k1", request_hash: str = "h1", reply: str = '{"status": 201}') -> KeyMarker:
    return KeyMarker(MARKER_TABLE, key, request_hash, "a", reply, 2_000_000_000)


class KeyedAppendContract:
    """The keyed append: the idempotency marker is written in the same atomic write as the events; the same
    request again gets the first reply, another request under the same key is refused, and neither writes."""

    def create_store(self) -> EventStore:
        """A fresh, empty store whose marker table (`MARKER_TABLE`) exists (called once per test)."""
        raise NotImplementedError(f"{type(self).__name__} must define create_store()")

    def find_marker(self, store: Any, table: str, key: str) -> KeyMarker | None:
        """The marker a keyed append recorded under `key` in `table`, if any (the library's stores have
        `find_marker`; override this for a store that reads its markers another way)."""
        found: KeyMarker | None = store.find_marker(table, key)
        return found

    @pytest.fixture
    def store(self) -> EventStore:
        return self.create_store()

    def test_a_keyed_append_writes_the_events_and_the_marker(self, store: EventStore) -> None:
        store.append("a", 0, [record(1)], marker=marker())
        assert numbers(store) == [1]
        assert self.find_marker(store, MARKER_TABLE, "k1") == marker()
        assert self.find_marker(store, MARKER_TABLE, "other") is None

    @pytest.mark.parametrize("version", [0, 1])
    def test_the_same_request_again_gets_the_first_reply_and_writes_nothing(self, store: EventStore,
                                                                            version: int) -> None:
        """At the first attempt's version (the retried open) and at the next one (a retried command that
        re-read the state): the key decides, not the version."""
        store.append("a", 0, [record(1)], marker=marker(reply="first"))
        with pytest.raises(AlreadyCommittedError) as caught:
            store.append("a", version, [record(version + 1)], marker=marker(reply="second"))
        assert caught.value.reply == "first"
        assert numbers(store) == [1]

    def test_the_same_key_for_another_request_is_refused_and_writes_nothing(self, store: EventStore) -> None:
        store.append("a", 0, [record(1)], marker=marker())
        with pytest.raises(KeyReusedError, match="'k1'"):
            store.append("a", 1, [record(2), record(3)], marker=marker(request_hash="h2"))
        assert numbers(store) == [1]

    def test_a_conflict_writes_no_marker_so_the_key_stays_free(self, store: EventStore) -> None:
        store.append("a", 0, [record(1)])
        with pytest.raises(ConcurrencyError):
            store.append("a", 0, [record(1)], marker=marker())
        assert self.find_marker(store, MARKER_TABLE, "k1") is None
        store.append("a", 1, [record(2)], marker=marker())
        assert numbers(store) == [1, 2] and self.find_marker(store, MARKER_TABLE, "k1") == marker()

    def test_keys_are_separate(self, store: EventStore) -> None:
        store.append("a", 0, [record(1)], marker=marker("k1"))
        store.append("a", 1, [record(2)], marker=marker("k2"))
        assert numbers(store) == [1, 2]

    def test_a_keyed_append_holds_one_event_fewer_and_says_so(self, store: EventStore) -> None:
        full = [record(n) for n in range(1, MAX_EVENTS_PER_APPEND + 1)]
        with pytest.raises(EventSourcingError, match=f"at most {MAX_EVENTS_PER_APPEND - 1}"):
            store.append("a", 0, full, marker=marker())
        assert numbers(store) == [] and self.find_marker(store, MARKER_TABLE, "k1") is None
        store.append("a", 0, full[:-1], marker=marker())
        assert numbers(store) == list(range(1, MAX_EVENTS_PER_APPEND))
