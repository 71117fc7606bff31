"""Parking: where a projection keeps an aggregate's events it could not fold, in order, until a redrive.

When a projection cannot fold an event of an aggregate (`UnfoldableEventError`), the projector parks that
event and every later one of the aggregate for that projection, with their full payloads, and reports the
stream records as done: no shard waits and no batch is retried because of one aggregate. While an aggregate
is parked, its new events are parked behind the others (gaps filled from the event store, so what is parked
is always one contiguous run `first..last`). `aws-es redrive` folds them in order through the projector and
removes them (projections/projector.py, `Projector.redrive`).

A parking store keeps, per (projection, aggregate), one marker (first and last number parked, why, since when)
and the events themselves. `parked_among` asks about every aggregate of a batch at once (one BatchGetItem of
the markers per 100 aggregates on DynamoDB). `park` is idempotent (a redelivered record parks the same item
again) and writes the events before the marker, so a marker never names an event it does not hold.
`release` removes the marker only if nothing was parked behind the redrive meanwhile, then the events: an
event parked while a redrive runs starts a new marker and waits for the next redrive.

The DynamoDB table (`ParkedEvents`) is keyed by `parked` = `<projection>#<aggregate id>` (S) and `number` (N);
the marker is the item numbered 0 (events are numbered from 1), and only markers carry `projection`, the key
of the sparse index `by-projection` that lists one projection's parked aggregates without a scan.
tests/unit/test_parking_store_contract.py runs the contract against both stores.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError

from core.dynamodb import from_item, to_item
from core.dynamodb_calls import raise_if_missing_table
from core.errors import error_code
from core.events import RecordedEvent
from projections.errors import ProjectionError, RowsUnavailableError

#: The declared name of the parking table (`PARKED_EVENTS_TABLE` overrides it).
PARKED_EVENTS_TABLE = "ParkedEvents"
#: The marker's number: events are numbered from 1.
MARKER = 0
#: Keys per BatchGetItem request (DynamoDB's limit).
BATCH_GET_KEYS = 100
#: The sparse index of the markers by projection (events carry no `projection` attribute).
BY_PROJECTION = "by-projection"
#: A reason longer than this is cut (a marker stays small).
REASON_LIMIT = 1000


@dataclass(frozen=True)
class Parked:
    """One parked aggregate of one projection: events `first..last` wait, because of `reason`, since `since`."""

    projection: str
    aggregate_id: str
    first: int
    last: int
    reason: str
    since: str

    @property
    def count(self) -> int:
        return self.last - self.first + 1


class ParkingStore(Protocol):
    def parked_among(self, projection: str, ids: Sequence[str]) -> dict[str, Parked]:
        """The parked ones among `ids`, by aggregate id (one request per 100 ids on DynamoDB);
        `RowsUnavailableError` when it cannot tell."""
        ...

    def park(self, projection: str, aggregate_id: str, events: Sequence[RecordedEvent], reason: str) -> None:
        """Keep `events` (contiguous, in order) of the aggregate for the projection; idempotent."""
        ...

    def events(self, projection: str, aggregate_id: str) -> list[RecordedEvent]:
        """The parked events of the aggregate, in number order."""
        ...

    def parked(self, projection: str | None = None) -> list[Parked]:
        """Every parked aggregate (of one projection, or of all), sorted by projection then aggregate id."""
        ...

    def release(self, parked: Parked) -> bool:
        """Remove the marker `parked` describes and its events `first..last`, unless more was parked behind it
        meanwhile (then nothing is removed: False)."""
        ...


def _since() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _reason(text: str) -> str:
    return text if len(text) <= REASON_LIMIT else text[:REASON_LIMIT - 1] + "…"


class InMemoryParkingStore:
    """The contract in memory (tests, benchmarks and the model of the contract)."""

    def __init__(self) -> None:
        self.markers: dict[tuple[str, str], Parked] = {}
        self.held: dict[tuple[str, str], dict[int, RecordedEvent]] = {}
        self.requests = 0
        self._lock = threading.Lock()

    def parked_among(self, projection: str, ids: Sequence[str]) -> dict[str, Parked]:
        with self._lock:
            self.requests += -(-len(ids) // BATCH_GET_KEYS)
            return {i: self.markers[(projection, i)] for i in dict.fromkeys(ids) if (projection, i) in self.markers}

    def park(self, projection: str, aggregate_id: str, events: Sequence[RecordedEvent], reason: str) -> None:
        if not events:
            return
        key = (projection, aggregate_id)
        with self._lock:
            self.held.setdefault(key, {}).update((event.number, event) for event in events)
            marker = self.markers.get(key)
            last = max(event.number for event in events)
            if marker is None:
                self.markers[key] = Parked(projection, aggregate_id, events[0].number, last, _reason(reason), _since())
            elif last > marker.last:
                self.markers[key] = Parked(projection, aggregate_id, marker.first, last, marker.reason, marker.since)

    def events(self, projection: str, aggregate_id: str) -> list[RecordedEvent]:
        with self._lock:
            held = self.held.get((projection, aggregate_id), {})
            return [held[number] for number in sorted(held)]

    def parked(self, projection: str | None = None) -> list[Parked]:
        with self._lock:
            found = [marker for marker in self.markers.values() if projection in (None, marker.projection)]
        return sorted(found, key=lambda marker: (marker.projection, marker.aggregate_id))

    def release(self, parked: Parked) -> bool:
        key = (parked.projection, parked.aggregate_id)
        with self._lock:
            marker = self.markers.get(key)
            if marker is not None and marker.last != parked.last:
                return False
            self.markers.pop(key, None)
            held = self.held.get(key, {})
            for number in range(parked.first, parked.last + 1):
                held.pop(number, None)
            if not held:
                self.held.pop(key, None)
            return True


class DynamoDBParkingStore:
    """The `ParkedEvents` table: items keyed (`<projection>#<aggregate id>`, number); the marker numbered 0."""

    def __init__(self, table: str, client: Any) -> None:
        self.table = table
        self.client = client

    @staticmethod
    def key(projection: str, aggregate_id: str, number: int = MARKER) -> dict[str, Any]:
        return {"parked": {"S": f"{projection}#{aggregate_id}"}, "number": {"N": str(number)}}

    def parked_among(self, projection: str, ids: Sequence[str]) -> dict[str, Parked]:
        unique = list(dict.fromkeys(ids))
        found: dict[str, Parked] = {}
        for start in range(0, len(unique), BATCH_GET_KEYS):
            keys = [self.key(projection, i) for i in unique[start:start + BATCH_GET_KEYS]]
            for item in self._batch_get(keys):
                marker = _marker(item)
                found[marker.aggregate_id] = marker
        return found

    def _batch_get(self, keys: list[dict[str, Any]], attempts: int = 5) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
        for _ in range(attempts):
            answer = self._call("batch_get_item", RequestItems=request)
            items += answer.get("Responses", {}).get(self.table, [])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return items
        raise RowsUnavailableError(f"parking table {self.table!r} left keys unprocessed after {attempts} attempts",
                                   keys=tuple(key["parked"]["S"] for key in request[self.table]["Keys"]))

    def park(self, projection: str, aggregate_id: str, events: Sequence[RecordedEvent], reason: str) -> None:
        if not events:
            return
        name = f"{projection}#{aggregate_id}"
        puts = [{"PutRequest": {"Item": {"parked": {"S": name}, **to_item(aggregate_id, event)}}} for event in events]
        for start in range(0, len(puts), 25):
            self._batch_write(puts[start:start + 25])
        last = max(event.number for event in events)
        try:
            self._call(
                "update_item", TableName=self.table, Key=self.key(projection, aggregate_id),
                UpdateExpression="SET #first = if_not_exists(#first, :first), "
                "#reason = if_not_exists(#reason, :reason), #since = if_not_exists(#since, :since), "
                "#last = :last, #id = :id, #projection = :projection",
                ConditionExpression="attribute_not_exists(#last) OR #last < :last",
                ExpressionAttributeNames={"#first": "first", "#last": "last", "#reason": "reason", "#since": "since",
                                          "#id": "id", "#projection": "projection"},
                ExpressionAttributeValues={":first": {"N": str(events[0].number)}, ":last": {"N": str(last)},
                                           ":reason": {"S": _reason(reason)}, ":since": {"S": _since()},
                                           ":id": {"S": aggregate_id}, ":projection": {"S": projection}})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":  # parked that far already: a redelivery
                raise

    def _batch_write(self, requests: list[dict[str, Any]], attempts: int = 8) -> None:
        pending: dict[str, Any] = {self.table: requests}
        for _ in range(attempts):
            pending = self._call("batch_write_item", RequestItems=pending).get("UnprocessedItems") or {}
            if not pending:
                return
        raise ProjectionError(f"parking table {self.table!r} left writes unprocessed after {attempts} attempts")

    def events(self, projection: str, aggregate_id: str) -> list[RecordedEvent]:
        request: dict[str, Any] = {
            "TableName": self.table, "ConsistentRead": True,
            "KeyConditionExpression": "parked = :parked AND #number > :marker",
            "ExpressionAttributeNames": {"#number": "number"},
            "ExpressionAttributeValues": {":parked": {"S": f"{projection}#{aggregate_id}"},
                                          ":marker": {"N": str(MARKER)}}}
        return [from_item(item) for item in self._pages("query", request)]

    def parked(self, projection: str | None = None) -> list[Parked]:
        """One projection's markers: a Query of the sparse index `by-projection` (only markers carry
        `projection`); every projection's: a Scan of the markers (the command line's, never a reader's)."""
        request: dict[str, Any]
        if projection is None:
            request = {"TableName": self.table, "ConsistentRead": True, "FilterExpression": "#number = :marker",
                       "ExpressionAttributeNames": {"#number": "number"},
                       "ExpressionAttributeValues": {":marker": {"N": str(MARKER)}}}
            found = [_marker(item) for item in self._pages("scan", request)]
        else:
            request = {"TableName": self.table, "IndexName": BY_PROJECTION,
                       "KeyConditionExpression": "#projection = :projection",
                       "ExpressionAttributeNames": {"#projection": "projection"},
                       "ExpressionAttributeValues": {":projection": {"S": projection}}}
            found = [_marker(item) for item in self._pages("query", request)]
        return sorted(found, key=lambda marker: (marker.projection, marker.aggregate_id))

    def release(self, parked: Parked) -> bool:
        try:
            self._call("delete_item", TableName=self.table, Key=self.key(parked.projection, parked.aggregate_id),
                       ConditionExpression="attribute_not_exists(#last) OR #last = :last",
                       ExpressionAttributeNames={"#last": "last"},
                       ExpressionAttributeValues={":last": {"N": str(parked.last)}})
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        deletes = [{"DeleteRequest": {"Key": self.key(parked.projection, parked.aggregate_id, number)}}
                   for number in range(parked.first, parked.last + 1)]
        for start in range(0, len(deletes), 25):
            self._batch_write(deletes[start:start + 25])
        return True

    def _pages(self, operation: str, request: dict[str, Any]) -> Iterable[dict[str, Any]]:
        while True:
            answer = self._call(operation, **request)
            yield from answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                return
            request = {**request, "ExclusiveStartKey": answer["LastEvaluatedKey"]}

    def _call(self, operation: str, **request: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self.client, operation)(**request)
            return result
        except ClientError as exc:
            raise_if_missing_table(exc, "parking table", self.table, ProjectionError)
            raise


def _marker(item: dict[str, Any]) -> Parked:
    return Parked(item["projection"]["S"], item["id"]["S"], int(item["first"]["N"]), int(item["last"]["N"]),
                  item["reason"]["S"], item["since"]["S"])


def parking_table_definition(name: str = PARKED_EVENTS_TABLE) -> dict[str, Any]:
    """CreateTable arguments of the parking table."""
    return {
        "TableName": name,
        "KeySchema": [{"AttributeName": "parked", "KeyType": "HASH"}, {"AttributeName": "number", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "parked", "AttributeType": "S"},
                                 {"AttributeName": "number", "AttributeType": "N"},
                                 {"AttributeName": "projection", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{
            "IndexName": BY_PROJECTION,
            "KeySchema": [{"AttributeName": "projection", "KeyType": "HASH"},
                          {"AttributeName": "parked", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}],
        "BillingMode": "PAY_PER_REQUEST",
    }
