"""A write that loses to a concurrent writer is re-read and retried; the correlation id reaches the logs."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import boto3

from handlers.projector import handler_for
from handlers.tables import ensure_tables
from projections.runner import LocalContext
from tests.projection_support import actual, commit_history, create_tables, expected, log_events, projector


def test_a_conflicting_concurrent_write_is_re_read_and_retried(aws: None) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    tables = create_tables(client)
    loan = commit_history(client, [
        {"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.10")},
        {"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": Decimal("10.00")},
    ])
    events = log_events(client, [loan.id])
    projector(client).apply(events[:2])
    rival = boto3.client("dynamodb", region_name="us-east-1")
    raced = {"done": False}

    def rival_writes_first(model: Any = None, **_: Any) -> None:
        if model.name == "TransactWriteItems" and not raced["done"]:
            raced["done"] = True
            projector(rival).apply(events[2:])  # lands between our read and our write

    client.meta.events.register("before-call.dynamodb", rival_writes_first)
    outcome = projector(client).apply(events[2:3])
    assert raced["done"] and outcome.conflicts == 1 and not outcome.failed
    assert actual(client, tables) == expected(client)


def test_the_logger_carries_the_correlation_id_and_metrics_count_the_batch(app, aws: None, capsys: Any) -> None:
    ensure_tables(app)
    client = boto3.client("dynamodb", region_name="us-east-1")
    from loans import Loan

    loan = Loan()
    loan.commit({"type": "LoanCreated", "requested_amount": Decimal("1.00"), "interest": Decimal("0"),
                 "meta": {"correlation_id": "order-42"}})

    records: list[dict[str, Any]] = []
    app.runner(lambda event, _: records.extend(event["Records"])).drain()
    from handlers.projector import logger, metrics

    metrics.clear_metrics()  # a local stack earlier in this process ran with metrics disabled (never flushed)
    records.append({"eventID": "broken", "eventName": "INSERT", "dynamodb": {"SequenceNumber": "999"}})
    reply = handler_for(app)({"Records": records}, LocalContext())
    assert reply == {"batchItemFailures": [{"itemIdentifier": "999"}]}
    assert logger.get_correlation_id() == "order-42"
    metrics = capsys.readouterr().out  # EMF on stdout
    # the loan module's two projections (loan-summary, loan-risk) each folded the one event: 2 in all, whether the
    # metrics come as one document per projection or one for the batch; the malformed record counted once in each
    def values(name: str) -> list[float]:
        return [float(value) for found in re.findall(rf'"{name}":\[([^\]]*)\]', metrics) for value in found.split(",")]

    assert sum(values("EventsFolded")) == 2, metrics
    assert values("MalformedRecords") and set(values("MalformedRecords")) == {1.0}, metrics
    assert client.get_item(TableName="LoanSummary", Key={"id": {"S": loan.id}})["Item"]["status"]["S"] == "CREATED"
