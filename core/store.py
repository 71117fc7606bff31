"""The event store contract: two operations over encoded events, nothing about the domain.

`read(id, after=0, until=None)` streams an aggregate's events numbered above `after` (and at most `until`, when
given: a store reads no further, so a read of the past costs what it holds), oldest first, in constant memory.
`append(id, expected_version, events)` writes events numbered `expected_version + 1 ...`, all or nothing,
raises `ConcurrencyError` when any of those numbers is already taken, and `VersionGapError` when the store
does not hold event `expected_version` (no gaps, ever). With `version_from_store=True` the caller says it read
`expected_version` from this store, so a store for which proving it costs a request may skip that proof.

What the read side needs, without ever seeing a backend's items:
`read_backwards(id, before=None)` streams an aggregate's events numbered below `before` (all of them when
None), newest first, lazily: a reader that wants the newest few pays for few.
`scan(segment=0, of=1, start_after=None)` streams every event in the store as `(aggregate_id, event)`, the
part `segment` of `of` disjoint parts whose union is the whole store (a rebuild's workers each take one).
Each aggregate lies wholly in one segment and its events come oldest first; `start_after=(id, number)`, the
position of an event this segment yielded, resumes right after it (a worker's checkpoint).
`estimate()` is about how many events the store holds (None when it cannot tell), for progress bars.
Items a backend keeps beside the events (a snapshot in the aggregate's partition) are never yielded.
Bad arguments raise `InvalidReadError` naming the argument before anything is read; so does a `start_after`
that is not in the segment (DynamoDB refuses its key; the in-memory store knows each id's segment).

A keyed append (`marker=KeyMarker(...)`) records an idempotency key in the same atomic write as the events:
if the store already holds the key it writes nothing and raises `AlreadyCommittedError` carrying the first
attempt's reply (same request hash) or `KeyReusedError` (another request), ahead of any version conflict.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

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

#: DynamoDB's TransactWriteItems limit, which bounds one atomic append on every backend.
MAX_EVENTS_PER_APPEND = 100
#: DynamoDB's item size limit (400 KB, counted in bytes of attribute names and values).
MAX_ITEM_BYTES = 400 * 1024
#: TransactWriteItems' limit on the total size of the items in one request.
MAX_APPEND_BYTES = 4 * 1024 * 1024
#: DynamoDB's limit on a parallel Scan's TotalSegments, which bounds `scan(of=...)` on every backend.
MAX_SEGMENTS = 1_000_000


@dataclass(frozen=True)
class KeyMarker:
    """An idempotency key written atomically with the events it commits: `key` (the item's id in `table`)
    stands for the request hashed as `request_hash`, which was answered `reply`; it expires at `expires_at`
    (epoch seconds, the table's TTL attribute)."""

    table: str
    key: str
    request_hash: str
    aggregate_id: str
    reply: str
    expires_at: int

    def check_room(self, aggregate_id: str, events: Sequence[RecordedEvent]) -> None:
        """The marker takes one of the transaction's items: a keyed append holds one event fewer."""
        if len(events) >= MAX_EVENTS_PER_APPEND:
            raise EventSourcingError(
                f"keyed append to {aggregate_id!r} has {len(events)} events; with its idempotency key one atomic "
                f"append holds at most {MAX_EVENTS_PER_APPEND - 1}"
            )

    def check(self, stored: KeyMarker | None) -> None:
        """Raise what a keyed append must when `stored` (the store's marker under this key) exists."""
        if stored is None:
            return
        if stored.request_hash != self.request_hash:
            raise KeyReusedError(self.key)
        raise AlreadyCommittedError(self.key, stored.reply)


class EventStore(Protocol):
    def read(self, aggregate_id: str, after: int = 0, until: int | None = None) -> Iterator[RecordedEvent]: ...

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[RecordedEvent],
        *,
        version_from_store: bool = False,
        marker: KeyMarker | None = None,
    ) -> None: ...

    def read_backwards(self, aggregate_id: str, before: int | None = None) -> Iterator[RecordedEvent]: ...

    def scan(
        self, segment: int = 0, of: int = 1, start_after: tuple[str, int] | None = None
    ) -> Iterator[tuple[str, RecordedEvent]]: ...

    def estimate(self) -> int | None: ...


def check_until(until: int | None) -> None:
    """`read`'s upper bound must be a whole number (or None, for the newest)."""
    if until is not None and (isinstance(until, bool) or not isinstance(until, int)):
        raise InvalidReadError("until", f"read's `until` must be a whole event number or None, not {_shown(until)}")


def check_before(before: int | None) -> None:
    """`read_backwards`'s bound must be a whole number (or None, for the newest)."""
    if before is not None and (isinstance(before, bool) or not isinstance(before, int)):
        raise InvalidReadError("before", f"read_backwards' `before` must be a whole event number or None, "
                                         f"not {_shown(before)}")


def check_scan(segment: int, of: int, start_after: tuple[str, int] | None) -> tuple[str, int] | None:
    """Validate a scan's arguments before anything is read; returns `start_after` as a tuple (a checkpoint
    read back from JSON may be a list)."""
    if isinstance(of, bool) or not isinstance(of, int) or not 1 <= of <= MAX_SEGMENTS:
        raise InvalidReadError("of", f"scan's `of` (how many segments) must be a whole number from 1 to "
                                     f"{MAX_SEGMENTS:,} (DynamoDB's TotalSegments limit), not {_shown(of)}")
    if isinstance(segment, bool) or not isinstance(segment, int) or not 0 <= segment < of:
        raise InvalidReadError("segment", f"scan's `segment` must be a whole number from 0 to {of - 1} "
                                          f"(one of of={of} segments), not {_shown(segment)}")
    if start_after is None:
        return None
    if isinstance(start_after, (tuple, list)) and len(start_after) == 2:
        aggregate_id, number = start_after
        if isinstance(aggregate_id, str) and aggregate_id and isinstance(number, int) \
                and not isinstance(number, bool) and number >= 1:
            return aggregate_id, number
    raise InvalidReadError("start_after", f"scan's `start_after` must be (aggregate id, event number from 1), "
                                          f"the position of an event the scan yielded, not {_shown(start_after)}")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}... ({len(text):,} characters)"


def segment_of(aggregate_id: str, of: int) -> int:
    """The segment of `of` an aggregate's events lie in, in the in-memory store: a stable digest of the id,
    the same in every process (`hash()` is seeded per process)."""
    digest = hashlib.blake2b(aggregate_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % of


def check_append(aggregate_id: str, expected_version: int, events: Sequence[RecordedEvent],
                 marker: KeyMarker | None = None) -> None:
    """Validate an append's shape before any backend sends anything (a keyed one has one item fewer)."""
    if not events:
        raise EventSourcingError(f"append to {aggregate_id!r} has no events")
    if len(events) > MAX_EVENTS_PER_APPEND:
        raise EventSourcingError(
            f"append to {aggregate_id!r} has {len(events)} events; one atomic append holds at most "
            f"{MAX_EVENTS_PER_APPEND} (DynamoDB's transaction limit): commit them in batches"
        )
    total = 0
    for offset, event in enumerate(events, start=1):
        if event.number != expected_version + offset:
            raise EventSourcingError(
                f"append to {aggregate_id!r} at version {expected_version} must number its events "
                f"{expected_version + 1}..{expected_version + len(events)}; event {offset} is {event.number}"
            )
        size = record_size(aggregate_id, event)
        if size > MAX_ITEM_BYTES:
            raise EventTooLargeError(event.type, size, MAX_ITEM_BYTES)
        total += size
    if total > MAX_APPEND_BYTES:
        raise EventTooLargeError(f"{len(events)} events together", total, MAX_APPEND_BYTES)
    if marker is not None:
        marker.check_room(aggregate_id, events)


def record_size(aggregate_id: str, event: RecordedEvent) -> int:
    """The event's size as a DynamoDB item: UTF-8 names and values; a number counts at most 21 bytes."""
    size = len("id") + len(aggregate_id.encode()) + len("number") + min(21, len(str(event.number)) // 2 + 1)
    size += len("type") + len(event.type.encode()) + len("created") + len(event.created.encode())
    size += len("data") + len(event.data.encode())
    if event.meta:
        size += len("meta") + len(event.meta.encode())
    if event.version != 1:
        size += len("v") + len(str(event.version)) // 2 + 1
    return size


class InMemoryEventStore:
    """A thread-safe fake with the same contract as the DynamoDB store, for tests and the benchmarks."""

    def __init__(self) -> None:
        self._streams: dict[str, list[RecordedEvent]] = {}
        self.markers: dict[tuple[str, str], KeyMarker] = {}
        self._lock = threading.Lock()

    def read(self, aggregate_id: str, after: int = 0, until: int | None = None) -> Iterator[RecordedEvent]:
        check_until(until)
        return self._read(aggregate_id, after, until)

    def _read(self, aggregate_id: str, after: int, until: int | None) -> Iterator[RecordedEvent]:
        stream = self._streams.get(aggregate_id, [])
        position = max(after, 0)
        while position < len(stream) and (until is None or position < until):  # event n sits at position n - 1
            yield stream[position]  # index by position: no copy of a long history
            position += 1

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[RecordedEvent],
        *,
        version_from_store: bool = False,
        marker: KeyMarker | None = None,
    ) -> None:
        """Checks the version under the lock for free, whatever `version_from_store` says."""
        check_append(aggregate_id, expected_version, events, marker)
        with self._lock:
            if marker is not None:  # markers never expire here: a fake runs for minutes, not for the TTL
                marker.check(self.markers.get((marker.table, marker.key)))
            stream = self._streams.get(aggregate_id, [])
            if len(stream) > expected_version:
                raise ConcurrencyError(aggregate_id, expected_version, f"it is at version {len(stream)}")
            if len(stream) < expected_version:
                raise VersionGapError(aggregate_id, expected_version, len(stream))
            self._streams.setdefault(aggregate_id, stream).extend(events)
            if marker is not None:
                self.markers[(marker.table, marker.key)] = marker

    def read_backwards(self, aggregate_id: str, before: int | None = None) -> Iterator[RecordedEvent]:
        check_before(before)
        return self._backwards(aggregate_id, before)

    def _backwards(self, aggregate_id: str, before: int | None) -> Iterator[RecordedEvent]:
        stream = self._streams.get(aggregate_id, [])
        position = len(stream) if before is None else min(max(before - 1, 0), len(stream))
        while position > 0:  # event n sits at position n - 1
            position -= 1
            yield stream[position]

    def scan(
        self, segment: int = 0, of: int = 1, start_after: tuple[str, int] | None = None
    ) -> Iterator[tuple[str, RecordedEvent]]:
        """Segments by a stable digest of the id (`segment_of`); within one, aggregates in id order."""
        start = check_scan(segment, of, start_after)
        if start is not None and segment_of(start[0], of) != segment:
            raise InvalidReadError("start_after", f"scan's `start_after` {_shown(start)} is not in segment "
                                                  f"{segment} of {of}: resume a segment from its own position")
        return self._scan(segment, of, start)

    def _scan(self, segment: int, of: int, start: tuple[str, int] | None) -> Iterator[tuple[str, RecordedEvent]]:
        with self._lock:
            ids = sorted(aggregate_id for aggregate_id in self._streams
                         if of == 1 or segment_of(aggregate_id, of) == segment)
        for aggregate_id in ids:
            after = 0
            if start is not None:
                if aggregate_id < start[0]:
                    continue
                after = start[1] if aggregate_id == start[0] else 0
            for event in self.read(aggregate_id, after):
                yield aggregate_id, event

    def estimate(self) -> int | None:
        """Exact here."""
        with self._lock:
            return sum(len(stream) for stream in self._streams.values())

    def find_marker(self, table: str, key: str) -> KeyMarker | None:
        """The marker a keyed append recorded under `key`, if any."""
        return self.markers.get((table, key))

    def aggregate_ids(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._streams))
