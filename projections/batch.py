"""One Lambda batch of stream records through a projector, with per-record failures for the reply.

Records are parsed one by one (a malformed one, or one from another table's stream, fails alone), then
projected per aggregate; every record of an aggregate whose write failed is reported, so Lambda redelivers
from the lowest of them. Failures are keyed by sequence number, which names a record however it is copied.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from core.trace import trace_links
from projections.errors import MalformedRecordError
from projections.lag import LagFigures, Progress
from projections.projector import BatchCounts, Projector, StreamEvent
from projections.records import lag_seconds, parse_record, sequence_number


@dataclass
class BatchResult:
    outcome: BatchCounts
    malformed: list[str] = field(default_factory=list)
    #: sequence number -> why that record was not projected
    failed_records: dict[str, str] = field(default_factory=dict)
    lag: float | None = None
    correlation_id: str | None = None
    #: per event folded whose command kept a trace context: aggregate id, number and that context (core/trace.py)
    links: list[dict[str, object]] = field(default_factory=list)
    #: per projection, what this batch delivered and made visible (projections/lag.py)
    progress: dict[str, Progress] = field(default_factory=dict)

    def check(self, record: DynamoDBRecord) -> None:
        """powertools' record handler: raises for exactly the records this batch failed.

        A record without a sequence number cannot be named in `batchItemFailures`; it is only logged
        and counted (MalformedRecords), since retrying the batch could never repair it.
        """
        sequence = sequence_number(record.raw_event)
        if sequence is not None and sequence in self.failed_records:
            raise MalformedRecordError(f"record {sequence} was not projected: {self.failed_records[sequence][:500]}")

    def metrics(self) -> dict[str, float]:
        values: dict[str, float] = {"EventsFolded": self.outcome.folded, "DuplicatesSkipped": self.outcome.duplicates,
                  "GapsFilled": self.outcome.gaps_filled, "MalformedRecords": len(self.malformed),
                  "WriteRequests": self.outcome.writes, "ParkedEvents": self.outcome.parked}
        if self.lag is not None:
            values["ProjectionLagSeconds"] = self.lag
        return values


def project_batch(records: Iterable[DynamoDBRecord], projector: Projector, now: float,
                  source_table: str | None = None) -> BatchResult:
    """Project a batch; with `source_table`, a record from any other table's stream fails unfolded."""
    result = BatchResult(BatchCounts())
    events: list[StreamEvent] = []
    for record in records:
        raw = record.raw_event
        try:
            item = parse_record(raw, source_table)
        except MalformedRecordError as exc:
            result.malformed.append(str(exc))
            sequence = sequence_number(raw)
            if sequence is not None:
                result.failed_records[sequence] = str(exc)
            continue
        lag = lag_seconds(raw, now)
        result.lag = lag if result.lag is None or lag is None else max(result.lag, lag)
        if item is not None:
            events.append(item)
            result.correlation_id = result.correlation_id or _correlation_id(item) or record.event_id
    projector.apply(events, result.outcome)
    result.links = [{"aggregate_id": item.aggregate_id, "number": item.event.number, **context}
                    for item in events if item.sequence not in result.outcome.failed
                    and (context := trace_links(_meta(item)))]
    unprojected = [item.event.created for item in events if item.sequence in result.outcome.failed]
    result.progress[projector.projection.name] = Progress.of_batch(
        (item.event.created for item in events), unprojected, result.outcome.newest_projected, projector.clock(),
        LagFigures.of(result.outcome.visible))
    result.failed_records.update((item.sequence, result.outcome.failed[item.sequence]) for item in events
                                 if item.sequence in result.outcome.failed)
    return result


def _meta(item: StreamEvent) -> dict[str, Any]:
    if not item.event.meta:
        return {}
    try:
        meta: Any = orjson.loads(item.event.meta)
    except orjson.JSONDecodeError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _correlation_id(item: StreamEvent) -> str | None:
    value = _meta(item).get("correlation_id")
    return value if isinstance(value, str) else None
