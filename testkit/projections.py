"""`check_projection`: generated properties of a projection, given a hypothesis strategy for the commands of
the aggregate it declares.

For every set of aggregate histories hypothesis draws, the log is delivered to a `Projector` (over in-memory
stores) as DynamoDB Streams may deliver it: in batches cut anywhere, with each aggregate's events in order or
shuffled, batches repeated, redelivered with the one before, split, or held back and delivered late. Then:
- the rows, row counters and event counters equal the log applied once, reckoned here from the projection's
  own `fold`, `counters` and `event_counters` over each aggregate's events in number order;
- `verify` (what `aws-es rebuild --verify` runs) finds nothing, when the projection declares a `compare`: each
  row agrees with the aggregate folded from the log by its own handlers, and the counters with the rows and
  the log. This is what catches a fold that is wrong every time, which no fault of the stream can show;
- a rebuild from the log (`Rebuild`, in one to three segments, switched live) gives the live rows and
  counters.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import settings as Settings
from hypothesis import strategies as st

from core.aggregate import Aggregate
from core.events import RecordedEvent, from_record
from core.store import InMemoryEventStore
from projections.definition import Projection, Row
from projections.projector import Projector, StreamEvent
from projections.rebuild import Rebuild
from projections.store import InMemoryProjectionStore
from projections.tables import InMemoryControl, Tables, generation_definitions, tables_for
from projections.verify import verify
from testkit.commands import REFUSALS, Command, decide, histories, numbered
from testkit.settings import kit_settings

#: Counter amounts by group and name, as a projection store reads them back.
Totals = dict[str, dict[str, Decimal]]
#: What a stream does to one batch.
FAULTS = ("as is", "as is", "repeated", "redelivered with the one before", "split", "late")


def check_projection(projection: Projection, commands: st.SearchStrategy[Command], *,
                     aggregate: type[Aggregate] | None = None, max_aggregates: int = 3, max_commands: int = 12,
                     max_examples: int | None = None, settings: Settings | None = None) -> None:
    """Run the projection properties (module docstring) over up to `max_aggregates` aggregates of the
    projection's `aggregate` (or the one given), each with up to `max_commands` commands from `commands`."""
    owner = aggregate or projection.aggregate
    if owner is None:
        raise ValueError(f"projection {projection.name} declares no aggregate: pass aggregate= to "
                         f"check_projection, the class whose commands `commands` draws")
    @given(each=st.lists(histories(commands, max_commands), min_size=1, max_size=max_aggregates), data=st.data())
    def log_applied_once(each: list[list[Command]], data: st.DataObject) -> None:
        events = InMemoryEventStore()
        ids = commit_histories(owner, events, each)
        log = {aggregate_id: list(events.read(aggregate_id)) for aggregate_id in ids}
        want = reckon(projection, log)
        store, tables = projection_store(projection)
        projector = Projector(projection, None, events, lambda: tables, rows=store)
        for batch in deliveries(data, [StreamEvent(aggregate_id, record, f"{aggregate_id}-{record.number:06d}")
                                       for aggregate_id, records in log.items() for record in records]):
            outcome = projector.apply(batch)
            assert not outcome.failed, f"the projector could not fold a batch: {'; '.join(outcome.errors)}"
        held = holds(store, tables)
        assert held == want, difference("the stream's deliveries do not give the log applied once", held, want)
        segments = data.draw(st.integers(1, 3), label="rebuild and verify segments")
        verified(projection, owner, events, store, tables, segments)
        again = rebuilt(projection, events, store, segments)
        assert again == held, difference("a rebuild from the log differs from the live tables", again, held)

    kit_settings(max_examples, settings)(log_applied_once)()


def commit_histories(aggregate: type[Aggregate], events: InMemoryEventStore,
                     histories: Sequence[Sequence[Command]]) -> list[str]:
    """Run each history on an aggregate of its own (refused commands skipped); their ids, in order."""
    ids = []
    for number, history in enumerate(histories, start=1):
        instance = aggregate(f"testkit-{number}", aggregate.declared_table(), store=events)
        for command in history:
            decided = decide(command, instance)
            if decided is None:
                continue
            try:
                instance.commit(tuple(numbered(decided, instance.version)))
            except REFUSALS:
                continue
        ids.append(instance.id)
    return ids


def projection_store(projection: Projection, generation: int = 0) -> tuple[InMemoryProjectionStore, Tables]:
    store = InMemoryProjectionStore()
    store.create(generation_definitions(projection, generation))
    return store, tables_for(projection, generation)


def deliveries(data: st.DataObject, stream: list[StreamEvent]) -> Iterator[list[StreamEvent]]:
    """The stream's events as DynamoDB Streams may deliver them, batch by batch (module docstring)."""
    shuffled = data.draw(st.permutations(stream), label="shuffled")
    if data.draw(st.booleans(), label="each aggregate's events in order"):
        queues = {aggregate_id: iter([item for item in stream if item.aggregate_id == aggregate_id])
                  for aggregate_id in dict.fromkeys(item.aggregate_id for item in stream)}
        shuffled = [next(queues[item.aggregate_id]) for item in shuffled]
    size = data.draw(st.integers(1, 8), label="batch size")
    batches = [shuffled[start:start + size] for start in range(0, len(shuffled), size)]
    late = []
    for number, batch in enumerate(batches):
        fault = data.draw(st.sampled_from(FAULTS), label="fault")
        if fault == "late":
            late.append(batch)
            continue
        if fault == "split":
            cut = data.draw(st.integers(0, len(batch)), label="cut")
            yield batch[:cut]
            yield batch[cut:]
            continue
        yield batch
        if fault == "repeated":
            yield batch + batch
        elif fault == "redelivered with the one before" and number:
            yield batches[number - 1] + batch
    yield from late


def reckon(projection: Projection, log: Mapping[str, Sequence[RecordedEvent]]) -> tuple[dict[str, Row], Totals,
                                                                                        Totals]:
    """The rows, row counters and event counters of the log applied once: each aggregate's events folded in
    number order by the projection's own fold; a row's `version` is its last event's number."""
    rows: dict[str, Row] = {}
    counters: Totals = {}
    per_event: Totals = {}
    for aggregate_id, records in log.items():
        row: Row | None = None
        for record in records:
            event = from_record(record)
            if projection.event_counters is not None:
                add(per_event, projection.event_counters(event))
            if projection.handles(event.type):
                row = projection.fold(row, event)
            row = {**(row or {}), "version": record.number}
        if row is None:
            continue
        rows[aggregate_id] = row
        if projection.counters is not None:
            add(counters, projection.counters(row))
    return rows, nonzero(counters), nonzero(per_event)


def holds(store: InMemoryProjectionStore, tables: Tables) -> tuple[dict[str, Row], Totals, Totals]:
    """What the store holds: rows, row counters and event counters (zero amounts left out)."""
    return dict(store.rows(tables)), nonzero(store.counters(tables)), nonzero(store.all_event_counters(tables))


def verified(projection: Projection, aggregate: type[Aggregate], events: InMemoryEventStore,
             store: InMemoryProjectionStore, tables: Tables, segments: int) -> None:
    """`projections.verify.verify` (what `aws-es rebuild --verify` runs) finds nothing: each row agrees by
    `projection.compare` with the aggregate folded from the log by its own handlers, and the counters with the
    rows and the log. Skipped for a projection that declares no check."""
    if projection.compare is None:
        return
    report = verify(replace(projection, aggregate=aggregate), events, store, tables, segments=segments)
    assert report.agrees, (f"verify finds {projection.name}'s tables disagree with the {aggregate.__name__}'s own "
                           f"state:\n" + "\n".join(report.differences))


def rebuilt(projection: Projection, events: InMemoryEventStore, store: InMemoryProjectionStore,
            segments: int) -> tuple[dict[str, Row], Totals, Totals]:
    """Rebuild the projection from the log alone (`projections.rebuild.Rebuild`: a new generation, in
    `segments` scan segments, switched live); what the new generation holds."""
    report = Rebuild(projection, events, store, InMemoryControl(), segments=segments, workers=1).run()
    assert not report.failures, f"the rebuild of {projection.name} could not fold: {report.failures}"
    assert report.switched, f"the rebuild of {projection.name} did not switch its generation live: {report}"
    return holds(store, tables_for(projection, report.generation))


def add(totals: Totals, moves: Mapping[str, Mapping[str, Decimal | int]]) -> None:
    for group, values in moves.items():
        bucket = totals.setdefault(group, {})
        for name, amount in values.items():
            bucket[name] = bucket.get(name, Decimal(0)) + Decimal(amount)


def nonzero(totals: Totals) -> Totals:
    kept = {group: {name: amount for name, amount in values.items() if amount != 0}
            for group, values in totals.items()}
    return {group: values for group, values in kept.items() if values}


def difference(what: str, held: tuple[Any, Any, Any], want: tuple[Any, Any, Any]) -> str:
    lines = [f"{what}:"]
    for label, got, expected in zip(("rows", "row counters", "event counters"), held, want, strict=True):
        if got != expected:
            lines.append(f"{label}: held {got}\n{' ' * len(label)}  want {expected}")
    return "\n".join(lines)

