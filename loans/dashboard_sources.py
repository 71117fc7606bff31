"""What the dashboard reads, built from the App: the live loan tables, the control table, the
loans' event store, the failure queue's depth, the personal data keys and the per-day counters."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from loans.dashboard import Sources, daily_reader
from loans.dashboard_risk import Risk
from loans.loan import Loan
from loans.risk import RISK
from loans.views import revealing
from projections.errors import ProjectionError, UnknownProjectionError

#: The projection the dashboard reads (its counters are the portfolio, its event counters the days).
SUMMARY = "loan-summary"


def failure_queue_depth(app: Any) -> int | None:
    """Records waiting in the on-failure queue, or None when there is no such queue."""
    sqs = app.sqs
    try:
        url = sqs.get_queue_url(QueueName=app.settings.projections.on_failure_queue)["QueueUrl"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("AWS.SimpleQueueService.NonExistentQueue",
                                                           "QueueDoesNotExist"):
            return None
        raise
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def parked_events(app: Any, projection: str = SUMMARY) -> int | None:
    """Events the projector parked for `projection` (one Query of the parking table's index of markers), or None
    when there is no parking table."""
    try:
        return sum(marker.count for marker in app.parking().parked(projection))
    except ProjectionError:
        return None


def sources(app: Any) -> Sources:
    """The dashboard's sources for one request (the live generation may have changed since the last)."""
    projection, tables = app.live_tables(SUMMARY)
    client = app.dynamodb
    return Sources(client=client, projection=projection, tables=tables, control=app.control(),
                   events=app.event_store(Loan), failures=lambda: failure_queue_depth(app),
                   reveal=revealing(app.sealer), daily=daily_reader(client, tables),
                   parked=lambda name=SUMMARY: parked_events(app, name), risk=risk_sources(app),
                   currency=app.settings.currency)


def risk_sources(app: Any) -> Risk | None:
    """The live generation of `loan-risk`, or None when the modules loaded do not declare it."""
    try:
        projection, tables = app.live_tables(RISK)
    except UnknownProjectionError:
        return None
    return Risk(app.dynamodb, projection, tables)
