"""Lambda handler for the events table's DynamoDB stream: fold each batch into the loan projections.

Thin on purpose: parse and project in `projections.batch`, then let powertools shape the partial batch
response, so Lambda retries only from the lowest failed record.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from handlers import projection_setup
from projections.batch import project_batch

logger = Logger(service="projector")
tracer = Tracer(service="projector")
metrics = Metrics(namespace="aws-es", service="projector")
#: Even when every record failed, the reply names them (rather than an exception for the whole batch).
processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    result = project_batch(DynamoDBStreamEvent(event).records, projection_setup.live_projector(), time.time(),
                           source_table=projection_setup.events_table())
    logger.set_correlation_id(result.correlation_id)
    for name, value in result.metrics().items():
        unit = MetricUnit.Seconds if name.endswith("Seconds") else MetricUnit.Count
        metrics.add_metric(name=name, unit=unit, value=value)
    if result.failed_records:
        logger.warning("records not projected", extra={"errors": (result.malformed + result.outcome.errors)[:10]})
    return process_partial_response(event=event, record_handler=result.check, processor=processor, context=context)
