"""Snapshots in the aggregate's own partition of the events table, so one Query loads snapshot and tail.

A snapshot of version `v` is an item with sort key `number = v + 0.5`, just above the event it includes,
marked `kind = "snapshot"`. Reading the partition downwards from the top (ScanIndexForward=False) meets
the tail first and then the latest snapshot: one request, whatever the history's length. That is this
store's access strategy (`load`). Every event reader of `core.dynamodb` skips these items (their number is
fractional), and so does the stream's decoder (`core.dynamodb.event_from_image`).

Each snapshot has its own sort key, so the newest is always the one read: an older snapshot landing late
sits below a newer one and is never used. After each write the writer sweeps the partition from the
snapshot it last knew of upwards and deletes every snapshot item below the newest (its own too, if it
landed late), so racing writers leave one snapshot item per aggregate (two for the instant between a
write and its sweep). Event reads that catch up (`catch_up`) report the snapshot items they pass, so a
writer that lost a race learns of the newer snapshot in the same request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from itertools import islice
from typing import Any

from botocore.exceptions import ClientError

from core.dynamodb import CONNECTION_ERRORS, DynamoDBTable, records
from core.dynamodb_calls import is_last_page
from core.dynamodb_calls import pages as paged
from core.errors import error_code
from core.events import RecordedEvent
from core.store import MAX_ITEM_BYTES, EventStore
from snapshots.envelope import Snapshot
from snapshots.errors import SnapshotCorruptError, SnapshotTooLargeError
from snapshots.policy import DEFAULT_EVERY
from snapshots.store import Head, Seen, Stored

KIND = "snapshot"


def snapshot_number(version: int) -> str:
    """The sort key of the snapshot of `version`: just above event `version`, below event `version + 1`."""
    return f"{version}.5"


def is_snapshot_item(item: dict[str, Any]) -> bool:
    kind: str | None = item.get("kind", {}).get("S")
    return kind == KIND


def to_item(snapshot: Snapshot) -> dict[str, dict[str, str]]:
    return {
        "id": {"S": snapshot.aggregate_id},
        "number": {"N": snapshot_number(snapshot.version)},
        "kind": {"S": KIND},
        "aggregate_type": {"S": snapshot.aggregate_type},
        "version": {"N": str(snapshot.version)},
        "fingerprint": {"S": snapshot.fingerprint},
        "state": {"S": snapshot.state},
        "created": {"S": snapshot.created},
        "checksum": {"S": snapshot.checksum},
    }


def stored(item: dict[str, Any]) -> Stored:
    """The snapshot item's version and token (its checksum as stored, when it has one)."""
    return Stored(int(Decimal(item["number"]["N"])), item.get("checksum", {}).get("S"))


def from_item_snapshot(item: dict[str, Any]) -> Snapshot:
    """Decode a snapshot item; a damaged one raises `SnapshotCorruptError` naming the field."""
    try:
        snapshot = _decode(item)
    except SnapshotCorruptError as exc:
        exc.token = item.get("checksum", {}).get("S")
        raise
    return replace(snapshot, token=snapshot.checksum)


def _decode(item: dict[str, Any]) -> Snapshot:
    number = item.get("number", {}).get("N", "?")
    where = f"item {item.get('id', {}).get('S', '?')!r}#{number}"
    fields: dict[str, Any] = {}
    for name, value in item.items():
        if "S" in value:
            fields[name] = value["S"]
        elif "N" in value:
            try:
                fields[name] = int(value["N"])
            except ValueError:
                fields[name] = value["N"]
    fields["aggregate_id"] = fields.pop("id", None)
    snapshot = Snapshot.from_fields(fields, where)
    if snapshot_number(snapshot.version) != number:
        raise SnapshotCorruptError(f"snapshot {where} says version {snapshot.version}", version=snapshot.version)
    return snapshot


def item_size(item: dict[str, dict[str, str]]) -> int:
    """Bytes as DynamoDB counts them: UTF-8 names and values (a number counts at most 21)."""
    size = 0
    for name, value in item.items():
        size += len(name.encode())
        size += min(21, len(value["N"])) if "N" in value else len(value["S"].encode())
    return size


@dataclass
class Top:
    """The top of a partition: the tail (oldest first) and the latest snapshot below it, if the read met one."""

    snapshot: Snapshot | None = None
    damaged: SnapshotCorruptError | None = None
    tail: list[RecordedEvent] = field(default_factory=list)
    #: True when the tail runs down to the snapshot item or to the start of the log.
    complete: bool = False
    #: The number of the event just below the snapshot item, when the same page held it.
    below: int | None = None
    stored: Stored | None = None


class DynamoDBSnapshotStore(DynamoDBTable):
    """Snapshot store on the events table itself (DESIGN.md's data model, plus `kind` and the envelope)."""

    def load(self, aggregate_type: str, aggregate_id: str, events: EventStore, interval: int = DEFAULT_EVERY) -> Head:
        """One descending Query (`top`) of pages just larger than the policy's interval: the tail, then the
        snapshot item; one request while the tail is shorter than the interval, whatever the history's length.
        This table is the events table: `events` is read only to prove a snapshot whose page ended at it."""
        top = self.top(aggregate_id, interval + 2)
        skipped = f"corrupt: {top.damaged}" if top.damaged else None
        snapshot = top.snapshot

        def gap() -> str | None:
            if snapshot is None:
                return None
            version = snapshot.version
            if top.tail:
                base = top.tail[0].number - 1
            elif top.below is not None:
                base = top.below
            else:  # the page ended at the snapshot item: ask for its event (rare; one more request)
                base = min(next((record.number for record in events.read(aggregate_id, version - 1)), 0), version)
            if base != version:
                return f"impossible: snapshot at version {version} but the log's event below it is #{base}"
            return None

        return Head(snapshot, top.stored, skipped, iter(top.tail), top.complete, gap)

    def top(self, aggregate_id: str, limit: int, pages: int = 4) -> Top:
        """Descending, strongly consistent Query pages of `limit` items, until the latest snapshot item.

        With `limit` just above the policy's interval the snapshot is on the first page: one request, and
        bytes received bounded whatever the history's length. A longer tail (a failed snapshot write) takes
        a few more pages; past `pages` of them, `complete` is False and the caller replays from the start.
        """
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#id = :id",
            "ExpressionAttributeNames": {"#id": "id"},
            "ExpressionAttributeValues": {":id": {"S": aggregate_id}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": limit,
        }
        top = Top()
        for page in islice(paged(lambda page_request: self._call("query", page_request), request), pages):
            if self._scan_page(top, page.get("Items", [])):
                break
            top.complete = is_last_page(page)
        top.tail.reverse()
        return top

    def _scan_page(self, top: Top, items: list[dict[str, Any]]) -> bool:
        """Collect tail events, newest first; True once the snapshot item is met."""
        at = next((position for position, item in enumerate(items) if is_snapshot_item(item)), None)
        top.tail.extend(records(items if at is None else items[:at]))
        if at is None:
            return False
        self._take_snapshot_item(top, items[at])
        below = next(records(items[at + 1:at + 2]), None)
        if below is not None:
            top.below = below.number
        top.complete = True
        return True

    @staticmethod
    def _take_snapshot_item(top: Top, item: dict[str, Any]) -> None:
        top.stored = stored(item)
        try:
            top.snapshot = from_item_snapshot(item)
        except SnapshotCorruptError as exc:
            top.damaged = exc

    def get(self, aggregate_type: str, aggregate_id: str) -> Snapshot | None:
        """The latest snapshot item, read downwards with a filter (the repository uses `head` instead)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#id = :id",
            "FilterExpression": "#kind = :kind",
            "ExpressionAttributeNames": {"#id": "id", "#kind": "kind"},
            "ExpressionAttributeValues": {":id": {"S": aggregate_id}, ":kind": {"S": KIND}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
        }
        for item in self._items(request):
            return from_item_snapshot(item)
        return None

    def put(self, snapshot: Snapshot, replaces: Stored | None = None) -> bool:
        item = to_item(snapshot)
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise SnapshotTooLargeError(snapshot.aggregate_type, snapshot.aggregate_id, size, MAX_ITEM_BYTES)
        names = {"#n": "number"}
        if replaces is not None and replaces.version == snapshot.version:
            # Replacing an unusable snapshot of this version: exactly the copy the reader saw, or nothing.
            condition, values = _exactly(replaces, names)
        else:
            # One item per version: if this version's snapshot is there already, leave it be.
            condition, values = "attribute_not_exists(#n)", {}
        try:
            self.client.put_item(TableName=self.table, Item=item, ConditionExpression=condition,
                                 ExpressionAttributeNames=names, **values)
        except (ClientError, *CONNECTION_ERRORS) as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            self._reraise(exc)
        if replaces is not None and replaces.version is not None and replaces.version > snapshot.version:
            self.delete(snapshot.aggregate_id, replaces)  # unusable, above ours: the sweep would keep it
        low = replaces.version if replaces is not None and replaces.version is not None else 0
        self.sweep(snapshot.aggregate_id, min(low, snapshot.version))
        return True

    def sweep(self, aggregate_id: str, low: int) -> int:
        """Delete every snapshot item numbered above `low` but the newest; returns how many were deleted.

        One Query (filtered to snapshot items, keys only) from `low` up: the events read in between are
        about one interval's, once per snapshot written.
        """
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#id = :id AND #n >= :low",
            "FilterExpression": "#kind = :kind",
            "ProjectionExpression": "#n, #checksum",
            "ExpressionAttributeNames": {"#id": "id", "#n": "number", "#kind": "kind", "#checksum": "checksum"},
            "ExpressionAttributeValues": {":id": {"S": aggregate_id}, ":low": {"N": str(low)},
                                          ":kind": {"S": KIND}},
            "ConsistentRead": True,
        }
        found = sorted((stored(item) for item in self._items(request)), key=lambda entry: entry.version or 0)
        for superseded in found[:-1]:
            self.delete(aggregate_id, superseded)
        return max(len(found) - 1, 0)

    def delete(self, aggregate_id: str, which: Stored) -> None:
        """Delete that snapshot item (by its token too, when known), if it is still there; never an event."""
        names = {"#kind": "kind"}
        condition, values = "#kind = :kind", {":kind": {"S": KIND}}  # only ever a snapshot item
        if which.token is not None:
            names["#checksum"] = "checksum"
            condition += " AND #checksum = :token"  # and only the copy the caller saw
            values[":token"] = {"S": which.token}
        try:
            self.client.delete_item(
                TableName=self.table,
                Key={"id": {"S": aggregate_id}, "number": {"N": snapshot_number(which.version or 0)}},
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, *CONNECTION_ERRORS) as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                self._reraise(exc)

    def catch_up(self, aggregate_id: str, after: int, events: EventStore, seen: list[Seen]) -> Iterator[RecordedEvent]:
        """The events after `after`, as `DynamoDBEventStore.read` gives them (same Query of this, the events
        table, page by page); the snapshot items the Query passes are added to `seen`, so a catch-up learns of
        them for free."""
        request = self.read_request(aggregate_id, after)
        for page in paged(lambda page_request: self._call("query", page_request), request):
            items = page.get("Items", ())
            seen.extend(sighting(item) for item in items if "." in item["number"]["N"] and is_snapshot_item(item))
            yield from records(items)


def sighting(item: dict[str, Any]) -> Seen:
    """A snapshot item a read passed: where it is, and its snapshot (None when it cannot be decoded)."""
    try:
        return Seen(stored(item), from_item_snapshot(item))
    except SnapshotCorruptError:
        return Seen(stored(item), None)


def _exactly(replaces: Stored, names: dict[str, str]) -> tuple[str, dict[str, Any]]:
    names["#checksum"] = "checksum"
    if replaces.token is None:  # a damaged item with no checksum: that item, still without one
        return "attribute_exists(#n) AND attribute_not_exists(#checksum)", {}
    return ("attribute_exists(#n) AND #checksum = :token",
            {"ExpressionAttributeValues": {":token": {"S": replaces.token}}})
