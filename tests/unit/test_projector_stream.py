"""The Lambda handler and the stream runner, fed real moto stream records (mock_aws in-process)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from core import config
from handlers import projection_setup
from handlers.demo import run_portfolio
from handlers.projector import lambda_handler
from handlers.tables import ensure_tables
from loans import Loan
from projections.runner import LocalContext
from tests.projection_support import actual, expected


@pytest.fixture
def stack(aws: None) -> Any:
    ensure_tables()
    return config.dynamodb_client()


def stream_records(client: Any) -> list[dict[str, Any]]:
    """Lambda-shaped records of everything on the events table's stream, as the runner builds them."""
    captured: list[dict[str, Any]] = []
    runner = projection_setup.runner(handler=lambda event, _: captured.extend(event["Records"]))
    runner.drain()
    return captured


def live_tables() -> Any:
    from projections.tables import tables_for

    return tables_for(projection_setup.projection(), 0)


def test_handler_folds_real_stream_records_and_reports_no_failures(stack: Any) -> None:
    run_portfolio()
    records = stream_records(stack)
    assert records and all(r["eventSourceARN"].startswith("arn:") for r in records)
    assert all(isinstance(r["dynamodb"]["ApproximateCreationDateTime"], float) for r in records)
    assert lambda_handler({"Records": records}, LocalContext()) == {"batchItemFailures": []}
    assert actual(stack, live_tables()) == expected(stack)
    # redelivering the whole batch changes nothing
    assert lambda_handler({"Records": records}, LocalContext()) == {"batchItemFailures": []}
    assert actual(stack, live_tables()) == expected(stack)


@pytest.mark.parametrize("damage", [
    lambda r: r["dynamodb"].pop("NewImage"),
    lambda r: r["dynamodb"]["NewImage"].pop("type"),
    lambda r: r["dynamodb"]["NewImage"].update(number={"N": "x1"}),
    lambda r: r["dynamodb"]["NewImage"].update(data={"S": "not json"}),
    lambda r: r.update(eventName="UPSERT"),
])
def test_a_malformed_record_fails_alone(stack: Any, damage: Any) -> None:
    run_portfolio()
    records = stream_records(stack)
    victim = records[0]
    sequence = victim["dynamodb"]["SequenceNumber"]
    ids = {r["dynamodb"]["SequenceNumber"]: r["dynamodb"]["NewImage"]["id"]["S"] for r in records}
    damage(victim)
    reply = lambda_handler({"Records": records}, LocalContext())
    failed = [item["itemIdentifier"] for item in reply["batchItemFailures"]]
    # the record fails, and (when its aggregate is known) so do its aggregate's other records, no one else's
    assert failed[0] == sequence
    assert {ids[s] for s in failed} == {ids[sequence]}
    rows, _ = actual(stack, live_tables())
    assert set(ids.values()) - {ids[sequence]} <= set(rows)  # every other loan was applied


def test_a_record_without_a_sequence_number_is_logged_not_reported(stack: Any) -> None:
    run_portfolio()
    records = stream_records(stack)
    records[0].pop("dynamodb")
    assert lambda_handler({"Records": records}, LocalContext()) == {"batchItemFailures": []}
    rows, _ = actual(stack, live_tables())
    assert len(rows) == 7


def test_records_that_are_not_events_are_ignored(stack: Any) -> None:
    loan = Loan()
    loan.commit({"type": "LoanCreated", "requested_amount": __import__("decimal").Decimal("10.00"),
                 "interest": __import__("decimal").Decimal("0")})
    stack.put_item(TableName="Loans", Item={"id": {"S": loan.id}, "number": {"N": "1.5"}, "kind": {"S": "snapshot"},
                                           "state": {"S": "{}"}})
    stack.delete_item(TableName="Loans", Key={"id": {"S": loan.id}, "number": {"N": "1.5"}})
    records = stream_records(stack)
    assert [r["eventName"] for r in records] == ["INSERT", "INSERT", "REMOVE"]
    assert lambda_handler({"Records": records}, LocalContext()) == {"batchItemFailures": []}
    rows, _ = actual(stack, live_tables())
    assert rows[loan.id]["version"] == 1


def test_a_poison_record_ends_in_the_on_failure_queue_and_the_rest_is_applied(
        stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECTOR_MAX_RETRIES", "2")
    monkeypatch.setenv("PROJECTOR_BATCH_WINDOW", "0")
    run_portfolio()
    poison = "poison-loan"
    stack.put_item(TableName="Loans", Item={"id": {"S": poison}, "number": {"N": "1"}, "type": {"S": "LoanCreated"},
                                           "created": {"S": "2026-01-01T00:00:00+00:00"}, "data": {"S": "{oops"}})
    run_portfolio()
    invocations: list[int] = []

    def counting(event: dict[str, Any], context: Any) -> Any:
        invocations.append(len(event["Records"]))
        return lambda_handler(event, context)

    runner = projection_setup.runner(handler=counting)
    runner.drain()
    assert runner.given_up == 1
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="aws-es-projector-failures")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["record"]["dynamodb"]["NewImage"]["id"]["S"] for m in messages] == [poison]
    assert invocations.count(1) >= 3  # the isolated record was tried 1 + MaximumRetryAttempts times
    rows, _ = actual(stack, live_tables())
    assert len(rows) == 14 and poison not in rows


def test_bad_projector_configuration_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.errors import ConfigurationError

    monkeypatch.setenv("PROJECTOR_BATCH_SIZE", "lots")
    with pytest.raises(ConfigurationError, match="PROJECTOR_BATCH_SIZE"):
        projection_setup.settings()
    monkeypatch.setenv("PROJECTOR_BATCH_SIZE", "10")
    monkeypatch.setenv("PROJECTOR_BISECT", "maybe")
    with pytest.raises(ConfigurationError, match="PROJECTOR_BISECT"):
        projection_setup.settings()


def test_without_bisection_a_failing_batch_is_retried_whole_then_given_up_from_the_failed_record(
        stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROJECTOR_BISECT", "false")
    monkeypatch.setenv("PROJECTOR_MAX_RETRIES", "1")
    monkeypatch.setenv("PROJECTOR_BATCH_SIZE", "5")
    run_portfolio()
    calls: list[list[str]] = []

    def fails_the_third_record(event: dict[str, Any], context: Any) -> Any:
        sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        calls.append(sequences)
        if len(calls) <= 2:  # the first batch's third record fails on the first try and on the retry
            return {"batchItemFailures": [{"itemIdentifier": calls[0][2]}]}
        return lambda_handler(event, context)

    runner = projection_setup.runner(handler=fails_the_third_record)
    runner.drain()
    assert len(calls[0]) == 5 and calls[1] == calls[0][2:]  # retried from the lowest failed record
    assert runner.given_up == 3 and calls[2][0] not in calls[0]  # then given up on, and the stream moves on
    assert runner.delivered == 29
