"""The repository: how an aggregate is loaded from and appended to its store.

It is the seam the snapshot and caching layers extend: `hydrate` folds what the store holds after the
aggregate's version, `append` writes, and `committed` runs after a successful append.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import takewhile
from typing import TYPE_CHECKING

from core import aggregate as aggregates
from core.aggregate import version_from_store
from core.errors import InvalidReadError
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


@dataclass(frozen=True)
class Until:
    """A point in an aggregate's history: up to event `version`, and/or up to the last event created at or
    before `as_of` (events are read in number order and the read stops at the first one created after it;
    commit times grow with numbers while writers' clocks agree). Checked before anything is read."""

    version: int | None = None
    as_of: datetime | None = None

    def __post_init__(self) -> None:
        if self.version is None and self.as_of is None:
            raise InvalidReadError("until_version", "a point in history needs `until_version` or `as_of`")
        if self.version is not None and (isinstance(self.version, bool) or not isinstance(self.version, int)
                                         or self.version < 1):
            raise InvalidReadError("until_version", f"`until_version` must be an event number from 1, "
                                                    f"not {self.version!r}")
        if self.as_of is not None and (not isinstance(self.as_of, datetime) or self.as_of.utcoffset() is None):
            raise InvalidReadError("as_of", f"`as_of` must be a timezone-aware datetime, not {self.as_of!r}")

    @staticmethod
    def parse_as_of(text: str, name: str = "as_of") -> datetime:
        """An ISO-8601 date and time with its offset (`2026-03-31T23:59:59Z`, `...+02:00`), or `InvalidReadError`
        naming `name` (the caller's parameter) and saying what was wrong."""
        shown = text if len(text) <= 40 else f"{text[:40]}... ({len(text):,} characters)"
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidReadError(name, f"{name} must be an ISO-8601 date and time with its offset, such as "
                                         f"2026-03-31T23:59:59Z, not {shown!r}") from None
        if moment.utcoffset() is None:
            raise InvalidReadError(name, f"{name} {shown!r} has no offset: add Z (UTC) or +HH:MM")
        return moment

    def admits(self, record: RecordedEvent) -> bool:
        """Whether the stored event lies at or before this point."""
        if self.version is not None and record.number > self.version:
            return False
        return self.as_of is None or datetime.fromisoformat(record.created) <= self.as_of

    def admits_snapshot(self, version: int, created: str) -> bool:
        """Whether a snapshot of `version`, written at `created`, holds only events at or before this point: a
        snapshot is written after the events it includes, so its own time bounds theirs."""
        if self.version is not None and version > self.version:
            return False
        return self.as_of is None or datetime.fromisoformat(created) <= self.as_of


class Repository:
    """Loads and saves aggregates of one events table."""

    #: Seals personal fields before they are stored (`core.personal`); None: this repository stores none.
    sealer: Sealer | None = None

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def events(self, aggregate_id: str, after: int = 0,
               decode: Callable[[RecordedEvent], Event] = from_record) -> Iterator[Event]:
        """The stored events after `after`, decoded by `decode` (an aggregate class's, upcasting included)."""
        for record in self.store.read(aggregate_id, after):
            yield decode(record)

    def hydrate(self, aggregate: Aggregate) -> Loaded:
        """Fold the events after the aggregate's version."""
        return Loaded(apply_stored(aggregate, self.store.read(aggregate.id, aggregate.version)))

    def hydrate_until(self, aggregate: Aggregate, until: Until) -> Loaded:
        """Fold the events after the aggregate's version up to `until` (the read stops there)."""
        records = self.store.read(aggregate.id, aggregate.version, until.version)
        return Loaded(apply_stored(aggregate, takewhile(until.admits, records)))

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

    The loop is `core.aggregate.apply_records`: `apply_events`, the one every other way of applying events runs,
    with the decoding of stored events inlined.
    """
    return aggregates.apply_records(aggregate, records)
