"""The event store contract (core/store.py), as suites a store of yours runs:

    class TestMyEventStore(EventStoreContract):
        def create_store(self) -> EventStore:
            return MyEventStore(...)            # a fresh, empty store for each test

`EventStoreReadsContract` is the reading part of it alone (read backwards, the segmented scan), for a store
run again in another configuration (the library's DynamoDB store with small pages). `KeyedAppendContract` adds
the keyed append (an idempotency marker written with the events); a store that supports it also gives
`find_marker`. The library runs them on its in-memory and DynamoDB stores (tests/unit/test_store_contract.py,
tests/unit/test_keyed_append.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.errors import (
    AlreadyCommittedError,
    ConcurrencyError,
    EventSourcingError,
    EventTooLargeError,
    InvalidReadError,
    KeyReusedError,
    VersionGapError,
)
from core.events import RecordedEvent
from core.store import MAX_EVENTS_PER_APPEND, MAX_SEGMENTS, EventStore, KeyMarker


def record(number: int, data: str = "{}", type_: str = "Happened") -> RecordedEvent:
    return RecordedEvent(number, type_, "2026-01-01T00:00:00.000000+00:00", data)


def numbers(store: EventStore, aggregate_id: str = "a", backwards: bool = False) -> list[int]:
    read = store.read_backwards if backwards else store.read
    return [event.number for event in read(aggregate_id)]


def write(store: EventStore, aggregate_id: str, size: int) -> None:
    """Events 1..`size` (payload `{"n": number}`), a hundred at a time (the most one atomic append holds)."""
    for start in range(0, size, MAX_EVENTS_PER_APPEND):
        last = min(size, start + MAX_EVENTS_PER_APPEND)
        store.append(aggregate_id, start, [record(n, f'{{"n":{n}}}') for n in range(start + 1, last + 1)])


#: Aggregate ids and how many events each holds, for the scans.
HISTORIES = {"a": 5, "b": 1, "c": 12, "loan-\u00e9": 3, "d": 2, "e": 7, "f": 4, "g": 1}
#: Scan arguments out of range, and the argument each error must name.
BAD_SCANS: list[tuple[dict[str, Any], str]] = [
    ({"of": 0}, "of"), ({"of": -2}, "of"), ({"of": MAX_SEGMENTS + 1}, "of"), ({"of": True}, "of"),
    ({"of": 2.0}, "of"), ({"segment": -1, "of": 3}, "segment"), ({"segment": 3, "of": 3}, "segment"),
    ({"segment": "0"}, "segment"), ({"start_after": ("a", 0)}, "start_after"),
    ({"start_after": ("", 1)}, "start_after"), ({"start_after": ("a",)}, "start_after"),
    ({"start_after": "a"}, "start_after"), ({"start_after": ("a", "1")}, "start_after"),
    ({"start_after": ("a", True)}, "start_after"), ({"start_after": (1, 1)}, "start_after"),
]


def everything(histories: dict[str, int]) -> list[tuple[str, int]]:
    return sorted((aggregate_id, number) for aggregate_id, size in histories.items() for number in range(1, size + 1))


def in_runs(listing: list[tuple[str, RecordedEvent]]) -> None:
    """Each aggregate's events come together, oldest first, with no gap."""
    seen: list[str] = []
    for position, (aggregate_id, event) in enumerate(listing):
        if position and listing[position - 1][0] == aggregate_id:
            assert event.number == listing[position - 1][1].number + 1
        else:
            assert aggregate_id not in seen, f"{aggregate_id!r} comes in two runs"
            assert event.number == 1
            seen.append(aggregate_id)


class EventStoreReadsContract:
    """Reading backwards, and the scan of every event by segments that rebuild and verify read."""

    def create_store(self) -> EventStore:
        """A fresh, empty store (called once per test)."""
        raise NotImplementedError(f"{type(self).__name__} must define create_store()")

    @pytest.fixture
    def store(self) -> EventStore:
        return self.create_store()

    # -- reading backwards: the newest events first --------------------------------------------------------

    def test_read_backwards_gives_the_newest_first(self, store: EventStore) -> None:
        write(store, "a", 7)
        write(store, "b", 3)
        assert numbers(store, "a", backwards=True) == [7, 6, 5, 4, 3, 2, 1]
        assert [event.data for event in store.read_backwards("b")] == ['{"n":3}', '{"n":2}', '{"n":1}']
        assert list(store.read_backwards("missing")) == []

    @pytest.mark.parametrize(("before", "expected"), [
        (None, [5, 4, 3, 2, 1]), (6, [5, 4, 3, 2, 1]), (500, [5, 4, 3, 2, 1]), (5, [4, 3, 2, 1]), (3, [2, 1]),
        (2, [1]), (1, []), (0, []), (-4, []),
    ])
    def test_read_backwards_before_is_exclusive(self, store: EventStore, before: int | None,
                                                expected: list[int]) -> None:
        write(store, "a", 5)
        assert [event.number for event in store.read_backwards("a", before)] == expected

    def test_read_backwards_equals_read_reversed(self, store: EventStore) -> None:
        write(store, "a", 41)
        assert list(store.read_backwards("a")) == list(reversed(list(store.read("a"))))
        assert [event.number for event in store.read_backwards("a", 21)] == list(range(20, 0, -1))

    def test_read_backwards_refuses_a_bound_that_is_not_a_whole_number(self, store: EventStore) -> None:
        for before in ("3", 2.0, True, [3]):
            with pytest.raises(InvalidReadError, match="`before` must be a whole event number") as raised:
                store.read_backwards("a", before)  # type: ignore[arg-type]  # the wrong types are the point
            assert raised.value.argument == "before"

    # -- reading up to a point: the past reads no further ---------------------------------------------------

    def test_read_until_is_inclusive(self, store: EventStore) -> None:
        write(store, "a", 5)
        write(store, "b", 2)
        for after, until, expected in [
            (0, None, [1, 2, 3, 4, 5]), (0, 3, [1, 2, 3]), (2, 4, [3, 4]), (0, 5, [1, 2, 3, 4, 5]),
            (0, 500, [1, 2, 3, 4, 5]), (4, 5, [5]), (3, 3, []), (4, 2, []), (0, 0, []), (0, -1, []),
        ]:
            assert [event.number for event in store.read("a", after, until)] == expected, (after, until)
            assert list(store.read("missing", after, until)) == []

    def test_read_refuses_an_until_that_is_not_a_whole_number(self, store: EventStore) -> None:
        for until in ("3", 2.0, True, [3]):
            with pytest.raises(InvalidReadError, match="`until` must be a whole event number") as raised:
                store.read("a", 0, until)  # type: ignore[arg-type]  # the wrong types are the point
            assert raised.value.argument == "until"

    # -- the scan of every event, by segments (what rebuild and verify read) ---------------------------------

    @pytest.mark.parametrize("of", [1, 2, 3, 7])
    def test_the_segments_of_a_scan_hold_every_event_exactly_once(self, store: EventStore, of: int) -> None:
        for aggregate_id, size in HISTORIES.items():
            write(store, aggregate_id, size)
        owners: dict[str, int] = {}
        found: list[tuple[str, int]] = []
        for segment in range(of):
            listing = list(store.scan(segment, of))
            in_runs(listing)
            for aggregate_id, event in listing:
                assert owners.setdefault(aggregate_id, segment) == segment  # an aggregate lies in one segment
                assert event.data == f'{{"n":{event.number}}}'
            found += [(aggregate_id, event.number) for aggregate_id, event in listing]
        assert sorted(found) == everything(HISTORIES) and len(found) == len(set(found))

    def test_a_scan_resumes_right_after_any_event_it_yielded(self, store: EventStore) -> None:
        for aggregate_id, size in {"a": 3, "b": 1, "c": 4, "loan-\u00e9": 2, "d": 2}.items():
            write(store, aggregate_id, size)
        for segment in range(2):
            listing = [(aggregate_id, event.number) for aggregate_id, event in store.scan(segment, 2)]
            for position, checkpoint in enumerate(listing):
                rest = [(aggregate_id, event.number) for aggregate_id, event in
                        store.scan(segment, 2, start_after=checkpoint)]
                assert rest == listing[position + 1:], f"resumed after {checkpoint}"

    def test_a_scan_resumes_from_a_checkpoint_read_back_from_json(self, store: EventStore) -> None:
        write(store, "a", 3)
        checkpoint = json.loads('["a", 1]')  # a list, as a checkpoint comes back from JSON
        assert [event.number for _, event in store.scan(start_after=checkpoint)] == [2, 3]

    def test_a_scan_of_an_empty_store_yields_nothing(self, store: EventStore) -> None:
        assert list(store.scan()) == [] and list(store.scan(3, 4)) == []

    def test_a_scan_refuses_bad_arguments_naming_them_before_reading(self, store: EventStore) -> None:
        for arguments, argument in BAD_SCANS:
            with pytest.raises(InvalidReadError, match=f"`{argument}`") as raised:
                store.scan(**arguments)
            assert raised.value.argument == argument, arguments

    def test_the_largest_segment_count_is_accepted(self, store: EventStore) -> None:
        write(store, "a", 1)
        found = [event for segment in (0, MAX_SEGMENTS - 1) for event in store.scan(segment, MAX_SEGMENTS)]
        assert len(found) <= 1  # every segment in range is a valid request


class EventStoreContract(EventStoreReadsContract):
    """The whole event store contract: read, append, optimistic concurrency, version gaps and size limits,
    and the reads of `EventStoreReadsContract`."""

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
