"""The DynamoDB event store: one item per event, `id` (S, partition) and `number` (N, sort).

Appends are one conditional PutItem (one event) or one TransactWriteItems (several, all or nothing), after
one consistent GetItem proving event `expected_version` is stored when the caller did not read that version
from this store (events are immutable, so the proof cannot go stale). Reads are Query by `id` and
`number > :after`, strongly consistent, page by page; `read_backwards` the same Query downwards, its pages
growing from a small first one; `scan` a strongly consistent parallel Scan (DynamoDB keeps a partition's items
together, in sort key order, so an aggregate lies in one segment, oldest event first). Throttling, 5xx and lost
connections that outlast the client's retries become `StoreUnavailableError`.

This module and `snapshots.dynamodb` are the only ones that decode event items: everything else reads
`RecordedEvent`s through the store, and a stream record's image through `event_from_image`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any, NoReturn

from botocore.exceptions import ClientError, EndpointConnectionError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from core.dynamodb_calls import (
    cancellation_codes,
    cancellation_reasons,
    is_conflict,
    is_last_page,
    paged_items,
    pages,
    raise_if_missing_table,
)
from core.errors import (
    ConcurrencyError,
    InvalidReadError,
    MalformedItemError,
    StoreError,
    StoreUnavailableError,
    VersionGapError,
    error_code,
)
from core.events import RecordedEvent
from core.store import KeyMarker, check_append, check_before, check_scan, check_until

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

#: Error codes that mean "not now": throttling and server faults, still failing after the client's retries.
UNAVAILABLE_CODES = frozenset((
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "ServiceUnavailable", "ServiceUnavailableException",
))
#: The same, as `CancellationReasons` codes of a cancelled transaction.
UNAVAILABLE_REASONS = frozenset(("ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"))
#: Lost, refused or timed-out connections (botocore's own exceptions, not AWS replies).
CONNECTION_ERRORS = (HTTPClientError, BotoConnectionError)
#: `read_backwards` asks for this many items first and twice as many on each next page, up to
#: `LAST_LIMITED_PAGE`; after that, pages run to DynamoDB's 1 MB. A page of the newest 50 events (with the
#: snapshot item or two kept among them) is one small request; a whole history costs a few requests more
#: than unlimited pages would.
FIRST_BACKWARDS_PAGE = 64
LAST_LIMITED_PAGE = 16_384
#: The attributes every event item has, with their DynamoDB types.
EVENT_ATTRIBUTES = (("id", "S"), ("number", "N"), ("type", "S"), ("created", "S"), ("data", "S"))
#: The optional attribute holding an event's payload schema version (N), written only when it is not 1.
VERSION = "v"

def to_item(aggregate_id: str, event: RecordedEvent) -> dict[str, dict[str, str]]:
    item = {
        "id": {"S": aggregate_id},
        "number": {"N": str(event.number)},
        "type": {"S": event.type},
        "created": {"S": event.created},
        "data": {"S": event.data},
    }
    if event.meta:
        item["meta"] = {"S": event.meta}
    if event.version != 1:  # the payload's schema version; absent means 1, so most events pay nothing for it
        item[VERSION] = {"N": str(event.version)}
    return item


def is_event_item(item: dict[str, Any]) -> bool:
    """Events have whole numbers; anything else kept in an aggregate's partition (a snapshot at
    `number = v + 0.5`) has a fractional one and is skipped by every event reader."""
    return "." not in item["number"]["N"]


_tuple = tuple.__new__


def from_item(item: dict[str, Any]) -> RecordedEvent:
    """The stored item as a `RecordedEvent`, built without the namedtuple's Python-level `__new__` (hot path)."""
    meta = item.get("meta")
    version = item.get(VERSION)
    return _tuple(RecordedEvent, (
        int(item["number"]["N"]),
        item["type"]["S"],
        item["created"]["S"],
        item["data"]["S"],
        meta["S"] if meta else None,
        int(version["N"]) if version else 1,
    ))


def records(items: Iterable[dict[str, Any]]) -> Iterator[RecordedEvent]:
    """The events among stored items, in the order given, one at a time (`items` may be a lazy read of many
    pages); snapshot items are skipped. `is_event_item` and `from_item` inlined: a snapshot's tail runs it."""
    for item in items:
        number = item["number"]["N"]
        if "." in number:
            continue
        meta = item.get("meta")
        version = item.get(VERSION)
        yield _tuple(RecordedEvent, (
            int(number), item["type"]["S"], item["created"]["S"], item["data"]["S"], meta["S"] if meta else None,
            int(version["N"]) if version else 1,
        ))


def paged_records(pages: Iterable[Iterable[dict[str, Any]]]) -> Iterator[RecordedEvent]:
    """`records` of each page's items in turn, one page in memory at a time: what `read` does with every item
    of a replay, so it runs as one comprehension per page."""
    return chain.from_iterable(map(page_records, pages))


def page_records(items: Iterable[dict[str, Any]]) -> list[RecordedEvent]:
    """The events among one page's items (`is_event_item` and `from_item` inlined): an item of the five
    attributes every event item has (no meta, schema version 1: most of them) is read without looking for the
    optional two."""
    return [
        _tuple(RecordedEvent, (int(number), item["type"]["S"], item["created"]["S"], item["data"]["S"], None, 1))
        if len(item) == 5 else from_item(item)
        for item in items if "." not in (number := item["number"]["N"])
    ]


def keyed_records(items: Iterable[dict[str, Any]]) -> Iterator[tuple[str, RecordedEvent]]:
    """`records`, each event with its aggregate's id: what `scan` yields."""
    for item in items:
        number = item["number"]["N"]
        if "." in number:
            continue
        meta = item.get("meta")
        version = item.get(VERSION)
        yield item["id"]["S"], _tuple(RecordedEvent, (
            int(number), item["type"]["S"], item["created"]["S"], item["data"]["S"], meta["S"] if meta else None,
            int(version["N"]) if version else 1,
        ))


def event_from_image(image: Mapping[str, Any]) -> tuple[str, RecordedEvent] | None:
    """The aggregate id and event an item image holds (a DynamoDB Streams record's `NewImage`), or None when
    the item is not an event (a snapshot kept in the partition: a fractional number, or a `kind`).

    Every attribute is checked, so a damaged image raises `MalformedItemError` naming the attribute and what
    was wrong, never a `KeyError` or a half-built event.
    """
    if not _shaped(image, "number", "N"):
        raise MalformedItemError("has no numeric 'number'")
    if "." in image["number"]["N"] or "kind" in image:
        return None
    for attribute, kind in EVENT_ATTRIBUTES:
        if not _shaped(image, attribute, kind):
            raise MalformedItemError(f"attribute {attribute!r} is missing or not of type {kind}")
    meta = image.get("meta")
    if meta is not None and not (isinstance(meta, Mapping) and isinstance(meta.get("S"), str)):
        raise MalformedItemError("attribute 'meta' is not of type S")
    text = image["number"]["N"]
    try:
        number = int(text)
    except ValueError:
        raise MalformedItemError(f"event number {text!r} is not a whole number") from None
    if number < 1:
        raise MalformedItemError(f"event number {number} is below 1")
    version = 1
    if VERSION in image:
        held = image[VERSION]
        text = held.get("N") if isinstance(held, Mapping) else None
        if not isinstance(text, str) or not text.isdigit() or int(text) < 1:
            raise MalformedItemError(f"attribute {VERSION!r} (the schema version) is not a whole number from 1")
        version = int(text)
    event = RecordedEvent(number, image["type"]["S"], image["created"]["S"], image["data"]["S"],
                          meta["S"] if meta else None, version)
    return image["id"]["S"], event


def _shaped(image: Mapping[str, Any], attribute: str, kind: str) -> bool:
    value = image.get(attribute)
    return isinstance(value, Mapping) and isinstance(value.get(kind), str) and bool(value[kind])


class DynamoDBTable:
    """A table name and a DynamoDB client: the injected one, or a plain one built on first use."""

    def __init__(self, table: str, client: DynamoDBClient | None = None) -> None:
        self.table = table
        self._client = client

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            from core.config import default_client

            self._client = default_client("dynamodb")
        return self._client

    def read_request(self, aggregate_id: str, after: int) -> dict[str, Any]:
        """The Query for an aggregate's items numbered above `after`, oldest first, strongly consistent."""
        return {
            "TableName": self.table,
            "KeyConditionExpression": "#id = :id AND #n > :after",
            "ExpressionAttributeNames": {"#id": "id", "#n": "number"},
            "ExpressionAttributeValues": {":id": {"S": aggregate_id}, ":after": {"N": str(after)}},
            "ConsistentRead": True,
        }

    def _items(self, request: dict[str, Any], operation: str = "query") -> Iterator[dict[str, Any]]:
        """Every item a Query (or Scan) returns, page by page."""
        return paged_items(lambda page_request: self._call(operation, page_request), request)

    def _call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        try:
            # The operation is named at run time, so its reply is untyped here: a plain dict.
            reply: dict[str, Any] = getattr(self.client, operation)(**request)
            return reply
        except (ClientError, *CONNECTION_ERRORS) as exc:
            self._reraise(exc)

    def _reraise(self, exc: Exception) -> NoReturn:
        """A missing table becomes a `StoreError` that says what to do, throttling, a 5xx or a lost connection
        a `StoreUnavailableError` keeping the cause's text; anything else goes up untouched."""
        if isinstance(exc, CONNECTION_ERRORS):
            hint = ": is it running? (AWS_ENDPOINT_URL)" if isinstance(exc, EndpointConnectionError) else ""
            raise StoreUnavailableError(f"{self._unavailable()}: {exc}{hint}", cause=exc) from exc
        if not isinstance(exc, ClientError):
            raise exc
        raise_if_missing_table(exc, "events table", self.table, StoreError)
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in UNAVAILABLE_CODES or status >= 500:
            raise StoreUnavailableError(f"{self._unavailable()}: {exc}", cause=exc) from exc
        raise exc

    def _unavailable(self) -> str:
        return f"store unavailable: DynamoDB table {self.table!r} cannot be reached or keeps refusing for now"


class DynamoDBEventStore(DynamoDBTable):
    """Event store on one DynamoDB table per aggregate type.

    `page_size` caps the items of every Query and Scan page (None: DynamoDB's 1 MB pages, and `read_backwards`'
    growing ones); small pages are for tests of paging, and for readers that must bound each request.
    """

    def __init__(self, table: str, client: DynamoDBClient | None = None, page_size: int | None = None) -> None:
        super().__init__(table, client)
        if page_size is not None and (isinstance(page_size, bool) or not isinstance(page_size, int)
                                      or page_size < 1):
            raise ValueError(f"page_size must be a whole number from 1 or None, not {page_size!r}")
        self.page_size = page_size

    def read(self, aggregate_id: str, after: int = 0, until: int | None = None) -> Iterator[RecordedEvent]:
        check_until(until)
        if until is not None and until <= after:
            return iter(())  # nothing lies between: no request (DynamoDB refuses BETWEEN with its ends reversed)
        request = self.read_request(aggregate_id, after)
        if until is not None:
            # events after `after` up to `until` only: the Query reads no item past the point asked for
            request["KeyConditionExpression"] = "#id = :id AND #n BETWEEN :after AND :until"
            request["ExpressionAttributeValues"].update({":after": {"N": str(after + 1)}, ":until": {"N": str(until)}})
        if self.page_size is not None:
            request["Limit"] = self.page_size
        return paged_records(page.get("Items", ()) for page in pages(lambda paged: self._call("query", paged), request))

    def read_backwards(self, aggregate_id: str, before: int | None = None) -> Iterator[RecordedEvent]:
        """Newest first, strongly consistent; the first page holds `FIRST_BACKWARDS_PAGE` items (or
        `page_size`), and each next one twice as many, so reading the newest few costs one small request."""
        check_before(before)
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#id = :id",
            "ExpressionAttributeNames": {"#id": "id"},
            "ExpressionAttributeValues": {":id": {"S": aggregate_id}},
            "ScanIndexForward": False,  # newest first
            "ConsistentRead": True,
        }
        if before is not None:
            request["KeyConditionExpression"] += " AND #n < :before"  # only items older than `before`
            request["ExpressionAttributeNames"]["#n"] = "number"
            request["ExpressionAttributeValues"][":before"] = {"N": str(before)}
        return records(self._growing_pages(request))

    def _growing_pages(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The Query's items, page by page, each page's `Limit` twice the last one's (fixed: `page_size`)."""
        limit: int | None = self.page_size or FIRST_BACKWARDS_PAGE
        request = dict(request)
        while True:
            if limit is None:
                request.pop("Limit", None)
            else:
                request["Limit"] = limit
            page = self._call("query", request)
            yield from page.get("Items", ())
            if is_last_page(page):
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            if self.page_size is None and limit is not None:
                limit = limit * 2 if limit < LAST_LIMITED_PAGE else None

    def scan(
        self, segment: int = 0, of: int = 1, start_after: tuple[str, int] | None = None
    ) -> Iterator[tuple[str, RecordedEvent]]:
        """Segment `segment` of a parallel Scan in `of` segments, strongly consistent, page by page; from just
        after the event `start_after` names (its key is the Scan's `ExclusiveStartKey`)."""
        start = check_scan(segment, of, start_after)
        request: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        if of > 1:
            request.update(Segment=segment, TotalSegments=of)
        if start is not None:
            request["ExclusiveStartKey"] = {"id": {"S": start[0]}, "number": {"N": str(start[1])}}
        if self.page_size is not None:
            request["Limit"] = self.page_size
        return keyed_records(self._scanned(request, start))

    def _scanned(self, request: dict[str, Any], start: tuple[str, int] | None) -> Iterator[dict[str, Any]]:
        try:
            yield from self._items(request, "scan")
        except ClientError as exc:
            if start is None or error_code(exc) != "ValidationException":
                raise
            # The arguments were checked, so DynamoDB refused the key: one from another segment, say.
            raise InvalidReadError("start_after", f"scan's `start_after` {start!r} was refused by DynamoDB "
                                                  f"({exc}): resume a segment from a position it yielded") from exc

    def estimate(self) -> int | None:
        """DescribeTable's `ItemCount`: refreshed by DynamoDB about every six hours, and counting snapshot
        items kept beside the events; None when the table does not say, or the caller may not ask."""
        try:
            table = self.client.describe_table(TableName=self.table)["Table"]
        except ClientError as exc:
            if error_code(exc) == "AccessDeniedException":
                return None
            self._reraise(exc)
        except CONNECTION_ERRORS as exc:
            self._reraise(exc)
        count = table.get("ItemCount")
        return count if isinstance(count, int) else None

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[RecordedEvent],
        *,
        version_from_store: bool = False,
        marker: KeyMarker | None = None,
    ) -> None:
        """One conditional write; first one consistent read when the caller did not read its version here.
        A keyed append is always a transaction: the events and the marker item, all or nothing."""
        check_append(aggregate_id, expected_version, events, marker)
        items = [to_item(aggregate_id, event) for event in events]
        if expected_version > 0 and not version_from_store:
            self._check_stored(aggregate_id, expected_version)
        if len(items) == 1 and marker is None:
            self._put(aggregate_id, expected_version, items[0])
        else:
            self._transact(aggregate_id, expected_version, items, marker)

    def find_marker(self, table: str, key: str) -> KeyMarker | None:
        """The marker a keyed append recorded under `key` in `table`, read consistently; None when absent."""
        found = self._call("get_item", {"TableName": table, "Key": {"id": {"S": key}}, "ConsistentRead": True})
        return marker_from_item(table, found["Item"]) if "Item" in found else None

    def _check_stored(self, aggregate_id: str, expected_version: int) -> None:
        """`VersionGapError` unless event `expected_version` is stored (it can never be removed after)."""
        key = {"id": {"S": aggregate_id}, "number": {"N": str(expected_version)}}
        found = self._call("get_item", {
            "TableName": self.table, "Key": key, "ConsistentRead": True,
            "ProjectionExpression": "#n", "ExpressionAttributeNames": {"#n": "number"},
        })
        if "Item" not in found:
            raise VersionGapError(aggregate_id, expected_version)

    def _put(self, aggregate_id: str, expected_version: int, item: dict[str, Any]) -> None:
        try:
            self.client.put_item(
                TableName=self.table,
                Item=item,
                # The event number is the version after it: taken means someone appended first.
                ConditionExpression="attribute_not_exists(#n)",
                ExpressionAttributeNames={"#n": "number"},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                if _retried(exc) and exc.response.get("Item") == item:
                    return  # our own earlier attempt landed, its reply was lost and botocore sent it again
                raise ConcurrencyError(aggregate_id, expected_version) from exc
            self._reraise(exc)
        except CONNECTION_ERRORS as exc:
            self._reraise(exc)

    def _transact(
        self, aggregate_id: str, expected_version: int, items: list[dict[str, Any]], marker: KeyMarker | None = None
    ) -> None:
        puts: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": item,
                    # Each number must be free: all of them, or none are written.
                    "ConditionExpression": "attribute_not_exists(#n)",
                    "ExpressionAttributeNames": {"#n": "number"},
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
            for item in items
        ]
        if marker is not None:
            puts.append(marker_put(marker))
        try:
            self.client.transact_write_items(TransactItems=puts)
        except ClientError as exc:
            if error_code(exc) == "TransactionCanceledException":
                reasons = cancellation_reasons(exc)
                if marker is not None and len(reasons) == len(puts):
                    # The key decides first: a retry of a committed request is answered, not a conflict.
                    stored = reasons[-1].get("Item")
                    marker.check(marker_from_item(marker.table, stored) if stored else None)
                    reasons = reasons[:-1]
                if _retried(exc) and [reason.get("Item") for reason in reasons] == items:
                    return  # our own earlier attempt landed, its reply was lost and botocore sent it again
                codes = cancellation_codes(exc)
                if is_conflict(codes):
                    raise ConcurrencyError(aggregate_id, expected_version) from exc
                if UNAVAILABLE_REASONS.intersection(codes):
                    raise StoreUnavailableError(f"{self._unavailable()}: {exc} {codes}", cause=exc) from exc
                raise StoreError(f"append to {aggregate_id!r} in {self.table} was cancelled: {codes}") from exc
            self._reraise(exc)
        except CONNECTION_ERRORS as exc:
            self._reraise(exc)


def marker_put(marker: KeyMarker) -> TransactWriteItemTypeDef:
    """The transaction's Put of a marker item: free key only; the old item comes back when it is taken."""
    return {
        "Put": {
            "TableName": marker.table,
            "Item": {
                "id": {"S": marker.key},
                "request_hash": {"S": marker.request_hash},
                "aggregate_id": {"S": marker.aggregate_id},
                "reply": {"S": marker.reply},
                "expiration": {"N": str(marker.expires_at)},
            },
            "ConditionExpression": "attribute_not_exists(#id)",
            "ExpressionAttributeNames": {"#id": "id"},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def marker_from_item(table: str, item: dict[str, Any]) -> KeyMarker:
    return KeyMarker(
        table=table,
        key=item["id"]["S"],
        request_hash=item["request_hash"]["S"],
        aggregate_id=item["aggregate_id"]["S"],
        reply=item["reply"]["S"],
        expires_at=int(item["expiration"]["N"]),
    )


def _retried(exc: ClientError) -> bool:
    return exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0) > 0



def events_table_definition(table: str) -> dict[str, Any]:
    """CreateTable arguments for an events table (the README's data model): the stream feeds the projectors."""
    return {
        "TableName": table,
        "KeySchema": [
            {"AttributeName": "id", "KeyType": "HASH"},
            {"AttributeName": "number", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "number", "AttributeType": "N"},
        ],
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }
