"""The snapshot store contract, and the in-memory fake that keeps it for tests and benchmarks.

`get(aggregate_type, aggregate_id)` returns the latest snapshot (or None); it raises `SnapshotCorruptError`
when the stored bytes cannot even be read as an envelope. `put(snapshot, replaces=None)` writes it and
returns True, or returns False when it can see a snapshot of the same or a newer version there already.
Whatever order racing writers land in, `get` then returns the newest: an older snapshot never replaces a
newer one. `replaces` (a `Stored`) names the stored snapshot the writer last saw: a store that keeps one
item per version deletes it once superseded, and a snapshot the reader found unusable (stale, corrupt,
impossible) is replaced even at the same or a higher version, conditionally on being exactly that copy
(its `token`), so a good snapshot another writer put there meanwhile is never overwritten.

How a hydrate reads is each store's own access strategy, so the repository never asks which store it has:
`load(aggregate_type, aggregate_id, events, interval)` gives the `Head`: the latest snapshot (or why none can
be used) and the events after it. A store kept apart from the log (S3, memory: `SeparateSnapshotStore`)
gets the snapshot, then reads the log from the snapshot's own event; the DynamoDB store, which keeps
snapshots in the aggregate's partition of the events table, reads snapshot and tail in one Query.
`catch_up(aggregate_id, after, events, seen)` reads the events after a version an aggregate already holds,
adding to `seen` the snapshots the read passed (the in-partition store sees them for free).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import dropwhile
from typing import TYPE_CHECKING, NamedTuple, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from core.errors import StoreError
from snapshots.envelope import Snapshot
from snapshots.errors import SnapshotCorruptError
from snapshots.policy import DEFAULT_EVERY

if TYPE_CHECKING:
    from core.events import RecordedEvent
    from core.store import EventStore


class Stored(NamedTuple):
    """A stored snapshot as a reader saw it: its version (None when unreadable) and its token."""

    version: int | None
    token: str | None


class Seen(NamedTuple):
    """A snapshot a catch-up read passed: where it is stored, and the snapshot (None when it is unreadable)."""

    stored: Stored
    snapshot: Snapshot | None


def _no_gap() -> str | None:
    return None


@dataclass
class Head:
    """What `load` found for one aggregate, for the repository to fold.

    `snapshot` is the latest readable snapshot, not yet checked against the aggregate's class; `stored` names
    the stored copy (to replace it when it is unusable); `skipped` says why a stored snapshot cannot be used
    at all ("corrupt: ...", "unavailable: ..."). `tail` is the events after the snapshot, oldest first; with
    no snapshot it is the whole log when `complete`, else the caller replays. `gap()` says, once the
    snapshot's class checks out, why the log cannot hold it ("impossible: ..."), or None; it may read the log.
    """

    snapshot: Snapshot | None = None
    stored: Stored | None = None
    skipped: str | None = None
    tail: Iterator[RecordedEvent] = field(default_factory=lambda: iter(()))
    complete: bool = False
    gap: Callable[[], str | None] = _no_gap


class SnapshotStore(Protocol):
    def get(self, aggregate_type: str, aggregate_id: str) -> Snapshot | None: ...

    def put(self, snapshot: Snapshot, replaces: Stored | None = None) -> bool: ...

    def load(self, aggregate_type: str, aggregate_id: str, events: EventStore, interval: int = DEFAULT_EVERY) -> Head:
        ...

    def catch_up(self, aggregate_id: str, after: int, events: EventStore, seen: list[Seen]) -> Iterator[RecordedEvent]:
        ...


class SeparateSnapshotStore:
    """The access strategy of a snapshot store kept apart from the log: `get` (one request), then the log
    from the snapshot's own event (one more), which also proves the log reaches it. A subclass gives `get`.

    A snapshot is an optimisation: one that cannot be read, or a store that cannot be reached, costs a
    replay from the log, never the hydrate.
    """

    def get(self, aggregate_type: str, aggregate_id: str) -> Snapshot | None:
        raise NotImplementedError

    def load(self, aggregate_type: str, aggregate_id: str, events: EventStore, interval: int = DEFAULT_EVERY) -> Head:
        try:
            snapshot = self.get(aggregate_type, aggregate_id)
        except SnapshotCorruptError as exc:
            return Head(stored=Stored(exc.version, exc.token), skipped=f"corrupt: {exc}")
        except (StoreError, ClientError, BotoCoreError) as exc:  # the log decides
            return Head(skipped=f"unavailable: {describe(exc)}")
        if snapshot is None:
            return Head()
        version = snapshot.version
        records = events.read(aggregate_id, version - 1)  # lazy: nothing is read until the gap check or the fold

        found: list[str | None] = []  # the answer, once the log's first record has been read

        def gap() -> str | None:
            if not found:
                first = next(records, None)
                reaches = first is not None and first.number == version
                found.append(None if reaches else f"impossible: snapshot at version {version} is beyond the "
                                                  "log's last event")
            return found[0]

        return Head(snapshot, Stored(version, snapshot.token),
                    tail=dropwhile(lambda record: record.number <= version, records), gap=gap)

    def catch_up(self, aggregate_id: str, after: int, events: EventStore, seen: list[Seen]) -> Iterator[RecordedEvent]:
        return events.read(aggregate_id, after)


def describe(exc: Exception) -> str:
    """An AWS error as `Code: message`; anything else as its text."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', exc)}"
    return str(exc)


class InMemorySnapshotStore(SeparateSnapshotStore):
    """Thread-safe fake: one snapshot per aggregate, compare-and-set on the version."""

    def __init__(self) -> None:
        self._snapshots: dict[tuple[str, str], Snapshot] = {}
        self._lock = threading.Lock()

    def get(self, aggregate_type: str, aggregate_id: str) -> Snapshot | None:
        current = self._snapshots.get((aggregate_type, aggregate_id))
        return None if current is None else replace(current, token=current.checksum)

    def put(self, snapshot: Snapshot, replaces: Stored | None = None) -> bool:
        key = (snapshot.aggregate_type, snapshot.aggregate_id)
        with self._lock:
            current = self._snapshots.get(key)
            if current is not None and not named(replaces, current.version, current.checksum) \
                    and current.version >= snapshot.version:
                return False
            self._snapshots[key] = snapshot
            return True


def named(replaces: Stored | None, version: int | None, token: str | None) -> bool:
    """Whether the writer named exactly this stored copy (so may replace it whatever its version)."""
    return replaces is not None and replaces.token is not None and replaces == (version, token)
