"""Given/when/then for one aggregate or one projection, on in-memory stores.

    given_events(BankAccount, [opened]).when(deposit).then([deposited])     # the events decided
    given_events(BankAccount, []).when(deposit).then_refused(IllegalEventError, match="open account")
    given_events(balance, {"alice": [opened, deposited]}).then(rows={"alice": {...}})

Events given without `number` are numbered on from 1, and without `created` timestamped at a fixed time
(`testkit.commands.START` plus a minute per number), so a scenario folds the same events every run.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Generic, TypeVar, overload

from core.aggregate import Aggregate
from core.events import Event, to_record
from core.store import InMemoryEventStore
from projections.definition import Projection, Row
from projections.projector import Projector, StreamEvent
from testkit.commands import REFUSALS, Command, EventInput, decide, describe, numbered, same_decision
from testkit.projections import Totals, holds, nonzero, projection_store

A = TypeVar("A", bound=Aggregate)

#: The aggregate id of a scenario given events as a plain list.
SCENARIO_ID = "testkit-1"


@overload
def given_events(target: type[A], events: Sequence[EventInput] = (), *,
                 aggregate_id: str = SCENARIO_ID) -> AggregateScenario[A]: ...
@overload
def given_events(target: Projection, events: Sequence[EventInput] | Mapping[str, Sequence[EventInput]] = (), *,
                 aggregate_id: str = SCENARIO_ID) -> ProjectionScenario: ...


def given_events(target: type[A] | Projection,
                 events: Sequence[EventInput] | Mapping[str, Sequence[EventInput]] = (), *,
                 aggregate_id: str = SCENARIO_ID) -> AggregateScenario[A] | ProjectionScenario:
    """An aggregate class and its past events (then `.when(command)`), or a projection and the events of
    one aggregate or of several by id (then `.then(rows=..., counters=..., event_counters=...)`)."""
    if isinstance(target, Projection):
        by_id = dict(events) if isinstance(events, Mapping) else {aggregate_id: list(events)}
        return ProjectionScenario(target, by_id)
    if isinstance(target, type) and issubclass(target, Aggregate):
        if isinstance(events, Mapping):
            raise TypeError("an aggregate scenario takes a list of events, not a mapping of them by id")
        return AggregateScenario(target, list(events), aggregate_id)
    raise TypeError(f"given_events takes an Aggregate subclass or a Projection, not {target!r}")


class AggregateScenario(Generic[A]):
    """An aggregate with a past: `when(command)` runs one command on it, loaded from its log."""

    def __init__(self, aggregate: type[A], events: list[EventInput], aggregate_id: str) -> None:
        self.aggregate = aggregate
        self.store = InMemoryEventStore()
        past = aggregate(aggregate_id, aggregate.declared_table(), store=self.store)
        if events:
            try:
                past.commit(tuple(numbered(events, 0)))
            except REFUSALS as exc:
                raise AssertionError(f"the given events are refused by {aggregate.__name__}: {exc}") from exc
        self.aggregate_id = aggregate_id

    def load(self) -> A:
        """The aggregate as its log holds it now."""
        instance = self.aggregate(self.aggregate_id, self.aggregate.declared_table(), store=self.store)
        instance.hydrate()
        return instance

    def when(self, command: Command) -> AggregateOutcome[A]:
        instance = self.load()
        before = (instance.version, copy.deepcopy(instance.state()))
        decided = decide(command, instance)
        if decided is None:
            return AggregateOutcome(self, instance, decided, [], None, before)
        try:
            committed = instance.commit(tuple(numbered(decided, instance.version)))
        except REFUSALS as exc:
            return AggregateOutcome(self, instance, decided, [], exc, before)
        return AggregateOutcome(self, instance, decided, committed, None, before)


class AggregateOutcome(Generic[A]):
    """What one command did: the events committed, or the error that refused them."""

    def __init__(self, scenario: AggregateScenario[A], aggregate: A, decided: list[EventInput] | None,
                 committed: list[Event], error: Exception | None, before: tuple[int, dict[str, Any]]) -> None:
        self.scenario = scenario
        self.aggregate = aggregate
        self.decided = decided
        self.committed = committed
        self.error = error
        self.before = before

    def then(self, expected: Sequence[EventInput]) -> A:
        """The command committed exactly `expected` (types, payloads and meta; numbers and times aside), and
        the log holds them; returns the aggregate after them, for asserting on its state."""
        if self.error is not None:
            raise AssertionError(f"the command was refused ({type(self.error).__name__}: {self.error}); "
                                 f"expected {describe(expected)}")
        assert same_decision(self.committed, expected), (
            f"the command committed {describe(self.committed)}; expected {describe(expected)}")
        logged = list(self.scenario.load().events())[-len(self.committed):] if self.committed else []
        assert logged == self.committed, f"the log holds {logged}, not the committed {self.committed}"
        return self.aggregate

    def then_nothing(self) -> A:
        """The command decided no events."""
        assert self.error is None and not self.committed, (
            f"the command decided {describe(self.decided)}"
            + (f" and was refused: {self.error}" if self.error else ""))
        return self.aggregate

    def then_refused(self, error: type[Exception] = REFUSALS[0], match: str | None = None) -> Exception:
        """The command was refused with `error` (its message matching the regular expression `match`), and
        the aggregate and its log are as they were; returns the error."""
        if self.error is None:
            raise AssertionError(f"the command was not refused: it committed {describe(self.committed)}")
        if not isinstance(self.error, error):
            raise AssertionError(f"the command was refused with {type(self.error).__name__}: {self.error}; "
                                 f"expected {error.__name__}") from self.error
        if match is not None and not re.search(match, str(self.error)):
            raise AssertionError(f"the refusal says {str(self.error)!r}, which does not match {match!r}")
        after = (self.aggregate.version, self.aggregate.state())
        assert after == self.before, f"the refusal changed the state: before {self.before}, after {after}"
        assert self.scenario.load().version == self.before[0], "the refusal wrote to the log"
        return self.error


class ProjectionScenario:
    """A projection fed the given events, each aggregate's in number order, in one batch."""

    def __init__(self, projection: Projection, events: Mapping[str, Sequence[EventInput]]) -> None:
        self.projection = projection
        log = InMemoryEventStore()
        stream = []
        for aggregate_id, given in events.items():
            records = [to_record(event) for event in numbered(list(given), 0)]
            for start in range(0, len(records), 100):
                log.append(aggregate_id, start, records[start:start + 100])
            stream += [StreamEvent(aggregate_id, record, f"{aggregate_id}-{record.number}") for record in records]
        store, tables = projection_store(projection)
        outcome = Projector(projection, None, log, lambda: tables, rows=store).apply(stream)
        if outcome.failed:
            raise AssertionError(f"{projection.name} cannot fold the given events: {'; '.join(outcome.errors)}")
        self.rows, self.counters, self.event_counters = holds(store, tables)

    def then(self, rows: Mapping[str, Row] | None = None, counters: Totals | None = None,
             event_counters: Totals | None = None) -> ProjectionScenario:
        """The rows (by aggregate id; a row's `version` is compared only where the expected row names it),
        the row counters and the event counters (zero amounts left out) are exactly these."""
        if rows is not None:
            held = {key: {name: value for name, value in row.items() if name != "version" or "version" in
                          rows.get(key, {})} for key, row in self.rows.items()}
            assert held == {key: dict(row) for key, row in rows.items()}, (
                f"{self.projection.name} holds rows {held}\n{' ' * len(self.projection.name)} expected {rows}")
        for label, got, wanted in (("row counters", self.counters, counters),
                                   ("event counters", self.event_counters, event_counters)):
            if wanted is not None:
                want = nonzero({group: {name: Decimal(amount) for name, amount in values.items()}
                                for group, values in wanted.items()})
                assert got == want, f"{self.projection.name} holds {label} {got}, expected {want}"
        return self
