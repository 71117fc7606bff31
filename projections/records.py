"""DynamoDB Streams records: Lambda-shaped records in, `StreamEvent`s out, with every field checked.

Records that are not events (REMOVE, MODIFY, snapshot items kept in an aggregate's partition) map to None
and are ignored. A record missing what an event needs raises `MalformedRecordError` naming what was wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.dynamodb import from_item, is_event_item
from projections.errors import MalformedRecordError
from projections.projector import StreamEvent

EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")
EVENT_ATTRIBUTES = (("id", "S"), ("number", "N"), ("type", "S"), ("created", "S"), ("data", "S"))


def parse_record(record: Any) -> StreamEvent | None:
    """The event a Lambda-shaped stream record carries, or None when it carries none."""
    if not isinstance(record, Mapping):
        raise MalformedRecordError(f"stream record must be an object, not {type(record).__name__}")
    label = record.get("eventID", "?")
    name = record.get("eventName")
    if name not in EVENT_NAMES:
        raise MalformedRecordError(f"stream record {label}: eventName {name!r} is not one of {EVENT_NAMES}")
    body = record.get("dynamodb")
    if not isinstance(body, Mapping) or not isinstance(body.get("SequenceNumber"), str):
        raise MalformedRecordError(f"stream record {label}: no dynamodb.SequenceNumber")
    if name != "INSERT":
        return None
    image = body.get("NewImage")
    if not isinstance(image, Mapping):
        raise MalformedRecordError(f"stream record {label}: INSERT without a NewImage (stream view must be NEW_IMAGE)")
    if not _shaped(image, "number", "N"):
        raise MalformedRecordError(f"stream record {label}: NewImage has no numeric 'number'")
    if not is_event_item(image) or "kind" in image:
        return None
    return StreamEvent(image["id"]["S"] if _shaped(image, "id", "S") else "", _event(label, image),
                       body["SequenceNumber"])


def _event(label: str, image: Mapping[str, Any]) -> Any:
    for attribute, kind in EVENT_ATTRIBUTES:
        if not _shaped(image, attribute, kind):
            raise MalformedRecordError(f"stream record {label}: NewImage attribute {attribute!r} is missing "
                                       f"or not of type {kind}")
    try:
        event = from_item(dict(image))
    except ValueError as exc:
        raise MalformedRecordError(f"stream record {label}: event number {image['number']['N']!r} is not "
                                   "a whole number") from exc
    if event.number < 1:
        raise MalformedRecordError(f"stream record {label}: event number {event.number} is below 1")
    return event


def _shaped(image: Mapping[str, Any], attribute: str, kind: str) -> bool:
    value = image.get(attribute)
    return isinstance(value, Mapping) and isinstance(value.get(kind), str) and bool(value[kind])


def lambda_record(record: Mapping[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A `get_records` record as Lambda delivers it (LOCAL-AWS trap 7): source ARN, epoch-second times."""
    body = dict(record["dynamodb"])
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        body["ApproximateCreationDateTime"] = created.timestamp()
    return {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", region),
        "dynamodb": body,
        "eventSourceARN": stream_arn,
    }


def lag_seconds(record: Mapping[str, Any], now: float) -> float | None:
    """Seconds between the write and now, from the record's ApproximateCreationDateTime."""
    created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    return max(0.0, now - float(created)) if isinstance(created, (int, float)) else None
