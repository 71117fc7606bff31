"""The snapshot store contract, and the in-memory fake that keeps it for tests and benchmarks.

`get(aggregate_type, aggregate_id)` returns the latest snapshot (or None); it raises `SnapshotCorruptError`
when the stored bytes cannot even be read as an envelope. `put(snapshot, replaces=None)` writes it and
returns True, or returns False when it can see a snapshot of the same or a newer version there already.
Whatever order racing writers land in, `get` then returns the newest: an older snapshot never replaces a
newer one. `replaces` (a `Stored`) names the stored snapshot the writer last saw: a store that keeps one
item per version deletes it once superseded, and a snapshot the reader found unusable (stale, corrupt,
impossible) is replaced even at the same or a higher version, conditionally on being exactly that copy
(its `token`), so a good snapshot another writer put there meanwhile is never overwritten.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import NamedTuple, Protocol

from snapshots.envelope import Snapshot


class Stored(NamedTuple):
    """A stored snapshot as a reader saw it: its version (None when unreadable) and its token."""

    version: int | None
    token: str | None


class SnapshotStore(Protocol):
    def get(self, aggregate_type: str, aggregate_id: str) -> Snapshot | None: ...

    def put(self, snapshot: Snapshot, replaces: Stored | None = None) -> bool: ...


class InMemorySnapshotStore:
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
