"""Projection tables, their generations, and the control table that names the live generation.

Generation 0 is the base table name (`LoanSummary`); a rebuild creates generation n as `LoanSummary-g<n>`.
The control table holds one item per projection naming its live generation; readers and the projector
consult it through a short cache, so a switch reaches every process within `ttl` seconds. It also keeps the
local stream runner's position in each shard (`position#<stream arn>#<shard id>`), so a runner started in
another process resumes where the last one stopped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from projections.definition import Projection
from projections.errors import ProjectionError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class Tables:
    """The physical tables of one generation of a projection."""

    rows: str
    counters: str | None
    generation: int


def generation_name(base: str, generation: int) -> str:
    return base if generation == 0 else f"{base}-g{generation}"


def tables_for(projection: Projection, generation: int) -> Tables:
    counters = projection.counters_table
    return Tables(
        generation_name(projection.table, generation),
        generation_name(counters, generation) if counters else None,
        generation,
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
    tables = tables_for(projection, generation)
    definitions = [rows_table_definition(projection, tables.rows)]
    if tables.counters:
        definitions.append(keyed_table_definition(tables.counters))
    return definitions


class Control:
    """The live generation of each projection, and the progress of rebuilds (one item per segment)."""

    def __init__(self, table: str, client: DynamoDBClient, ttl: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.table = table
        self.client = client
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def state(self, name: str, fresh: bool = False) -> dict[str, Any]:
        """{'live': n, 'building': m or None}, read at most once per `ttl` unless `fresh`."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(name)
        if cached and not fresh and now - cached[0] < self.ttl:
            return cached[1]
        item = self._get(name)
        state = {name: int(item[name]["N"]) if item and name in item else None
                 for name in ("live", "building", "segments", "previous")}
        state["live"] = state["live"] or 0
        with self._lock:
            self._cache[name] = (now, state)
        return state

    def live(self, name: str) -> int:
        live: int = self.state(name)["live"]
        return live

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
            building: int = state["building"]
            return building
        target: int = state["live"] + 1
        self._update(name, "SET #b = :target, #s = :segments",
                     {":target": {"N": str(target)}, ":segments": {"N": str(segments)}},
                     # no other rebuild has started meanwhile
                     "attribute_not_exists(#b)")
        return target

    def switch(self, name: str, generation: int, previous: int) -> None:
        """Make `generation` live for readers and the projector; only the rebuild that built it may.

        `previous` stays recorded until `caught_up`, so a rebuild interrupted during its catch-up finishes
        it when run again.
        """
        self._update(name, "SET #l = :target, #p = :previous REMOVE #b, #s",
                     {":target": {"N": str(generation)}, ":previous": {"N": str(previous)}},
                     # the generation switched to is the one this rebuild built
                     "#b = :target")
        self._cache.pop(name, None)

    def caught_up(self, name: str, generation: int) -> None:
        self._update(name, "REMOVE #p", {":target": {"N": str(generation)}},
                     # the catch-up just done was into the live generation
                     "#l = :target")
        self._cache.pop(name, None)

    def segment_done(self, name: str, generation: int, segment: int, of: int) -> dict[str, int] | None:
        item = self._get(f"{name}#g{generation}#{segment}of{of}")
        return {"events": int(item["events"]["N"]), "aggregates": int(item["aggregates"]["N"])} if item else None

    def mark_segment(self, name: str, generation: int, segment: int, of: int, events: int, aggregates: int) -> None:
        self.client.put_item(TableName=self.table, Item={
            "name": {"S": f"{name}#g{generation}#{segment}of{of}"},
            "events": {"N": str(events)}, "aggregates": {"N": str(aggregates)},
        })

    def position(self, stream_arn: str, shard_id: str) -> str | None:
        """The sequence number of the last record delivered from a shard, or None before the first."""
        item = self._get(f"position#{stream_arn}#{shard_id}")
        return item["sequence"]["S"] if item and "sequence" in item else None

    def record_position(self, stream_arn: str, shard_id: str, sequence: str) -> None:
        self._call("put_item", TableName=self.table, Item={
            "name": {"S": f"position#{stream_arn}#{shard_id}"}, "sequence": {"S": sequence},
        })

    def _get(self, name: str) -> dict[str, Any] | None:
        return self._call("get_item", TableName=self.table, Key={"name": {"S": name}},
                          ConsistentRead=True).get("Item")

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        try:
            reply: dict[str, Any] = getattr(self.client, operation)(**request)
            return reply
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                raise ProjectionError(f"control table {self.table!r} does not exist: run `aws-es init`") from exc
            raise

    def _update(self, name: str, expression: str, values: dict[str, Any], condition: str) -> None:
        try:
            self.client.update_item(
                TableName=self.table, Key={"name": {"S": name}}, UpdateExpression=expression,
                ConditionExpression=condition, ExpressionAttributeNames=_names(expression + condition),
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ProjectionError(f"projection {name!r}: another rebuild changed its generations first") from exc
            raise


def _names(expression: str) -> dict[str, str]:
    names = {"#l": "live", "#b": "building", "#s": "segments", "#p": "previous"}
    return {alias: name for alias, name in names.items() if alias in expression}
