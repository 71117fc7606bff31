"""`check_aggregate`: generated properties of an aggregate, given a hypothesis strategy for its commands.

For every history of commands hypothesis draws (see testkit/commands.py for their shapes):
- the state a command leaves equals a full replay of the log (nothing but the events decides the state);
- a refused command leaves the aggregate and its log untouched, and the handler that refused an event
  changed nothing before it did (`apply` and `hydrate(events)` fold without a roll back);
- at every snapshot interval tried, an aggregate loaded afresh before each command (the snapshot plus the
  tail after it, through `snapshots.repository.SnapshottingRepository`) holds the replay's state, decides
  the same events, and ends where the replay ends; a snapshot was written and used;
- a class whose `snapshot_version` is bumped (a new fingerprint) skips those snapshots as stale and still
  holds the replay's state.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import settings as Settings
from hypothesis import strategies as st

from core.aggregate import Aggregate
from core.events import Event, RecordedEvent, from_record
from core.store import InMemoryEventStore
from snapshots.envelope import take
from snapshots.policy import SnapshotPolicy
from snapshots.repository import SnapshottingRepository
from snapshots.store import InMemorySnapshotStore
from testkit.commands import REFUSALS, Command, EventInput, decide, describe, histories, numbered, same_decision
from testkit.settings import kit_settings

#: The aggregate id every property uses (each example has stores of its own).
ID = "testkit-1"
#: Snapshot intervals tried by default: every event, small ones, and one that leaves long tails.
INTERVALS = (1, 2, 3, 7)


@dataclass(frozen=True)
class Step:
    """One command of a history as the reference run saw it: the state before, what it decided (None:
    nothing), and the events committed (None when it decided nothing or was refused) with the state after."""

    command: Command
    version: int
    state: dict[str, Any]
    decided: list[EventInput] | None
    committed: list[Event] | None
    after: tuple[int, dict[str, Any]]


def check_aggregate(aggregate: type[Aggregate], commands: st.SearchStrategy[Command], *,
                    intervals: Sequence[int] = INTERVALS, max_commands: int = 20, max_examples: int | None = None,
                    settings: Settings | None = None) -> None:
    """Run the aggregate properties (module docstring) over histories of up to `max_commands` commands drawn
    from `commands`; an `AssertionError` (with hypothesis's smallest failing history) says what broke."""
    if not (isinstance(aggregate, type) and issubclass(aggregate, Aggregate)):
        raise TypeError(f"check_aggregate needs an Aggregate subclass, not {aggregate!r}")
    if not intervals or any(not isinstance(every, int) or every < 1 for every in intervals):
        raise ValueError(f"snapshot intervals must be whole numbers of at least 1, not {intervals!r}")

    @given(history=histories(commands, max_commands))
    def history_holds(history: list[Command]) -> None:
        steps = reference_run(aggregate, history)
        for every in intervals:
            snapshot_run(aggregate, steps, every)

    kit_settings(max_examples, settings)(history_holds)()


def fresh(aggregate: type[Aggregate], **wiring: Any) -> Aggregate:
    """A new instance with its table named, so nothing is looked up in the environment."""
    return aggregate(ID, aggregate.declared_table(), **wiring)


def seen(instance: Aggregate) -> tuple[int, dict[str, Any]]:
    return instance.version, copy.deepcopy(instance.state())


def reference_run(aggregate: type[Aggregate], history: Iterable[Command]) -> list[Step]:
    """Run the history on one aggregate over an in-memory store, checking each command against a replay."""
    store = InMemoryEventStore()
    live = fresh(aggregate, store=store)
    steps = []
    for command in history:
        version, state = seen(live)
        decided = decide(command, live)
        if decided is None:
            steps.append(Step(command, version, state, None, None, (version, state)))
            continue
        log = list(store.read(ID))
        events = numbered(decided, version)
        try:
            committed = live.commit(tuple(events))
        except REFUSALS as refusal:
            assert seen(live) == (version, state), (
                f"refusing {describe(decided)} ({refusal}) changed {aggregate.__name__}'s state:\n"
                f"before {state}\nafter  {live.state()}")
            assert list(store.read(ID)) == log, f"refusing {describe(decided)} ({refusal}) wrote to the log"
            refused_without_change(aggregate, log, events)
            steps.append(Step(command, version, state, decided, None, (version, state)))
            continue
        replayed = fresh(aggregate, store=store).hydrate()
        assert seen(replayed) == seen(live), (
            f"after {describe(decided)} the live {aggregate.__name__} and a replay of its log differ:\n"
            f"live   {seen(live)}\nreplay {seen(replayed)}")
        steps.append(Step(command, version, state, decided, committed, seen(live)))
    return steps


def refused_without_change(aggregate: type[Aggregate], log: list[RecordedEvent], events: list[Event]) -> None:
    """Fold the log, then the refused events one at a time with `apply` (no roll back): the handler that
    refuses one must not have changed the state before refusing."""
    probe = fresh(aggregate, store=InMemoryEventStore())
    probe.apply([from_record(record) for record in log])
    for event in events:
        before = seen(probe)
        try:
            probe.apply(event)
        except REFUSALS as refusal:
            assert seen(probe) == before, (
                f"{aggregate.__name__}'s handler for {event.type} changed the state before refusing it "
                f"({refusal}): a handler must refuse before it changes anything\n"
                f"before {before[1]}\nafter  {probe.state()}")
            return


def snapshot_run(aggregate: type[Aggregate], steps: list[Step], every: int) -> None:
    """Replay the steps with a snapshot every `every` events, loading the aggregate afresh for each command."""
    events, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
    policy = SnapshotPolicy(every=every, per_class={aggregate.__name__: every})
    where = f"with a snapshot every {every} event{'s' if every > 1 else ''}"
    for step in steps:
        repository = SnapshottingRepository(events, snapshots, policy)
        loaded = fresh(aggregate, repository=repository)
        report = repository.hydrate(loaded)
        assert seen(loaded) == (step.version, step.state), (
            f"{where}, {aggregate.__name__} loaded from the snapshot at version {report.snapshot_version} "
            f"and {report.events_read} events after it differs from the replay:\n"
            f"loaded {seen(loaded)}\nreplay {(step.version, step.state)}")
        decided = decide(step.command, loaded)
        assert same_decision(decided, step.decided), (
            f"{where}, {aggregate.__name__} loaded from the snapshot at version {report.snapshot_version} "
            f"decides {describe(decided)} where the replay decided {describe(step.decided)}: its snapshot "
            f"leaves out state the command reads")
        if step.decided is None:
            continue
        if step.committed is None:
            try:
                loaded.commit(tuple(numbered(step.decided, step.version)))
            except REFUSALS:
                continue
            raise AssertionError(f"{where}, {aggregate.__name__} accepted {describe(step.decided)}, "
                                 f"which the replay refused")
        try:
            loaded.commit(tuple(step.committed))
        except REFUSALS as refusal:
            raise AssertionError(
                f"{where}, {aggregate.__name__} loaded from the snapshot at version {report.snapshot_version} "
                f"refuses {describe(step.decided)}, which the replay accepted ({refusal}): its snapshot leaves "
                f"out state the handlers read") from refusal
        assert seen(loaded) == step.after, (
            f"{where}, folding {describe(step.decided)} on {aggregate.__name__} loaded from the snapshot at "
            f"version {report.snapshot_version} differs from the replay:\n"
            f"loaded {seen(loaded)}\nreplay {step.after}")
    final = steps[-1].after if steps else (0, fresh(aggregate).state())
    snapshot_used(aggregate, events, snapshots, policy, final, where)
    stale_snapshot_skipped(aggregate, events, snapshots, policy, final, where)


def snapshot_used(aggregate: type[Aggregate], events: InMemoryEventStore, snapshots: InMemorySnapshotStore,
                  policy: SnapshotPolicy, final: tuple[int, dict[str, Any]], where: str) -> None:
    """Past the interval a snapshot must have been written, and a fresh load starts from it."""
    repository = SnapshottingRepository(events, snapshots, policy)
    loaded = fresh(aggregate, repository=repository)
    report = repository.hydrate(loaded)
    stored = snapshots.get(aggregate.__name__, ID)
    if final[0] >= policy.interval(aggregate) and stored is None:
        take(loaded)  # raises the reason when the state cannot be encoded
        raise AssertionError(f"{where}, no snapshot of {aggregate.__name__} was written by version {final[0]}")
    if stored is not None:
        assert report.snapshot_skipped is None and report.snapshot_version == stored.version, (
            f"{where}, the snapshot at version {stored.version} was not used: {report.snapshot_skipped}")
    assert seen(loaded) == final, (
        f"{where}, {aggregate.__name__} loaded from the snapshot at version {report.snapshot_version} "
        f"and {report.events_read} events after it differs from the replay:\nloaded {seen(loaded)}\nreplay {final}")


def stale_snapshot_skipped(aggregate: type[Aggregate], events: InMemoryEventStore,
                           snapshots: InMemorySnapshotStore, policy: SnapshotPolicy,
                           final: tuple[int, dict[str, Any]], where: str) -> None:
    """The same class with `snapshot_version` bumped: its old snapshots are stale, the log decides."""
    bumped = type(aggregate.__name__, (aggregate,), {
        "snapshot_version": aggregate.snapshot_version + 1, "__module__": aggregate.__module__,
        "__qualname__": aggregate.__qualname__, "__doc__": aggregate.__doc__})
    repository = SnapshottingRepository(events, snapshots, policy)
    loaded = fresh(bumped, repository=repository)
    with unlogged("snapshots.repository"):  # the skip is expected here; its warning would only be noise
        report = repository.hydrate(loaded)
    if snapshots.get(aggregate.__name__, ID) is not None:
        assert report.snapshot_version is None and (report.snapshot_skipped or "").startswith("stale"), (
            f"{where}, a snapshot of {aggregate.__name__} was used after its snapshot_version changed: "
            f"{report}")
    assert seen(loaded) == final, (
        f"{where}, {aggregate.__name__} with its snapshot_version bumped loads {seen(loaded)}, "
        f"the replay gives {final}")


@contextmanager
def unlogged(name: str) -> Iterator[None]:
    """The named logger silenced for the duration."""
    logger = logging.getLogger(name)
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was
