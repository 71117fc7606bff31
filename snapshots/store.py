"""The snapshot store contract, and the in-memory fake that keeps it for tests and benchmarks.

`get(aggregate_type, aggregate_id)` returns the latest snapshot (or None); it raises `SnapshotCorruptError`
when the stored bytes cannot even be read as an envelope. `put(snapshot, replaces=None)` writes it and
returns True, or returns False when it can see a snapshot of the same or a newer version there already.
Whatever order racing writers land in, `get` then returns the newest: an older snapshot never replaces a
newer one. `replaces` names the version the writer loaded, for stores that keep one item per version and
delete the one it supersedes.
"""

from __future__ import annotations

import threading
from typing import Protocol

from snapshots.envelope import Snapshot


class SnapshotStore(Protocol):
    def get(self, aggregate_type: str, aggregate_id: str) -> Snapshot | None: ...

    def put(self, snapshot: Snapshot, replaces: int | None = None) -> bool: ...


class InMemorySnapshotStore:
    """Thread-safe fake: one snapshot per aggregate, compare-and-set on the version."""

    def __init__(self) -> None:
        self._snapshots: dict[tuple[str, str], Snapshot] = {}
        self._lock = threading.Lock()

    def get(self, aggregate_type: str, aggregate_id: str) -> Snapshot | None:
        return self._snapshots.get((aggregate_type, aggregate_id))

    def put(self, snapshot: Snapshot, replaces: int | None = None) -> bool:
        key = (snapshot.aggregate_type, snapshot.aggregate_id)
        with self._lock:
            current = self._snapshots.get(key)
            if current is not None and current.version >= snapshot.version:
                return False
            self._snapshots[key] = snapshot
            return True
