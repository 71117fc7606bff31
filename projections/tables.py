"""Projection tables, their generations, and the control table that names the live generation.

Generation 0 is the base table name (`LoanSummary`); a rebuild creates generation n as `LoanSummary-g<n>`.
The control table holds one item per projection naming its live generation; readers and the projector
consult it through a short cache, so a switch reaches every process within `ttl` seconds. It also keeps each
rebuild segment's checkpoint and the local stream runner's position in each shard (`position#<stream arn>#<shard
id>`), so a runner or a rebuild worker started in another process resumes where the last one stopped, each
projection's progress (`progress#<name>`, projections/lag.py) and each local runner's heartbeat
(`heartbeat#<events table>`).

`ControlStore` is what a rebuild needs of it; `Control` keeps its items in DynamoDB (or any `ControlItems`),
`InMemoryControl` in memory. tests/unit/test_projection_store_contract.py runs both through the same tests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from projections.control_items import ControlItems, DynamoDBControlItems, InMemoryControlItems
from projections.definition import Projection
from projections.errors import ProjectionError
from projections.lag import Heartbeat, Progress

#: The longest a reader may cache which generation is live (`PROJECTION_CONTROL_TTL` is bounded the same).
MAX_TTL = 3600.0


@dataclass(frozen=True)
class Tables:
    """The physical tables of one generation of a projection."""

    rows: str
    counters: str | None
    generation: int
    #: the event counters' table (`Projection.event_counters_table`), if the projection declares them
    event_counters: str | None = None


def generation_name(base: str, generation: int) -> str:
    return base if generation == 0 else f"{base}-g{generation}"


def tables_for(projection: Projection, generation: int) -> Tables:
    counters, per_event = projection.counters_table, projection.event_counters_table
    return Tables(
        generation_name(projection.table, generation),
        generation_name(counters, generation) if counters else None,
        generation,
        generation_name(per_event, generation) if per_event else None,
    )


def rows_table_definition(projection: Projection, name: str) -> dict[str, Any]:
    attributes = {projection.key: "S"}
    for index in projection.indexes:
        for part in index["KeySchema"]:
            attributes[part["AttributeName"]] = "S"
    definition: dict[str, Any] = {
        "TableName": name,
        "KeySchema": [{"AttributeName": projection.key, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in attributes.items()],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if projection.indexes:
        definition["GlobalSecondaryIndexes"] = [dict(index) for index in projection.indexes]
    return definition


def keyed_table_definition(name: str, key: str = "id") -> dict[str, Any]:
    """A table keyed by one string: counter shards (`<group>#<shard>`) and the control table."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def generation_definitions(projection: Projection, generation: int) -> list[dict[str, Any]]:
    return table_definitions(projection, tables_for(projection, generation))


def table_definitions(projection: Projection, tables: Tables) -> list[dict[str, Any]]:
    """CreateTable arguments of the tables `tables` names: rows, then counters and event counters if any."""
    definitions = [rows_table_definition(projection, tables.rows)]
    if tables.counters:
        definitions.append(keyed_table_definition(tables.counters))
    if tables.event_counters:
        definitions.append(grouped_table_definition(tables.event_counters))
    return definitions


def grouped_table_definition(name: str) -> dict[str, Any]:
    """Event counters: one partition per group (a day), one item per part (a shard, a rebuild segment), so
    a group is read by key (one Query) whatever parts wrote it."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "group", "KeyType": "HASH"}, {"AttributeName": "part", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "group", "AttributeType": "S"},
                                 {"AttributeName": "part", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


@dataclass(frozen=True)
class SegmentPosition:
    """Where a rebuild segment stopped: after event `after` (aggregate id, number; None: at its start), having
    written chunks up to `chunk` (-1: none) holding `events` events of `aggregates` aggregates. `rest_in_one`:
    a run that met an aggregate it could not fold wrote all the rest as chunk `chunk + 1`, so the next run
    writes the rest as one chunk too, replacing it whole."""

    after: tuple[str, int] | None
    chunk: int
    events: int
    aggregates: int
    rest_in_one: bool = False


class ControlStore(Protocol):
    """What a rebuild reads and changes: generations, segment checkpoints, and the wait for cached readers."""

    def state(self, name: str, fresh: bool = False) -> dict[str, Any]: ...

    def live(self, name: str) -> int: ...

    def begin(self, name: str, segments: int) -> int: ...

    def switch(self, name: str, generation: int, previous: int) -> None: ...

    def caught_up(self, name: str, generation: int) -> None: ...

    def segment_done(self, name: str, generation: int, segment: int, of: int) -> dict[str, int] | None: ...

    def mark_segment(self, name: str, generation: int, segment: int, of: int, events: int,
                     aggregates: int) -> None: ...

    def segment_position(self, name: str, generation: int, segment: int, of: int) -> SegmentPosition | None: ...

    def record_segment_position(self, name: str, generation: int, segment: int, of: int,
                                position: SegmentPosition) -> None: ...

    def await_readers(self) -> None:
        """Return once every reader caching the generations has seen a change made before the call."""
        ...


class Control:
    """The live generation of each projection, and the progress of rebuilds (one item per segment).

    `ttl` is how long a reader trusts its cached state; `clock` and `sleep` are injected so tests need not wait.
    """

    def __init__(self, table: str, client: Any, ttl: float = 5.0, clock: Callable[[], float] = time.monotonic,
                 items: ControlItems | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        if not 0 <= ttl <= MAX_TTL:
            raise ProjectionError(f"control ttl {ttl!r} must be from 0 to {MAX_TTL:g} seconds")
        self.table = table
        self.client = client
        self.ttl = ttl
        self._clock = clock
        self._sleep = sleep
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()
        #: where the items live (projections/control_items.py); DynamoDB through `client` unless given
        self.items: ControlItems = items or DynamoDBControlItems(table, client)

    def state(self, name: str, fresh: bool = False) -> dict[str, Any]:
        """{'live': n, 'building': m or None}, read at most once per `ttl` unless `fresh`."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
        if cached and not fresh and now - cached[0] < self.ttl:
            return cached[1]
        item = self.items.get(name) or {}
        state = {key: int(item[key]) if key in item else None for key in ("live", "building", "segments", "previous")}
        state["live"] = state["live"] or 0
        with self._lock:
            self._cache[name] = (now, state)
        return state

    def live(self, name: str) -> int:
        return int(self.state(name)["live"])

    def begin(self, name: str, segments: int) -> int:
        """The generation a rebuild writes: the one already being built, else live + 1 (recorded here).

        The segment count is recorded too: a rebuild resumed with another count would write its counter
        totals under other item names and count some loans twice, so it is refused.
        """
        state = self.state(name, fresh=True)
        if state["building"] is not None:
            if state["segments"] not in (None, segments):
                raise ProjectionError(f"projection {name!r}: generation {state['building']} is being rebuilt "
                                      f"with --of {state['segments']}; resume it with --of {state['segments']}")
            return int(state["building"])
        target = int(state["live"]) + 1
        self._change(name, {"building": target, "segments": segments}, (),
                     # no other rebuild has started meanwhile
                     ("building", None))
        return target

    def switch(self, name: str, generation: int, previous: int) -> None:
        """Make `generation` live for readers and the projector; only the rebuild that built it may.

        `previous` stays recorded until `caught_up`, so a rebuild interrupted during its catch-up finishes
        it when run again.
        """
        self._change(name, {"live": generation, "previous": previous}, ("building", "segments"),
                     # the generation switched to is the one this rebuild built
                     ("building", generation))
        self._cache.pop(name, None)

    def caught_up(self, name: str, generation: int) -> None:
        self._change(name, {}, ("previous",),
                     # the catch-up just done was into the live generation
                     ("live", generation))
        self._cache.pop(name, None)

    def segment_done(self, name: str, generation: int, segment: int, of: int) -> dict[str, int] | None:
        item = self.items.get(f"{name}#g{generation}#{segment}of{of}")
        return {"events": int(item["events"]), "aggregates": int(item["aggregates"])} if item else None

    def mark_segment(self, name: str, generation: int, segment: int, of: int, events: int, aggregates: int) -> None:
        self.items.put(f"{name}#g{generation}#{segment}of{of}", {"events": events, "aggregates": aggregates})

    def segment_position(self, name: str, generation: int, segment: int, of: int) -> SegmentPosition | None:
        """The last checkpoint inside an unfinished segment, or None before its first."""
        item = self.items.get(f"{name}#g{generation}#{segment}of{of}#at")
        if not item:
            return None
        after = (str(item["after_id"]), int(item["after_number"])) if "after_id" in item else None
        return SegmentPosition(after, int(item["chunk"]), int(item["events"]), int(item["aggregates"]),
                               bool(item.get("rest_in_one", 0)))

    def record_segment_position(self, name: str, generation: int, segment: int, of: int,
                                position: SegmentPosition) -> None:
        values: dict[str, int | str] = {"chunk": position.chunk, "events": position.events,
                                        "aggregates": position.aggregates, "rest_in_one": int(position.rest_in_one)}
        if position.after is not None:
            values.update(after_id=position.after[0], after_number=position.after[1])
        self.items.put(f"{name}#g{generation}#{segment}of{of}#at", values)

    def await_readers(self) -> None:
        """Readers cache the state for at most `ttl`; a batch a projector began just before its cache expired
        finishes within another `ttl` (a batch takes less): so wait two."""
        if self.ttl > 0:
            self._sleep(2 * self.ttl)

    def position(self, stream_arn: str, shard_id: str) -> str | None:
        """The sequence number of the last record delivered from a shard, or None before the first."""
        item = self.items.get(f"position#{stream_arn}#{shard_id}")
        return str(item["sequence"]) if item and "sequence" in item else None

    def record_position(self, stream_arn: str, shard_id: str, sequence: str) -> None:
        self.items.put(f"position#{stream_arn}#{shard_id}", {"sequence": sequence})

    def progress(self, name: str) -> Progress | None:
        """What the projector last recorded of projection `name`'s batches (projections/lag.py)."""
        return Progress.from_item(self.items.get(f"progress#{name}"))

    def record_progress(self, name: str, progress: Progress) -> None:
        """Keep one batch's progress, over what was recorded (one read and one write per batch)."""
        self.items.put(f"progress#{name}", progress.after(self.progress(name)).item())

    def heartbeat(self, events_table: str) -> Heartbeat | None:
        """The last sign of life of the local runner of an events table's stream, or None when none ran."""
        return Heartbeat.from_item(self.items.get(f"heartbeat#{events_table}"))

    def record_heartbeat(self, events_table: str, beat: Heartbeat) -> None:
        self.items.put(f"heartbeat#{events_table}", beat.item())

    def _change(self, name: str, assign: dict[str, int], remove: tuple[str, ...], when: tuple[str, int | None]) -> None:
        if not self.items.change(name, assign, remove, when):
            raise ProjectionError(f"projection {name!r}: another rebuild changed its generations first")


class InMemoryControl(Control):
    """The control in this process's memory: for the in-memory stores, and tests (no cache by default)."""

    def __init__(self, ttl: float = 0.0, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__("control", None, ttl, clock, items=InMemoryControlItems(), sleep=sleep)
