"""One Lambda batch of stream records through a projector, with per-record failures for the reply.

Records are parsed one by one (a malformed one fails alone), then projected per aggregate; every record
of an aggregate whose write failed is reported, so Lambda redelivers from the lowest of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from projections.errors import MalformedRecordError
from projections.projector import Outcome, Projector, StreamEvent
from projections.records import lag_seconds, parse_record


@dataclass
class BatchResult:
    outcome: Outcome
    malformed: list[str] = field(default_factory=list)
    failed_records: set[int] = field(default_factory=set)
    lag: float | None = None
    correlation_id: str | None = None

    def check(self, record: DynamoDBRecord) -> None:
        """powertools' record handler: raises for exactly the records this batch failed.

        A record without a sequence number cannot be named in `batchItemFailures`; it is only logged
        and counted (MalformedRecords), since retrying the batch could never repair it.
        """
        if id(record.raw_event) in self.failed_records and record.dynamodb is not None:
            raise MalformedRecordError(f"record {record.event_id} was not projected: "
                                       f"{'; '.join(self.malformed + self.outcome.errors)[:500]}")

    def metrics(self) -> dict[str, float]:
        values = {"EventsFolded": self.outcome.folded, "DuplicatesSkipped": self.outcome.duplicates,
                  "GapsFilled": self.outcome.gaps_filled, "MalformedRecords": len(self.malformed),
                  "WriteRequests": self.outcome.writes}
        if self.lag is not None:
            values["ProjectionLagSeconds"] = self.lag
        return values


def project_batch(records: Iterable[DynamoDBRecord], projector: Projector, now: float) -> BatchResult:
    result = BatchResult(Outcome())
    events: list[tuple[StreamEvent, int]] = []
    for record in records:
        raw = record.raw_event
        try:
            item = parse_record(raw)
        except MalformedRecordError as exc:
            result.malformed.append(str(exc))
            result.failed_records.add(id(raw))
            continue
        lag = lag_seconds(raw, now)
        result.lag = lag if result.lag is None or lag is None else max(result.lag, lag)
        if item is not None:
            events.append((item, id(raw)))
            result.correlation_id = result.correlation_id or _correlation_id(item) or record.event_id
    projector.apply([item for item, _ in events], result.outcome)
    result.failed_records.update(raw_id for item, raw_id in events if item.sequence in result.outcome.failed)
    return result


def _correlation_id(item: StreamEvent) -> str | None:
    if not item.event.meta:
        return None
    try:
        meta: Any = orjson.loads(item.event.meta)
    except orjson.JSONDecodeError:
        return None
    return meta.get("correlation_id") if isinstance(meta, dict) else None
