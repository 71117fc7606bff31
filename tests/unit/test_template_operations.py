"""Operations in the deployed stack: tracing, log retention, API access logs and throttling, alarms on the
given topic, the dashboard's metrics (the names the handlers publish), the stream mapping's filter (tried on
real stream records from moto), reserved concurrency, and API timeouts below API Gateway's 29 s."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.config import Config

from handlers import commands
from handlers.app import App
from handlers.tables import ensure_tables
from loans import Loan
from projections.batch import BatchResult
from projections.lag import LagFigures
from projections.projector import BatchCounts
from snapshots.metrics import metric_values
from tests.template_support import deployed, resources

TOPIC = "arn:aws:sns:us-east-1:123456789012:loans-alarms"


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return deployed({"AlarmTopicArn": TOPIC})


def functions(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in resources(stack, "AWS::Lambda::Function").items()}


def test_every_function_and_the_state_machine_are_traced(stack: dict[str, Any]) -> None:
    assert len(functions(stack)) == 4
    assert {name: f["TracingConfig"] for name, f in functions(stack).items()} == {
        name: {"Mode": "Active"} for name in functions(stack)}
    (machine,) = resources(stack, "AWS::StepFunctions::StateMachine").values()
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}
    (stage,) = resources(stack, "AWS::ApiGateway::Stage").values()
    assert stage["Properties"]["TracingEnabled"] is True


def test_every_function_has_a_log_group_with_retention(stack: dict[str, Any]) -> None:
    groups = {json.dumps(group["Properties"]["LogGroupName"]): group["Properties"]
              for group in resources(stack, "AWS::Logs::LogGroup").values() if "LogGroupName" in group["Properties"]}
    for name in functions(stack):
        group = groups.get(json.dumps({"Fn::Sub": f"/aws/lambda/${{{name}}}"}))
        assert group is not None, f"{name} has no log group"
        assert group["RetentionInDays"] == 90, name


def test_the_api_stage_is_throttled_and_access_logged_to_a_kept_log_group(stack: dict[str, Any]) -> None:
    (stage,) = resources(stack, "AWS::ApiGateway::Stage").values()
    settings = stage["Properties"]["MethodSettings"]
    assert [(s["ResourcePath"], s["HttpMethod"], s["ThrottlingRateLimit"], s["ThrottlingBurstLimit"])
            for s in settings] == [("/*", "*", 100, 200)]
    logs = stage["Properties"]["AccessLogSetting"]
    target = logs["DestinationArn"]["Fn::GetAtt"][0]
    assert stack["Resources"][target]["Properties"]["RetentionInDays"] == 90
    fields = json.loads(re.sub(r"\$context\.[A-Za-z.]+", "x", logs["Format"]))
    assert {"requestId", "ip", "caller", "user", "status", "error"} <= set(fields)


def test_the_alarms_watch_lag_failures_errors_throttles_and_5xx_on_the_given_topic(stack: dict[str, Any]) -> None:
    alarms = [a["Properties"] for a in resources(stack, "AWS::CloudWatch::Alarm").values()]
    assert all(a["AlarmActions"] == [TOPIC] == a["OKActions"] for a in alarms)
    watched = {(a["Namespace"], a["MetricName"], json.dumps(a["Dimensions"][0]["Value"])) for a in alarms
               if "MetricName" in a}
    expected = {("AWS/Lambda", "IteratorAge", '{"Ref": "ProjectorFunction"}'),
                ("AWS/SQS", "ApproximateNumberOfMessagesVisible", '{"Fn::GetAtt": ["ProjectorFailures", "QueueName"]}'),
                ("AWS/ApiGateway", "5XXError", '{"Fn::Sub": "${AWS::StackName}-loans"}')}
    expected |= {("AWS/Lambda", metric, json.dumps({"Ref": name})) for name in functions(stack)
                 for metric in ("Errors", "Throttles")}
    assert expected <= watched, expected - watched


def test_each_projection_has_a_lag_alarm_on_the_p99_the_projector_publishes_for_it(stack: dict[str, Any]) -> None:
    alarms = [a["Properties"] for a in resources(stack, "AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("MetricName") == "CommitToVisibleP99Seconds"]
    assert [a["Dimensions"] for a in alarms] == [[{"Name": "projection", "Value": name},
                                                  {"Name": "service", "Value": "projector"}]
                                                 for name in ("loan-summary", "loan-risk")]
    for lag in alarms:
        assert (lag["Namespace"], lag["Statistic"], lag["Threshold"]) == ("aws-es", "Maximum", 60)
        assert (lag["EvaluationPeriods"], lag["DatapointsToAlarm"], lag["TreatMissingData"]) == (5, 3, "notBreaching")


def dashboard_metrics(stack: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    (board,) = resources(stack, "AWS::CloudWatch::Dashboard").values()
    body = json.loads(re.sub(r"\$\{[^}]+\}", "X", board["Properties"]["DashboardBody"]["Fn::Sub"]))
    widgets = [widget["properties"] for widget in body["widgets"]]
    return [widget["title"] for widget in widgets], [line for widget in widgets for line in widget["metrics"]]


def test_the_dashboard_shows_what_the_code_publishes(stack: dict[str, Any]) -> None:
    titles, lines = dashboard_metrics(stack)
    for topic in ("lag", "failures", "Commands by outcome", "Snapshots: hits and skips"):
        assert any(topic in title for title in titles), (topic, titles)
    projector = set(BatchResult(BatchCounts(), lag=1.0).metrics()) | set(LagFigures(1, 1.0, 1.0, 1.0).metrics())
    snapshot_metrics = set(metric_values(Counter()))
    shown = {line[1] for line in lines if line[0] == "aws-es"}
    unpublished = shown - projector - snapshot_metrics
    assert not unpublished, f"the dashboard names metrics no handler publishes: {unpublished}"
    assert {"ProjectionLagSeconds", "MalformedRecords", "EventsFolded"} <= shown
    assert snapshot_metrics - {"SnapshotSkipped"} <= shown, "every snapshot hit, skip reason and write is charted"
    snapshot_lines = {tuple(line[2:4]) for line in lines if line[0] == "aws-es" and line[1] in snapshot_metrics}
    assert snapshot_lines == {("service", commands.metrics.service)}
    assert commands.logger.service == "commands"


# -- the stream mapping ---------------------------------------------------------------------------------------------
def matches(pattern: dict[str, Any], data: Any) -> bool:
    """Lambda's event filtering for what the pattern uses: value lists (any of) and {"exists": false} on leaves."""
    if not isinstance(data, dict):
        return False
    for key, condition in pattern.items():
        if isinstance(condition, dict):
            if not matches(condition, data.get(key, {})):
                return False
            continue
        present, value = key in data, data.get(key)
        if not any((present and value == option) if not isinstance(option, dict) else (present == option["exists"])
                   for option in condition):
            return False
    return True


def stream_records() -> list[dict[str, Any]]:
    client = boto3.client("dynamodb", region_name="us-east-1")
    arn = client.describe_table(TableName="Loans")["Table"]["LatestStreamArn"]
    streams = boto3.client("dynamodbstreams", region_name="us-east-1",
                           config=Config(account_id_endpoint_mode="disabled"))
    found = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        found += streams.get_records(ShardIterator=iterator)["Records"]
    return found


def test_the_stream_filter_passes_every_event_and_no_snapshot_item(stack: dict[str, Any], aws: None,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (mapping,) = resources(stack, "AWS::Lambda::EventSourceMapping").values()
    (pattern,) = [json.loads(f["Pattern"]) for f in mapping["Properties"]["FilterCriteria"]["Filters"]]
    app = App.from_env({**os.environ, "SNAPSHOT_EVERY": "2"})
    ensure_tables(app)
    with app.bound():
        loan = Loan()
        loan.hydrate()
        loan.commit({"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.05")})
        for step in ("LoanApproved", "LoanDisbursed"):
            again = Loan(loan.id)
            again.hydrate()
            again.commit({"type": step})
    records = stream_records()
    passed = [r for r in records if matches(pattern, r)]
    assert [r["dynamodb"]["NewImage"]["number"]["N"] for r in passed] == ["1", "2", "3"]
    assert len(records) > len(passed), "snapshot items were written and filtered out"
    assert all("." in r["dynamodb"]["Keys"]["number"]["N"] for r in records if r not in passed)


def test_the_stream_mapping_ages_out_records_before_the_stream_trims_them(stack: dict[str, Any]) -> None:
    (mapping,) = resources(stack, "AWS::Lambda::EventSourceMapping").values()
    assert 60 <= mapping["Properties"]["MaximumRecordAgeInSeconds"] < 24 * 3600
    assert stack["Resources"]["ProjectorFunction"]["Properties"]["ReservedConcurrentExecutions"] == 20


def test_the_api_functions_give_up_before_api_gateway_does(stack: dict[str, Any]) -> None:
    api = {name for name, permission in resources(stack, "AWS::Lambda::Permission").items()
           if permission["Properties"]["Principal"] == "apigateway.amazonaws.com"}
    # the API calls each function's alias `live` (its canary releases): the alias's function is the one timed
    aliases = {stack["Resources"][name]["Properties"]["FunctionName"]["Ref"] for name in api}
    targets = {stack["Resources"][alias]["Properties"]["FunctionName"]["Ref"] for alias in aliases}
    assert targets == {"CommandsFunction", "QueriesFunction"}
    assert {name: functions(stack)[name]["Timeout"] < 29 for name in targets} == {name: True for name in targets}
