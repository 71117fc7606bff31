"""An in-process, bounded LRU cache of hydrated aggregates, so a warm Lambda reads only new events.

Entries hold the state encoded (the codec's JSON text), never the caller's objects: mutating an aggregate
after hydrate or commit cannot corrupt what the next caller gets.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import NamedTuple

from snapshots.store import Stored

#: Enough for a busy Lambda's working set; an entry is its encoded state (about 300 bytes for a loan).
DEFAULT_SIZE = 1024


class Entry(NamedTuple):
    version: int
    state: str
    #: The latest valid snapshot's version (drives the policy) and the stored snapshot it saw (to replace).
    snapshot_version: int
    stored: Stored | None


class AggregateCache:
    """Thread-safe LRU keyed by (aggregate class, table, id); `size=0` keeps nothing."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[type, str, str], Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[type, str, str]) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: tuple[type, str, str], entry: Entry) -> None:
        if self.size <= 0:
            return
        with self._lock:
            current = self._entries.get(key)
            if current is not None and current.version > entry.version:
                return  # a newer state is cached already (another thread committed past this one)
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def discard(self, key: tuple[type, str, str]) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
