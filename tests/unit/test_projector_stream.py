"""The Lambda handler and the stream runner, fed real moto stream records (mock_aws in-process)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from handlers.app import App
from handlers.projector import handler_for
from handlers.settings import Settings
from handlers.tables import ensure_tables
from loans import Loan
from loans.demo import run_portfolio
from projections.runner import LocalContext
from tests.projection_support import actual, expected


@pytest.fixture
def stack(app: App, aws: None) -> Any:
    ensure_tables(app)
    return app.dynamodb


@pytest.fixture
def stream_records(app: App) -> Callable[[Any], list[dict[str, Any]]]:
    """Lambda-shaped records of everything on the events table's stream, as the runner builds them."""

    def records(client: Any) -> list[dict[str, Any]]:
        captured: list[dict[str, Any]] = []
        runner = app.runner(lambda event, _: captured.extend(event["Records"]))
        runner.drain()
        return captured

    return records


@pytest.fixture
def live_tables(app: App) -> Callable[[], Any]:
    from projections.tables import tables_for

    return lambda: tables_for(app.projection("loan-summary"), 0)


def test_handler_folds_real_stream_records_and_reports_no_failures(
        app, stream_records, live_tables, stack: Any) -> None:
    run_portfolio()
    records = stream_records(stack)
    assert records and all(r["eventSourceARN"].startswith("arn:") for r in records)
    assert all(isinstance(r["dynamodb"]["ApproximateCreationDateTime"], float) for r in records)
    assert handler_for(app)({"Records": records}, LocalContext()) == {"batchItemFailures": []}
    assert actual(stack, live_tables()) == expected(stack)
    # redelivering the whole batch changes nothing
    assert handler_for(app)({"Records": records}, LocalContext()) == {"batchItemFailures": []}
    assert actual(stack, live_tables()) == expected(stack)


@pytest.mark.parametrize("damage", [
    lambda r: r["dynamodb"].pop("NewImage"),
    lambda r: r["dynamodb"]["NewImage"].pop("type"),
    lambda r: r["dynamodb"]["NewImage"].update(number={"N": "x1"}),
    lambda r: r["dynamodb"]["NewImage"].update(type={"N": "7"}),
    lambda r: r.update(eventName="UPSERT"),
])
def test_a_malformed_record_fails_alone(app, stream_records, live_tables, stack: Any, damage: Any) -> None:
    run_portfolio()
    records = stream_records(stack)
    victim = records[0]
    sequence = victim["dynamodb"]["SequenceNumber"]
    ids = {r["dynamodb"]["SequenceNumber"]: r["dynamodb"]["NewImage"]["id"]["S"] for r in records}
    damage(victim)
    reply = handler_for(app)({"Records": records}, LocalContext())
    failed = [item["itemIdentifier"] for item in reply["batchItemFailures"]]
    # the record fails, and (when its aggregate is known) so do its aggregate's other records, no one else's
    assert failed[0] == sequence
    assert {ids[s] for s in failed} == {ids[sequence]}
    rows, _ = actual(stack, live_tables())
    assert set(ids.values()) - {ids[sequence]} <= set(rows)  # every other loan was applied


def test_a_record_without_a_sequence_number_is_logged_not_reported(
        app, stream_records, live_tables, stack: Any) -> None:
    run_portfolio()
    records = stream_records(stack)
    records[0].pop("dynamodb")
    assert handler_for(app)({"Records": records}, LocalContext()) == {"batchItemFailures": []}
    rows, _ = actual(stack, live_tables())
    assert len(rows) == 7


def test_records_that_are_not_events_are_ignored(app, stream_records, live_tables, stack: Any) -> None:
    loan = Loan()
    loan.commit({"type": "LoanCreated", "requested_amount": __import__("decimal").Decimal("10.00"),
                 "interest": __import__("decimal").Decimal("0")})
    stack.put_item(TableName="Loans", Item={"id": {"S": loan.id}, "number": {"N": "1.5"}, "kind": {"S": "snapshot"},
                                           "state": {"S": "{}"}})
    stack.delete_item(TableName="Loans", Key={"id": {"S": loan.id}, "number": {"N": "1.5"}})
    records = stream_records(stack)
    assert [r["eventName"] for r in records] == ["INSERT", "INSERT", "REMOVE"]
    assert handler_for(app)({"Records": records}, LocalContext()) == {"batchItemFailures": []}
    rows, _ = actual(stack, live_tables())
    assert rows[loan.id]["version"] == 1


def test_a_poison_record_ends_in_the_on_failure_queue_and_the_rest_is_applied(live_tables, stack: Any) -> None:
    tuned = App.from_env({**os.environ, "PROJECTOR_MAX_RETRIES": "2", "PROJECTOR_BATCH_WINDOW": "0"})
    run_portfolio()
    poison = "poison-loan"
    stack.put_item(TableName="Loans", Item={"id": {"S": poison}, "number": {"N": "1"}, "type": {"S": "LoanCreated"},
                                           "created": {"S": "2026-01-01T00:00:00+00:00"}, "data": {"S": "{}"},
                                           "meta": {"N": "1"}})  # a stream record no event can be read from
    run_portfolio()
    invocations: list[int] = []

    def counting(event: dict[str, Any], context: Any) -> Any:
        invocations.append(len(event["Records"]))
        return handler_for(tuned)(event, context)

    runner = tuned.runner(counting)
    runner.drain()
    assert runner.given_up == 1
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.get_queue_url(QueueName="aws-es-projector-failures")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"])["record"]["dynamodb"]["NewImage"]["id"]["S"] for m in messages] == [poison]
    assert invocations.count(1) >= 3  # the isolated record was tried 1 + MaximumRetryAttempts times
    rows, _ = actual(stack, live_tables())
    assert len(rows) == 14 and poison not in rows


@pytest.mark.parametrize(("name", "value", "message"), [
    ("PROJECTOR_BATCH_SIZE", "abc", "PROJECTOR_BATCH_SIZE='abc' must be a whole number"),
    ("PROJECTOR_BATCH_SIZE", "2.5", "PROJECTOR_BATCH_SIZE='2.5' must be a whole number"),
    ("PROJECTOR_BATCH_WINDOW", "soon", "PROJECTOR_BATCH_WINDOW='soon' must be a number"),
    ("PROJECTION_COUNTER_SHARDS", "0", "PROJECTION_COUNTER_SHARDS='0' must be between 1 and 1000"),
])
def test_bad_projector_configuration_names_the_variable_and_what_it_must_be(
        monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str) -> None:
    from core.errors import ConfigurationError

    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as error:
        Settings.from_env()
    assert str(error.value) == message


def test_a_bad_flag_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from core.errors import ConfigurationError

    monkeypatch.setenv("PROJECTOR_BISECT", "maybe")
    with pytest.raises(ConfigurationError, match="PROJECTOR_BISECT"):
        Settings.from_env()


def test_without_bisection_a_failing_batch_is_retried_whole_then_given_up_from_the_failed_record(
        stack: Any) -> None:
    tuned = App.from_env({**os.environ, "PROJECTOR_BISECT": "false", "PROJECTOR_MAX_RETRIES": "1",
                          "PROJECTOR_BATCH_SIZE": "5"})
    run_portfolio()
    calls: list[list[str]] = []

    def fails_the_third_record(event: dict[str, Any], context: Any) -> Any:
        sequences = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
        calls.append(sequences)
        if len(calls) <= 2:  # the first batch's third record fails on the first try and on the retry
            return {"batchItemFailures": [{"itemIdentifier": calls[0][2]}]}
        return handler_for(tuned)(event, context)

    runner = tuned.runner(fails_the_third_record)
    runner.drain()
    assert len(calls[0]) == 5 and calls[1] == calls[0][2:]  # retried from the lowest failed record
    assert runner.given_up == 3 and calls[2][0] not in calls[0]  # then given up on, and the stream moves on
    assert runner.delivered == 29


def test_failures_are_matched_by_sequence_number_even_when_the_records_were_copied(
        app, stream_records, stack: Any) -> None:
    import copy

    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

    from projections.batch import project_batch

    run_portfolio()
    event = {"Records": stream_records(stack)}
    victim = event["Records"][0]
    victim["dynamodb"]["NewImage"]["type"] = {"N": "7"}
    copied = copy.deepcopy(event)  # what the batch was parsed from is not the object the reply is built from
    result = project_batch(DynamoDBStreamEvent(copied).records, app.projector("Loans")[0], time.time(),
                           source_table="Loans")
    reply = process_partial_response(event=event, record_handler=result.check, context=LocalContext(),
                                     processor=BatchProcessor(event_type=EventType.DynamoDBStreams))
    # the malformed record alone (its loan's later records fill the gap from the event store)
    assert reply["batchItemFailures"] == [{"itemIdentifier": victim["dynamodb"]["SequenceNumber"]}]


def test_a_record_from_another_tables_stream_is_reported_and_never_folded(
        app, stream_records, live_tables, stack: Any) -> None:
    from core.dynamodb import events_table_definition

    stack.create_table(**events_table_definition("Orders"))
    orders_stream = stack.describe_table(TableName="Orders")["Table"]["LatestStreamArn"]
    run_portfolio()
    records = stream_records(stack)
    stranger, unlabelled = records[0], records[1]  # the first loan's two events: LoanCreated, LoanRejected
    first_loan = stranger["dynamodb"]["NewImage"]["id"]["S"]
    stranger["eventSourceARN"] = orders_stream
    stranger["dynamodb"]["NewImage"]["id"] = {"S": "order-1"}
    unlabelled.pop("eventSourceARN")
    reply = handler_for(app)({"Records": records}, LocalContext())
    failed = {item["itemIdentifier"] for item in reply["batchItemFailures"]}
    assert failed == {stranger["dynamodb"]["SequenceNumber"], unlabelled["dynamodb"]["SequenceNumber"]}
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

    from projections.batch import project_batch

    result = project_batch(DynamoDBStreamEvent({"Records": [stranger]}).records, app.projector("Loans")[0],
                           time.time(), source_table="Loans")
    assert result.failed_records == {stranger["dynamodb"]["SequenceNumber"]: (
        f"stream record {stranger['eventID']} comes from the stream of table 'Orders', not of the events table "
        "'Loans': not folded")}
    rows, _ = actual(stack, live_tables())  # neither was folded; every other loan was
    assert set(rows) == {r["dynamodb"]["NewImage"]["id"]["S"] for r in records} - {"order-1", first_loan}


def fail_batch_get(client: Any, reply: Any) -> list[dict[str, Any]]:
    """Answer every BatchGetItem of `client` with `reply(request_items)` -> (status, body); returns the requests."""
    from botocore.awsrequest import AWSResponse

    seen: list[dict[str, Any]] = []

    class Raw:
        def __init__(self, body: bytes) -> None:
            self.body = body

        def stream(self, **_: Any) -> Any:
            yield self.body

        def read(self, *_: Any) -> bytes:
            return self.body

    def before_send(request: Any, **_: Any) -> Any:
        items = json.loads(request.body)["RequestItems"]
        seen.append(items)
        answer = reply(items)
        if answer is None:
            return None
        status, body = answer
        return AWSResponse(request.url, status, {}, Raw(json.dumps(body).encode()))

    client.meta.events.register("before-send.dynamodb.BatchGetItem", before_send)
    return seen


def test_when_the_rows_cannot_be_read_the_records_are_reported_not_the_batch_raised(
        app, stream_records, live_tables, stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    run_portfolio()
    records = stream_records(stack)
    seen = fail_batch_get(stack, lambda items: (500, {"__type": "InternalServerError", "message": "down"}))
    reply = handler_for(app)({"Records": records}, LocalContext())
    assert len(seen) > 1  # botocore retried the read, to no avail
    assert {item["itemIdentifier"] for item in reply["batchItemFailures"]} == {
        record["dynamodb"]["SequenceNumber"] for record in records}
    assert actual(stack, live_tables())[0] == {}


def test_keys_left_unprocessed_for_good_fail_only_their_loans_records(
        app, stream_records, live_tables, stack: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("projections.dynamodb_store.READ_PAUSE", 0, raising=False)  # raising: absent before the fix
    run_portfolio()
    records = stream_records(stack)
    owner = {r["dynamodb"]["SequenceNumber"]: r["dynamodb"]["NewImage"]["id"]["S"] for r in records}
    stuck = owner[records[0]["dynamodb"]["SequenceNumber"]]

    def leaves_one_key_unprocessed(items: dict[str, Any]) -> Any:
        if len(seen) > 20:
            raise AssertionError("the projector kept asking for the same key")
        (table, spec), = items.items()
        keys = [key for key in spec["Keys"] if key.get("id", {}).get("S") == stuck]  # rows only, not parking
        if not keys:
            return None
        rest = [key for key in spec["Keys"] if key.get("id", {}).get("S") != stuck]
        found = stack.batch_get_item(RequestItems={table: {**spec, "Keys": rest}})["Responses"] if rest else {}
        return 200, {"Responses": found, "UnprocessedKeys": {table: {**spec, "Keys": keys}}}

    seen = fail_batch_get(stack, leaves_one_key_unprocessed)
    reply = handler_for(app)({"Records": records}, LocalContext())
    assert {item["itemIdentifier"] for item in reply["batchItemFailures"]} == {
        sequence for sequence, loan_id in owner.items() if loan_id == stuck}
    rows, _ = actual(stack, live_tables())
    assert set(rows) == set(owner.values()) - {stuck}
