"""What the dashboard reads, built from today's configuration (`handlers.projection_setup`): the live loan
tables, the control table, the events table, the failure queue's depth and the per-day counters."""

from __future__ import annotations

from botocore.exceptions import ClientError

from core import config
from handlers import projection_setup
from loans.dashboard import Sources, daily_reader


def failure_queue_depth() -> int | None:
    """Records waiting in the on-failure queue, or None when there is no such queue."""
    sqs = config.client("sqs")
    try:
        url = sqs.get_queue_url(QueueName=projection_setup.settings().on_failure_queue)["QueueUrl"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("AWS.SimpleQueueService.NonExistentQueue",
                                                           "QueueDoesNotExist"):
            return None
        raise
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def sources() -> Sources:
    projection, tables = projection_setup.live_tables()
    client = config.dynamodb_client()
    return Sources(client=client, projection=projection, tables=tables, control=projection_setup.control(),
                   events_table=projection_setup.events_table(), shards=projection_setup.settings().shards,
                   failures=failure_queue_depth, daily=daily_reader(client, tables))
