"""The event store contract, run against every backend: the in-memory fake and DynamoDB on moto."""

from __future__ import annotations

import pytest

from core import ConcurrencyError, EventSourcingError, EventTooLargeError, VersionGapError
from core.events import RecordedEvent
from core.store import MAX_EVENTS_PER_APPEND


def record(number: int, data: str = "{}", type_: str = "Happened") -> RecordedEvent:
    return RecordedEvent(number, type_, "2026-01-01T00:00:00.000000+00:00", data)


def test_reads_back_what_was_appended_in_order(event_store):
    event_store.append("a", 0, [record(1)])
    event_store.append("a", 1, [record(2), record(3)])
    assert [r.number for r in event_store.read("a")] == [1, 2, 3]
    assert [r.number for r in event_store.read("a", after=2)] == [3]
    assert list(event_store.read("missing")) == []


def test_streams_of_different_aggregates_are_separate(event_store):
    event_store.append("a", 0, [record(1, '{"x":1}')])
    event_store.append("b", 0, [record(1, '{"x":2}')])
    assert [r.data for r in event_store.read("b")] == ['{"x":2}']


def test_a_taken_number_is_a_conflict_and_writes_nothing(event_store):
    event_store.append("a", 0, [record(1)])
    with pytest.raises(ConcurrencyError, match="'a'.*version 0"):
        event_store.append("a", 0, [record(1, '{"other":true}')])
    with pytest.raises(ConcurrencyError):
        event_store.append("a", 0, [record(1), record(2)])
    assert [r.data for r in event_store.read("a")] == ["{}"]


def test_a_batch_is_all_or_nothing(event_store):
    event_store.append("a", 0, [record(1), record(2)])
    with pytest.raises(ConcurrencyError):
        event_store.append("a", 1, [record(2), record(3)])
    assert [r.number for r in event_store.read("a")] == [1, 2]


def test_append_checks_shape_before_sending(event_store):
    with pytest.raises(EventSourcingError, match="no events"):
        event_store.append("a", 0, [])
    with pytest.raises(EventSourcingError, match="must number its events 1..2"):
        event_store.append("a", 0, [record(1), record(3)])
    with pytest.raises(EventSourcingError, match=f"at most {MAX_EVENTS_PER_APPEND}"):
        event_store.append("a", 0, [record(n) for n in range(1, MAX_EVENTS_PER_APPEND + 2)])
    with pytest.raises(EventTooLargeError, match="400 KB|409,600"):
        event_store.append("a", 0, [record(1, '"' + "x" * 410_000 + '"')])
    assert list(event_store.read("a")) == []


def test_a_full_hundred_event_batch_lands(event_store):
    event_store.append("a", 0, [record(n) for n in range(1, MAX_EVENTS_PER_APPEND + 1)])
    assert [r.number for r in event_store.read("a")] == list(range(1, 101))


def test_an_append_past_the_stored_version_is_a_gap_and_writes_nothing(event_store):
    with pytest.raises(VersionGapError, match=r"'a' at version 2 refused.*no event #2.*event #3 would leave a gap"):
        event_store.append("a", 2, [record(3)])
    with pytest.raises(VersionGapError) as caught:
        event_store.append("a", 2, [record(3), record(4)])
    assert (caught.value.aggregate_id, caught.value.expected_version) == ("a", 2)
    assert list(event_store.read("a")) == []
    event_store.append("a", 0, [record(1)])
    with pytest.raises(VersionGapError, match="'a' at version 5"):
        event_store.append("a", 5, [record(6)])
    assert [r.number for r in event_store.read("a")] == [1]
    event_store.append("a", 1, [record(2)])  # the next one in line still lands
    assert [r.number for r in event_store.read("a")] == [1, 2]
