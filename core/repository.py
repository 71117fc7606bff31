"""The repository: how an aggregate is loaded from and appended to its store.

It is the seam the snapshot and caching layers extend: `hydrate` folds what the store holds after the
aggregate's version, `append` writes, and `committed` runs after a successful append.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core import aggregate as aggregates
from core.aggregate import version_from_store
from core.events import Event, RecordedEvent, from_record

if TYPE_CHECKING:
    from core.aggregate import Aggregate
    from core.personal import Sealer
    from core.store import EventStore, KeyMarker


@dataclass(frozen=True)
class Loaded:
    """What one hydrate did: events folded from the log, and the snapshot it started from (if any)."""

    events_read: int
    snapshot_version: int | None = None
    snapshot_skipped: str | None = None


class Repository:
    """Loads and saves aggregates of one events table."""

    #: Seals personal fields before they are stored (`core.personal`); None: this repository stores none.
    sealer: Sealer | None = None

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def events(self, aggregate_id: str, after: int = 0) -> Iterator[Event]:
        for record in self.store.read(aggregate_id, after):
            yield from_record(record)

    def hydrate(self, aggregate: Aggregate) -> Loaded:
        """Fold the events after the aggregate's version."""
        return Loaded(apply_stored(aggregate, self.store.read(aggregate.id, aggregate.version)))

    def restore_cached(self, aggregate: Aggregate) -> bool:
        """Bring a fresh aggregate to its last known state without I/O, if this repository keeps one.

        `core.retry.execute` tries this first, so a command on a cached aggregate goes straight to the
        conditional append; a stale cache costs one conflict and a catch-up read, never a wrong write.
        """
        return False

    def append(
        self,
        aggregate: Aggregate,
        expected_version: int,
        records: Sequence[RecordedEvent],
        marker: KeyMarker | None = None,
    ) -> None:
        """Append, telling the store whether the aggregate's version came from it (a hydrate through this
        repository, a commit, or a cached state of those): if not, the store first checks it holds event
        `expected_version`, so an aggregate advanced by `hydrate(events)` or `apply` cannot write a gap.
        A `marker` (an idempotency key) is written in the same atomic write; only keyed appends pass one."""
        from_store = version_from_store(aggregate)
        if marker is None:
            self.store.append(aggregate.id, expected_version, records, version_from_store=from_store)
        else:
            self.store.append(aggregate.id, expected_version, records, version_from_store=from_store, marker=marker)

    def committed(self, aggregate: Aggregate, events: Sequence[Event]) -> None:
        """Runs after a successful append; the base repository has nothing more to do."""


def apply_stored(aggregate: Aggregate, records: Iterable[RecordedEvent]) -> int:
    """Decode and apply stored events one at a time (constant memory); a stored event that cannot be
    decoded or applied raises `StoredEventError` naming the aggregate, the event and the reason.

    The loop is `core.aggregate.apply_events`, the one every other way of applying events runs too.
    """
    return aggregates.apply_events(aggregate, records, from_record, stored=True)
