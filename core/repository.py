"""The repository: how an aggregate is loaded from and appended to its store.

It is the seam the snapshot and caching layers extend: `hydrate` folds what the store holds after the
aggregate's version, `append` writes, and `committed` runs after a successful append.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import EventSourcingError, IllegalEventNumberError, StoredEventError
from core.event_types import MISSING, check_fields
from core.events import Event, RecordedEvent, from_record

if TYPE_CHECKING:
    from core.aggregate import Aggregate
    from core.store import EventStore, KeyMarker


@dataclass(frozen=True)
class Loaded:
    """What one hydrate did: events folded from the log, and the snapshot it started from (if any)."""

    events_read: int
    snapshot_version: int | None = None
    snapshot_skipped: str | None = None


class Repository:
    """Loads and saves aggregates of one events table."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def events(self, aggregate_id: str, after: int = 0) -> Iterator[Event]:
        for record in self.store.read(aggregate_id, after):
            yield from_record(record)

    def hydrate(self, aggregate: Aggregate) -> Loaded:
        """Fold the events after the aggregate's version."""
        return Loaded(fold(aggregate, self.store.read(aggregate.id, aggregate.version)))

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


def version_from_store(aggregate: Aggregate) -> bool:
    """True when the aggregate's version came from its store (or is 0), not from `hydrate(events)`/`apply`.

    A cache of aggregates keeps only states for which this holds, so a state restored from it is one too.
    """
    return not aggregate._ahead_of_store


def fold(aggregate: Aggregate, records: Iterator[RecordedEvent]) -> int:
    """Decode and apply stored events one at a time (constant memory); a stored event that cannot be
    decoded or applied raises `StoredEventError` naming the aggregate, the event and the reason.

    Every replay runs this loop, so it does what `Aggregate._apply_one` does inline (the same checks in
    the same order), unless a subclass overrides `_apply_one`.
    """
    from core.aggregate import Aggregate

    applied = (_fold_each if type(aggregate)._apply_one is not Aggregate._apply_one else _fold_fast)(
        aggregate, records
    )
    if applied:
        aggregate._ahead_of_store = False  # the store holds the event of the version reached
    return applied


def _fold_fast(aggregate: Aggregate, records: Iterator[RecordedEvent]) -> int:
    cls = type(aggregate)
    dispatch, find = cls._dispatch, cls._handler
    applied = 0
    for record in records:
        try:
            event = from_record(record)
            number = event.number
            if number != aggregate.version + 1:
                raise IllegalEventNumberError(aggregate.version, number)
            handler, needs = dispatch.get(event.type) or find(event.type)
            if needs:
                data = event.data
                for name, kind in needs:
                    if type(data.get(name, MISSING)) is not kind:  # the usual case is one exact type check
                        check_fields(event, needs)
                        break
            handler(aggregate, event)
        except Exception as exc:  # whatever the reason (damaged bytes, a handler's refusal or bug), name the event
            raise _named(aggregate, record, exc) from exc
        aggregate.version = number
        applied += 1
    return applied


def _fold_each(aggregate: Aggregate, records: Iterator[RecordedEvent]) -> int:
    applied = 0
    for record in records:
        try:
            aggregate._apply_one(from_record(record))
        except Exception as exc:  # whatever the reason (damaged bytes, a handler's refusal or bug), name the event
            raise _named(aggregate, record, exc) from exc
        applied += 1
    return applied


def _named(aggregate: Aggregate, record: RecordedEvent, exc: Exception) -> StoredEventError:
    """The log's fault (or the code's), never the caller's: a stored event that cannot be folded."""
    reason = str(exc) if isinstance(exc, EventSourcingError) else f"{type(exc).__name__}: {exc}"
    return StoredEventError(aggregate.id, record.number, record.type, reason)


@functools.cache
def default_repository(table: str) -> Repository:
    """The repository `Aggregate(id)` uses when none is injected: DynamoDB, from configuration."""
    from core.dynamodb import DynamoDBEventStore

    return Repository(DynamoDBEventStore(table))


def reset_defaults() -> None:
    default_repository.cache_clear()
