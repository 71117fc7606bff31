"""Safe releases and sane alarms in the deployed stack: canary deployments through CodeDeploy rolled back on the
functions' alarms (AllAtOnce by parameter), alarms over several datapoints with the thresholds the README
documents, alarms on snapshot skips, malformed records, p99 latency and every table's throttles and system
errors, and no account-wide singleton unless asked for."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from handlers.template.releases import ROLLBACK
from snapshots.metrics import METRICS
from tests.template_support import deployed, resources, template

TOPIC = "arn:aws:sns:us-east-1:123456789012:loans-alarms"
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return deployed({"AlarmTopicArn": TOPIC})


def alarms(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: alarm["Properties"] for name, alarm in resources(stack, "AWS::CloudWatch::Alarm").items()}


# -- canary releases ---------------------------------------------------------------------------------------------
def test_each_serving_function_shifts_traffic_by_canary_and_rolls_back_on_its_alarms(stack: dict[str, Any]) -> None:
    groups = {group["Properties"]["DeploymentConfigName"]["Fn::Sub"][1]["ConfigName"]: group["Properties"]
              for group in resources(stack, "AWS::CodeDeploy::DeploymentGroup").values()}
    assert set(groups) == {"Canary10Percent5Minutes"}
    deployment_groups = resources(stack, "AWS::CodeDeploy::DeploymentGroup")
    assert len(deployment_groups) == len(ROLLBACK) == 3
    for function, names in ROLLBACK.items():
        group = deployment_groups[f"{function}DeploymentGroup"]["Properties"]
        assert group["AutoRollbackConfiguration"]["Enabled"] is True
        assert "DEPLOYMENT_STOP_ON_ALARM" in group["AutoRollbackConfiguration"]["Events"]
        watched = [alarm["Name"]["Ref"] for alarm in group["AlarmConfiguration"]["Alarms"]]
        assert watched == names and set(names) <= set(alarms(stack)), function
        alias = stack["Resources"][f"{function}Aliaslive"]
        assert alias["Type"] == "AWS::Lambda::Alias"
        assert alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]["DeploymentGroupName"] == {
            "Ref": f"{function}DeploymentGroup"}


def test_the_api_and_the_stream_invoke_the_alias_so_the_canary_takes_real_traffic(stack: dict[str, Any]) -> None:
    mappings = resources(stack, "AWS::Lambda::EventSourceMapping").values()
    assert {json.dumps(m["Properties"]["FunctionName"]) for m in mappings} == {'{"Ref": "ProjectorFunctionAliaslive"}'}
    (api,) = resources(stack, "AWS::ApiGateway::RestApi").values()
    uris = {json.dumps(op["x-amazon-apigateway-integration"]["uri"])
            for ops in api["Properties"]["Body"]["paths"].values() for op in ops.values()}
    assert uris and all("Aliaslive" in uri for uri in uris), uris


def test_a_dev_stack_can_release_all_at_once() -> None:
    output = deployed({"AlarmTopicArn": TOPIC, "DeploymentType": "AllAtOnce"})
    configs = {json.dumps(group["Properties"]["DeploymentConfigName"])
               for group in resources(output, "AWS::CodeDeploy::DeploymentGroup").values()}
    assert configs == {json.dumps({"Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "AllAtOnce"}]})}


def test_an_unknown_deployment_type_is_not_a_choice() -> None:
    allowed = template()["Parameters"]["DeploymentType"]["AllowedValues"]
    assert "AllAtOnce" in allowed and "Canary10Percent5Minutes" in allowed and "Sometimes" not in allowed


# -- alarms that mean something ------------------------------------------------------------------------------------
def test_no_alarm_pages_on_one_noisy_minute(stack: dict[str, Any]) -> None:
    """Every alarm needs 3 of 5 one-minute datapoints, except the few whose one datapoint is the whole fact."""
    discrete = {"ProjectorFailuresAlarm", "RebuildFailedAlarm", "ProjectorIteratorAgeAlarm"}
    for name, alarm in alarms(stack).items():
        if name in discrete:
            continue
        assert (alarm["DatapointsToAlarm"], alarm["EvaluationPeriods"]) == (3, 5), name
        period = alarm.get("Period") or {q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q}
        assert period in (60, {60}), name
    assert alarms(stack)["ProjectorIteratorAgeAlarm"]["DatapointsToAlarm"] == 5


def test_rates_and_latencies_have_thresholds_above_zero(stack: dict[str, Any]) -> None:
    found = alarms(stack)
    assert (found["Api5xxAlarm"]["Statistic"], found["Api5xxAlarm"]["Threshold"]) == ("Average", 0.01)
    assert (found["ApiLatencyAlarm"]["ExtendedStatistic"], found["ApiLatencyAlarm"]["MetricName"]) == ("p99", "Latency")
    for function in ("Commands", "Queries", "Projector"):
        latency = found[f"{function}LatencyAlarm"]
        assert (latency["MetricName"], latency["ExtendedStatistic"]) == ("Duration", "p99")
        assert 1000 <= latency["Threshold"] < 20000


def test_snapshot_skips_and_malformed_records_alarm_on_the_names_the_handlers_publish(stack: dict[str, Any]) -> None:
    found = alarms(stack)
    published = set(METRICS.values())
    snapshot = {a["MetricName"] for a in found.values() if a.get("Namespace") == "aws-es"
                and a["Dimensions"] == [{"Name": "service", "Value": "commands"}]}
    assert snapshot == {"SnapshotSkippedCorrupt", "SnapshotSkippedImpossible", "SnapshotSkippedUnavailable",
                        "SnapshotWriteFailed"}
    assert snapshot <= published
    malformed = found["MalformedRecordsAlarm"]
    assert (malformed["Namespace"], malformed["MetricName"], malformed["Dimensions"]) == (
        "aws-es", "MalformedRecords", [{"Name": "service", "Value": "projector"}])


def test_every_table_alarms_on_throttles_and_system_errors(stack: dict[str, Any]) -> None:
    tables = set(resources(stack, "AWS::DynamoDB::Table"))
    throttled: dict[str, set[str]] = {}
    errors: dict[str, set[str]] = {}
    for alarm in alarms(stack).values():
        for query in alarm.get("Metrics", []):
            if "MetricStat" not in query:
                continue
            metric = query["MetricStat"]["Metric"]
            dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
            table = dimensions["TableName"]["Ref"]
            target = errors if metric["MetricName"] == "SystemErrors" else throttled
            target.setdefault(table, set()).add(metric["MetricName"] + (
                "@" + dimensions["GlobalSecondaryIndexName"] if "GlobalSecondaryIndexName" in dimensions else ""))
    assert set(throttled) == tables == set(errors)
    assert all({"ReadThrottleEvents", "WriteThrottleEvents"} <= found for found in throttled.values())
    assert {"ReadThrottleEvents@by-status", "WriteThrottleEvents@by-status"} <= throttled["LoanSummaryTable"]


def test_every_alarm_is_documented_in_the_readme(stack: dict[str, Any]) -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("### Alarms"):]
    tables = "|".join(name.removesuffix("Table") for name in resources(stack, "AWS::DynamoDB::Table"))
    functions = "|".join(name.removesuffix("Function") for name in resources(stack, "AWS::Lambda::Function"))
    families = {re.sub(rf"^({functions})(?=ErrorsAlarm|ThrottlesAlarm)", "<Function>",
                       re.sub(rf"^({tables})(?=ThrottlesAlarm|SystemErrorsAlarm)", "<Table>", name))
                for name in alarms(stack)}
    missing = sorted(name for name in families if f"`{name}`" not in section)
    assert not missing, f"README's Alarms section does not explain {missing}"


# -- no account-wide singleton by default --------------------------------------------------------------------------
def test_the_account_settings_are_left_alone_unless_asked_for(stack: dict[str, Any]) -> None:
    assert resources(stack, "AWS::ApiGateway::Account") == {}
    assert "ApiGatewayLoggingRole" not in stack["Resources"]
    managed = deployed({"AlarmTopicArn": TOPIC, "ManageApiGatewayAccount": "true"})
    (account,) = resources(managed, "AWS::ApiGateway::Account").values()
    assert account["DeletionPolicy"] == "Retain"
    (api,) = resources(managed, "AWS::ApiGateway::RestApi").values()
    assert "ApiGatewayAccount" in json.dumps(api["Properties"]["Description"]), "the API waits for the settings"
