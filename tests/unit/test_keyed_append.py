"""The keyed append (an idempotency marker committed with the events), run on both stores: the in-memory fake
and DynamoDB on moto."""

from __future__ import annotations

import pytest

from core import ConcurrencyError, DynamoDBEventStore, EventSourcingError
from core.errors import AlreadyCommittedError, KeyReusedError
from core.events import RecordedEvent
from core.store import MAX_EVENTS_PER_APPEND, KeyMarker
from handlers import idempotency
from handlers.settings import Settings
from handlers.tables import ensure_table

TABLE = "Idempotency"


def record(number: int, data: str = "{}") -> RecordedEvent:
    return RecordedEvent(number, "Happened", "2026-01-01T00:00:00.000000+00:00", data)


def marker(key: str = "k1", request_hash: str = "h1", reply: str = '{"status": 201}') -> KeyMarker:
    return KeyMarker(TABLE, key, request_hash, "a", reply, 2_000_000_000)


@pytest.fixture
def store(event_store):
    if isinstance(event_store, DynamoDBEventStore):
        ensure_table(event_store.client, {**idempotency.table_definition(Settings()), "TableName": TABLE})
    return event_store


def numbers(store, aggregate_id: str = "a") -> list[int]:
    return [event.number for event in store.read(aggregate_id)]


def test_a_keyed_append_writes_the_events_and_the_marker(store):
    store.append("a", 0, [record(1)], marker=marker())
    assert numbers(store) == [1]
    assert store.find_marker(TABLE, "k1") == marker()
    assert store.find_marker(TABLE, "other") is None


@pytest.mark.parametrize("version", [0, 1])
def test_the_same_request_again_gets_the_first_reply_and_writes_nothing(store, version):
    """At the first attempt's version (the retried open) and at the next one (a retried command that
    re-read the state): the key decides, not the version."""
    store.append("a", 0, [record(1)], marker=marker(reply="first"))
    with pytest.raises(AlreadyCommittedError) as caught:
        store.append("a", version, [record(version + 1)], marker=marker(reply="second"))
    assert caught.value.reply == "first"
    assert numbers(store) == [1]


def test_the_same_key_for_another_request_is_refused_and_writes_nothing(store):
    store.append("a", 0, [record(1)], marker=marker())
    with pytest.raises(KeyReusedError, match="'k1'"):
        store.append("a", 1, [record(2), record(3)], marker=marker(request_hash="h2"))
    assert numbers(store) == [1]


def test_a_conflict_writes_no_marker_so_the_key_stays_free(store):
    store.append("a", 0, [record(1)])
    with pytest.raises(ConcurrencyError):
        store.append("a", 0, [record(1)], marker=marker())
    assert store.find_marker(TABLE, "k1") is None
    store.append("a", 1, [record(2)], marker=marker())
    assert numbers(store) == [1, 2] and store.find_marker(TABLE, "k1") == marker()


def test_keys_are_separate(store):
    store.append("a", 0, [record(1)], marker=marker("k1"))
    store.append("a", 1, [record(2)], marker=marker("k2"))
    assert numbers(store) == [1, 2]


def test_a_keyed_append_holds_one_event_fewer_and_says_so(store):
    full = [record(n) for n in range(1, MAX_EVENTS_PER_APPEND + 1)]
    with pytest.raises(EventSourcingError, match=f"at most {MAX_EVENTS_PER_APPEND - 1}"):
        store.append("a", 0, full, marker=marker())
    assert numbers(store) == [] and store.find_marker(TABLE, "k1") is None
    store.append("a", 0, full[:-1], marker=marker())
    assert numbers(store) == list(range(1, MAX_EVENTS_PER_APPEND))
