"""Lambda handler for the events tables' DynamoDB streams: fold each batch into every projection registered
for the table the records come from (their `eventSourceARN`).

Thin on purpose: parse and project in `projections.batch`, then let powertools shape the partial batch
response, so Lambda retries only from the lowest failed record. A record from a table no registered
aggregate uses (or with no source at all) is refused, never folded.

`lambda_handler` serves the process's App (`App.from_env()`, built on the first invocation);
`handler_for(app)` is the same handler on an App the caller built, and `runners(app)` the local stream
runners feeding it (`aws-es project`, the demo, the local stack, tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from botocore.exceptions import BotoCoreError, ClientError

from core.errors import EventSourcingError
from handlers.app import App, ProcessApp
from handlers.tracing import tracer_for
from projections.batch import BatchResult, project_batch
from projections.errors import ForeignRecordError
from projections.projector import BatchCounts
from projections.records import sequence_number, stream_table

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

    from projections.runner import StreamRunner

logger = Logger(service="projector")
tracer = tracer_for("projector")
metrics = Metrics(namespace="aws-es", service="projector")
#: Even when every record failed, the reply names them (rather than an exception for the whole batch).
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
process_app = ProcessApp()
Handler = Callable[[dict[str, Any], Any], "PartialItemFailureResponse"]


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return handle(process_app(), event, context)


def handler_for(app: App) -> Handler:
    """The Lambda handler (powertools' logging, metrics and tracing included) projecting with `app`."""

    @metrics.log_metrics
    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
        return handle(app, event, context)

    return handler


def runner(app: App, events_table: str | None = None) -> StreamRunner:
    """The local stream runner of one events table (default: the default aggregate's) feeding `app`'s projector."""
    return app.runner(handler_for(app), events_table)


def runners(app: App) -> list[StreamRunner]:
    """One local stream runner per registered events table that feeds a projection, feeding `app`'s projector."""
    return app.runners(handler_for(app))


def handle(app: App, event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """Project one stream batch with `app` and answer which records failed."""
    result = project_all(DynamoDBStreamEvent(event).records, app, time.time())
    logger.set_correlation_id(result.correlation_id)
    for name, value in result.metrics().items():
        unit = MetricUnit.Seconds if name.endswith("Seconds") else MetricUnit.Count
        metrics.add_metric(name=name, unit=unit, value=value)
    publish_lag(app, result, time.time())
    if result.links:
        # the commands' trace contexts, sampled or not: one trace reaches from the API to the row
        logger.info("events projected with their commands' trace context", extra={"trace_links": result.links})
        tracer.put_metadata(key="trace_links", value=result.links)
    if result.outcome.parked:
        logger.warning("events parked", extra={"parked": result.outcome.parked,
                                               "aggregates": result.outcome.parked_aggregates[:10]})
    if result.failed_records:
        logger.warning("records not projected", extra={"errors": (result.malformed + result.outcome.errors)[:10]})
    return process_partial_response(event=event, record_handler=result.check, processor=processor, context=context)


def publish_lag(app: App, result: BatchResult, now: float) -> None:
    """Per projection: its commit-to-visible lag (p50, p99, max; dimension `projection`) as metrics, and its
    progress in the control table (projections/lag.py), which `aws-es project --status` and the dashboard read.
    Recording progress is best effort: the rows are written already, and a lost record only ages the figures."""
    for name, progress in result.progress.items():
        if progress.figures is not None:
            emf = AmazonCloudWatchEMFProvider(namespace="aws-es", service="projector")
            emf.add_dimension(name="projection", value=name)
            for metric, value in progress.figures.metrics().items():
                emf.add_metric(name=metric, unit=MetricUnit.Seconds, value=value)
            emf.flush_metrics()
        if progress.seen is None:
            continue  # nothing of this projection's was delivered: nothing to record
        try:
            app.control().record_progress(name, progress)
        except (ClientError, BotoCoreError, EventSourcingError) as exc:
            logger.warning("projection progress not recorded", extra={"projection": name, "error": str(exc)})


def project_all(records: Iterable[DynamoDBRecord], app: App, now: float) -> BatchResult:
    """Group the records by source table, fold each group into that table's projections, merge the results."""
    groups: dict[str | None, list[DynamoDBRecord]] = {}
    for record in records:
        groups.setdefault(stream_table(record.raw_event.get("eventSourceARN")), []).append(record)
    registered = app.events_tables()
    results = []
    for table, group in groups.items():
        if table is None or table not in registered:
            results.append(refuse(group, registered))
            continue
        results += [project_batch(group, projector, now, source_table=table) for projector in app.projector(table)]
    return merge(results)


def refuse(records: list[DynamoDBRecord], registered: list[str]) -> BatchResult:
    """Every record fails, named: none comes from the stream of a registered events table."""
    result = BatchResult(BatchCounts())
    for record in records:
        raw = record.raw_event
        arn, label = raw.get("eventSourceARN"), raw.get("eventID", "?")
        source = stream_table(arn)
        reason = str(ForeignRecordError(
            f"stream record {label}: eventSourceARN {arn!r} is not a DynamoDB stream ARN: not folded" if source is None
            else f"stream record {label} comes from the stream of table {source!r}, which no registered aggregate "
            f"uses (events tables: {', '.join(registered) or 'none'}): not folded"))
        result.malformed.append(reason)
        sequence = sequence_number(raw)
        if sequence is not None:
            result.failed_records[sequence] = reason
    return result


def merge(results: list[BatchResult]) -> BatchResult:
    """One result for the reply: a record fails when any projection failed it."""
    merged = BatchResult(BatchCounts())
    for result in results:
        for name in ("folded", "duplicates", "gaps_filled", "conflicts", "writes", "parked"):
            setattr(merged.outcome, name, getattr(merged.outcome, name) + getattr(result.outcome, name))
        merged.outcome.parked_aggregates += result.outcome.parked_aggregates
        merged.outcome.failed.update(result.outcome.failed)
        merged.outcome.errors += [error for error in result.outcome.errors if error not in merged.outcome.errors]
        merged.malformed += [reason for reason in result.malformed if reason not in merged.malformed]
        for sequence, reason in result.failed_records.items():
            merged.failed_records.setdefault(sequence, reason)
        if result.lag is not None:
            merged.lag = result.lag if merged.lag is None else max(merged.lag, result.lag)
        merged.correlation_id = merged.correlation_id or result.correlation_id
        merged.progress.update(result.progress)
        merged.links += [link for link in result.links if link not in merged.links]
    return merged
