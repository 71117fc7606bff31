"""The snapshotting repository: hydrate = cached state or latest valid snapshot, plus the tail after it.

It extends `core.repository.Repository` at its seams: `hydrate` starts the fold from a snapshot,
`committed` takes one when the policy says so (after the append succeeded; a failed snapshot write is
logged and never fails the command), and `restore_cached` lets a command on a warm aggregate go straight
to the conditional append. A stale, corrupt or impossible snapshot is skipped with a warning and a count
in `COUNTERS`; hydrate then replays the whole log, which gives the right state. So is a snapshot whose
state passes its checksum but cannot be folded on (a field of the wrong type): the log decides.
"""

from __future__ import annotations

import logging
import weakref
from collections import Counter
from collections.abc import Iterator, Sequence
from itertools import takewhile
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from core import codec
from core.aggregate import version_from_store
from core.errors import CodecError, StoreError
from core.repository import Loaded, Repository, Until, apply_stored
from snapshots.cache import AggregateCache, Entry
from snapshots.envelope import Snapshot, problem, restore, take
from snapshots.errors import SnapshotCorruptError
from snapshots.policy import SnapshotPolicy
from snapshots.store import Seen, Stored

if TYPE_CHECKING:
    from core.aggregate import Aggregate
    from core.events import Event, RecordedEvent
    from core.store import EventStore
    from snapshots.store import SnapshotStore

logger = logging.getLogger(__name__)

#: Counts by outcome: `hit` (hydrate started from a snapshot), `skipped_stale`, `skipped_corrupt`,
#: `skipped_impossible`, `skipped_unavailable` (a separate snapshot store could not be read), `written`,
#: `write_failed`, `cache_hit`. Library code keeps a plain counter; `snapshots.metrics` says what one call
#: added, for a Lambda handler to publish and `aws-es hydrate` to show.
COUNTERS: Counter[str] = Counter()


class SnapshottingRepository(Repository):
    """A `Repository` that reads and writes snapshots and keeps recently used aggregates in memory."""

    def __init__(
        self,
        store: EventStore,
        snapshots: SnapshotStore | None = None,
        policy: SnapshotPolicy | None = None,
        cache: AggregateCache | None = None,
    ) -> None:
        super().__init__(store)
        self.snapshots = snapshots
        self.policy = policy or SnapshotPolicy()
        self.cache = cache

    # -- hydrate -------------------------------------------------------------------------------------------

    def hydrate(self, aggregate: Aggregate) -> Loaded:
        if aggregate.version > 0 or self._from_cache(aggregate):
            loaded = self._catch_up(aggregate)
        elif self.snapshots is None:
            loaded = Loaded(apply_stored(aggregate, self.store.read(aggregate.id, 0)))
        else:
            loaded = self._load(aggregate, self.snapshots)
        self._remember(aggregate)
        return loaded

    def restore_cached(self, aggregate: Aggregate) -> bool:
        return aggregate.version == 0 and self._from_cache(aggregate)

    def hydrate_until(self, aggregate: Aggregate, until: Until) -> Loaded:
        """The state at `until`: the latest snapshot if it lies at or below that point and is valid, then its
        tail up to there; otherwise the log from the start up to there. Never the cache, and never remembered
        in it (a past state is not the aggregate's latest)."""
        if self.snapshots is None or aggregate.version > 0:
            return super().hydrate_until(aggregate, until)
        cls = type(aggregate)
        head = self.snapshots.load(cls.__name__, aggregate.id, self.store, self.policy.interval(cls))
        snapshot = head.snapshot
        if snapshot is None and head.skipped is None and head.complete:
            return Loaded(apply_stored(aggregate, takewhile(until.admits, head.tail)))  # the whole log, read already
        if snapshot is not None and until.admits_snapshot(snapshot.version, snapshot.created) \
                and problem(snapshot, aggregate) is None and head.gap() is None:
            initial = aggregate.checkpoint()
            try:
                restore(aggregate, snapshot)
                return Loaded(apply_stored(aggregate, takewhile(until.admits, head.tail)), snapshot.version)
            except (StoreError, ClientError, BotoCoreError):
                raise
            except Exception:  # a snapshot that cannot be folded on: the log decides, as in `hydrate`
                aggregate.roll_back(initial)
        return Loaded(apply_stored(aggregate, takewhile(until.admits, self.store.read(aggregate.id, 0, until.version))))

    def _catch_up(self, aggregate: Aggregate) -> Loaded:
        """The events after the aggregate's version; a store that sees the snapshots written since (by a
        writer that won a race) in the same read reports them, so the policy counts from the newest."""
        if self.snapshots is None:
            return super().hydrate(aggregate)
        seen: list[Seen] = []
        tail = self.snapshots.catch_up(aggregate.id, aggregate.version, self.store, seen)
        loaded = Loaded(apply_stored(aggregate, tail))
        if seen:
            self._notice(aggregate, seen[-1])
        return loaded

    @staticmethod
    def _notice(aggregate: Aggregate, seen: Seen) -> None:
        valid, known = marks(aggregate)
        found, snapshot = seen
        if known is not None and known.version is not None and known.version >= (found.version or 0):
            return
        if snapshot is not None and snapshot.version <= aggregate.version and problem(snapshot, aggregate) is None:
            valid = snapshot.version
        _mark(aggregate, valid, found)

    def _load(self, aggregate: Aggregate, snapshots: SnapshotStore) -> Loaded:
        """The store's own way to the latest snapshot and the tail after it; anything wrong: replay."""
        cls = type(aggregate)
        head = snapshots.load(cls.__name__, aggregate.id, self.store, self.policy.interval(cls))
        reason = head.skipped
        if head.snapshot is not None:
            reason = problem(head.snapshot, aggregate) or head.gap()
            if reason is None:
                return self._from_snapshot(aggregate, head.snapshot, head.tail, head.stored)
        elif reason is None and head.complete:
            return Loaded(apply_stored(aggregate, head.tail))  # a short log with no snapshot yet: read with the head
        return self._replay(aggregate, reason, head.stored)

    def _from_snapshot(self, aggregate: Aggregate, snapshot: Snapshot, tail: Iterator[RecordedEvent],
                       where: Stored | None) -> Loaded:
        """Restore the snapshot and fold the tail on it; if either fails, start again from nothing and replay.

        A state that passes its checksum can still be wrong (a field of the wrong type, written by a bug):
        a handler that then raises on it must cost a replay, not the command. A store fault is no such sign.
        """
        initial = aggregate.checkpoint()
        try:
            restore(aggregate, snapshot)
            _mark(aggregate, snapshot.version, where)
            loaded = Loaded(apply_stored(aggregate, tail), snapshot.version)
        except SnapshotCorruptError as exc:
            return self._replay(aggregate, f"corrupt: {exc}", where)
        except (StoreError, ClientError, BotoCoreError):
            raise
        except Exception as exc:  # the replay below re-raises whatever the log itself causes
            aggregate.roll_back(initial)
            return self._replay(aggregate, f"corrupt: the tail after the snapshot at version {snapshot.version} "
                                f"cannot be folded on its state: {type(exc).__name__}: {exc}", where)
        COUNTERS["hit"] += 1
        return loaded

    def _replay(self, aggregate: Aggregate, reason: str | None, where: Stored | None) -> Loaded:
        if reason is not None:
            kind = reason.split(":", 1)[0]
            COUNTERS[f"skipped_{kind}"] += 1
            logger.warning("snapshot of %s %r skipped, replaying the log: %s", type(aggregate).__name__,
                           aggregate.id, reason, extra={"snapshot_skipped": kind})
        _mark(aggregate, 0, where)
        return Loaded(apply_stored(aggregate, self.store.read(aggregate.id, 0)), None, reason)

    # -- commit --------------------------------------------------------------------------------------------

    def committed(self, aggregate: Aggregate, events: Sequence[Event]) -> None:
        """Refresh the cache; take a snapshot when due. A failed snapshot is logged, never raised."""
        self._remember(aggregate)
        if self.snapshots is None:
            return
        if not self.policy.due(type(aggregate), aggregate.version, marks(aggregate)[0]):
            return
        try:
            self.save(aggregate)
        except Exception as exc:  # the events are safely stored; a missing snapshot only costs a longer read
            COUNTERS["write_failed"] += 1
            logger.warning("snapshot of %s %r at version %d not written: %s", type(aggregate).__name__,
                           aggregate.id, aggregate.version, exc, exc_info=not isinstance(exc, SnapshotCorruptError))

    def save(self, aggregate: Aggregate) -> bool:
        """Write a snapshot of the aggregate as it is now; False when one as new is there already."""
        if self.snapshots is None:
            return False
        snapshot = take(aggregate)
        written = self.snapshots.put(snapshot, replaces=marks(aggregate)[1])
        if written:
            COUNTERS["written"] += 1
            _mark(aggregate, aggregate.version, Stored(snapshot.version, snapshot.checksum))
            self._remember(aggregate)
        return written

    # -- cache ---------------------------------------------------------------------------------------------

    def _from_cache(self, aggregate: Aggregate) -> bool:
        if self.cache is None:
            return False
        key = _key(aggregate)
        entry = self.cache.get(key)
        if entry is None:
            return False
        saved = aggregate.checkpoint()
        try:
            aggregate.restore(codec.decode(entry.state))
        except (CodecError, TypeError, ValueError, AttributeError):
            aggregate.roll_back(saved)
            self.cache.discard(key)
            return False
        aggregate.version = entry.version
        _mark(aggregate, entry.snapshot_version, entry.stored)
        COUNTERS["cache_hit"] += 1
        return True

    def _remember(self, aggregate: Aggregate) -> None:
        if self.cache is None or aggregate.version == 0 or not version_from_store(aggregate):
            return
        try:
            state = codec.encode(aggregate.snapshot())
        except CodecError:
            return  # a state the codec cannot hold is simply not cached
        self.cache.put(_key(aggregate), Entry(aggregate.version, state, *marks(aggregate)))


def _key(aggregate: Aggregate) -> tuple[type, str, str]:
    return type(aggregate), aggregate.table, aggregate.id


#: Per aggregate object (by id, dropped when it is collected): the latest valid snapshot's version (what the
#: policy counts from) and the stored snapshot it saw. Kept beside the aggregate, not on it: its public
#: attributes are its state, and its private ones are its own class's.
_MARKS: dict[int, tuple[int, Stored | None]] = {}


def _mark(aggregate: Aggregate, valid: int, where: Stored | None) -> None:
    key = id(aggregate)
    if key not in _MARKS:
        weakref.finalize(aggregate, _MARKS.pop, key, None)
    _MARKS[key] = (valid, where)


def marks(aggregate: Aggregate) -> tuple[int, Stored | None]:
    """The latest valid snapshot version and the stored snapshot this aggregate object was marked with."""
    return _MARKS.get(id(aggregate), (0, None))
