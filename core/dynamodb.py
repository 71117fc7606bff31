"""The DynamoDB event store: one item per event, `id` (S, partition) and `number` (N, sort).

Appends are one conditional PutItem (one event) or one TransactWriteItems (several, all or nothing), after
one consistent GetItem proving event `expected_version` is stored when the caller did not read that version
from this store (events are immutable, so the proof cannot go stale). Reads are Query by `id` and
`number > :after`, strongly consistent, page by page. Throttling, 5xx and lost connections that outlast the
client's retries become `StoreUnavailableError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from botocore.exceptions import ClientError, EndpointConnectionError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from core.dynamodb_calls import (
    cancellation_codes,
    cancellation_reasons,
    is_conflict,
    paged_items,
    raise_if_missing_table,
)
from core.errors import ConcurrencyError, StoreError, StoreUnavailableError, VersionGapError, error_code
from core.events import RecordedEvent
from core.store import KeyMarker, check_append, check_segment

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
    return item


def is_event_item(item: dict[str, Any]) -> bool:
    """Events have whole numbers; anything else kept in an aggregate's partition (a snapshot at
    `number = v + 0.5`) has a fractional one and is skipped by every event reader."""
    return "." not in item["number"]["N"]


_tuple = tuple.__new__


def from_item(item: dict[str, Any]) -> RecordedEvent:
    """The stored item as a `RecordedEvent`, built without the namedtuple's Python-level `__new__` (hot path)."""
    meta = item.get("meta")
    return _tuple(RecordedEvent, (
        int(item["number"]["N"]),
        item["type"]["S"],
        item["created"]["S"],
        item["data"]["S"],
        meta["S"] if meta else None,
    ))


def records(items: Iterable[dict[str, Any]]) -> Iterator[RecordedEvent]:
    """The events among a page of stored items, oldest first as given; snapshot items are skipped.

    What `read` does with each page: `is_event_item` and `from_item` inlined, since every replay runs it.
    """
    for item in items:
        number = item["number"]["N"]
        if "." in number:
            continue
        meta = item.get("meta")
        yield _tuple(RecordedEvent, (
            int(number), item["type"]["S"], item["created"]["S"], item["data"]["S"], meta["S"] if meta else None,
        ))


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
    """Event store on one DynamoDB table per aggregate type."""

    def read(self, aggregate_id: str, after: int = 0) -> Iterator[RecordedEvent]:
        return records(self._items(self.read_request(aggregate_id, after)))

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

    def scan(self, segment: int = 0, of: int = 1,
             start_after: tuple[str, int] | None = None) -> Iterator[tuple[str, RecordedEvent]]:
        """A parallel Scan segment, strongly consistent, page by page; `start_after` is its ExclusiveStartKey."""
        check_segment(segment, of)
        request: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        if of > 1:
            request.update(Segment=segment, TotalSegments=of)
        if start_after is not None:
            request["ExclusiveStartKey"] = {"id": {"S": start_after[0]}, "number": {"N": str(start_after[1])}}
        for item in self._items(request, "scan"):
            if "." not in item["number"]["N"]:
                yield item["id"]["S"], from_item(item)

    def estimate(self) -> int | None:
        """DescribeTable's ItemCount (refreshed by DynamoDB about every six hours; snapshots included)."""
        count = self._call("describe_table", {"TableName": self.table})["Table"].get("ItemCount")
        return int(count) if count is not None else None

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
    """CreateTable arguments for an events table (DESIGN.md's data model): the stream feeds the projectors."""
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
