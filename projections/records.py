"""DynamoDB Streams records: Lambda-shaped records in, `StreamEvent`s out, with every field checked.

Records that are not events (REMOVE, MODIFY, snapshot items kept in an aggregate's partition) map to None
and are ignored. A record missing what an event needs raises `MalformedRecordError` naming what was wrong;
one from another table's stream raises `ForeignRecordError` and is never folded.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from core.dynamodb import event_from_image
from core.errors import MalformedItemError
from projections.errors import ForeignRecordError, MalformedRecordError
from projections.projector import StreamEvent

EVENT_NAMES = ("INSERT", "MODIFY", "REMOVE")


def parse_record(record: Any, source_table: str | None = None) -> StreamEvent | None:
    """The event a Lambda-shaped stream record carries, or None when it carries none.

    With `source_table`, the record must come from that table's stream (its `eventSourceARN`).
    """
    if not isinstance(record, Mapping):
        raise MalformedRecordError(f"stream record must be an object, not {type(record).__name__}")
    label = record.get("eventID", "?")
    name = record.get("eventName")
    if name not in EVENT_NAMES:
        raise MalformedRecordError(f"stream record {label}: eventName {name!r} is not one of {EVENT_NAMES}")
    body = record.get("dynamodb")
    if not isinstance(body, Mapping) or not isinstance(body.get("SequenceNumber"), str):
        raise MalformedRecordError(f"stream record {label}: no dynamodb.SequenceNumber")
    if source_table is not None:
        _check_source(label, record.get("eventSourceARN"), source_table)
    if name != "INSERT":
        return None
    image = body.get("NewImage")
    if not isinstance(image, Mapping):
        raise MalformedRecordError(f"stream record {label}: INSERT without a NewImage (stream view must be NEW_IMAGE)")
    try:
        found = event_from_image(image)
    except MalformedItemError as exc:
        raise MalformedRecordError(f"stream record {label}: NewImage {exc}") from exc
    if found is None:
        return None
    return StreamEvent(found[0], found[1], body["SequenceNumber"])


def sequence_number(record: Any) -> str | None:
    """The record's sequence number, which names it in `batchItemFailures`, or None when it has none."""
    body = record.get("dynamodb") if isinstance(record, Mapping) else None
    sequence = body.get("SequenceNumber") if isinstance(body, Mapping) else None
    return sequence if isinstance(sequence, str) else None


def stream_table(arn: object) -> str | None:
    """The table whose stream an ARN names (`arn:aws:dynamodb:<region>:<account>:table/<name>/stream/<label>`)."""
    parts = arn.split(":", 5) if isinstance(arn, str) else []
    resource = parts[5].split("/") if len(parts) == 6 and parts[:3] == ["arn", parts[1], "dynamodb"] else []
    return resource[1] if len(resource) == 4 and resource[0] == "table" and resource[2] == "stream" else None


def _check_source(label: str, arn: object, table: str) -> None:
    source = stream_table(arn)
    if source is None:
        raise ForeignRecordError(f"stream record {label}: eventSourceARN {arn!r} is not a DynamoDB stream ARN; "
                                 f"only the stream of the events table {table!r} is projected")
    if source != table:
        raise ForeignRecordError(f"stream record {label} comes from the stream of table {source!r}, not of the "
                                 f"events table {table!r}: not folded")


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
