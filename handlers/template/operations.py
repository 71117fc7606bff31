"""Alarms (all on the AlarmTopicArn topic) and the CloudWatch dashboard: the metrics the handlers publish
(namespace aws-es) beside AWS's own."""

from __future__ import annotations

import json
import re
from typing import Any

from handlers.template import lag
from handlers.template.api import STAGE
from handlers.template.functions import FUNCTIONS, NAMESPACE
from handlers.template.stack import Stack
from handlers.template.yaml_text import GetAtt, Ref, Sub

#: What the handlers publish for the dashboard (projections/batch.py, snapshots/metrics.py).
PROJECTED = ("EventsFolded", "DuplicatesSkipped", "GapsFilled", "WriteRequests")
SNAPSHOTS = ("SnapshotHit", "SnapshotCacheHit", "SnapshotSkippedStale", "SnapshotSkippedCorrupt",
             "SnapshotSkippedImpossible", "SnapshotSkippedUnavailable", "SnapshotWritten", "SnapshotWriteFailed")


def alarm(description: str, namespace: str, metric: str, dimensions: list[dict[str, Any]], statistic: str = "Sum",
          evaluation_periods: int = 1, threshold: int = 0) -> dict[str, Any]:
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, "Namespace": namespace, "MetricName": metric, "Dimensions": dimensions,
        "Statistic": statistic, "Period": 60, "EvaluationPeriods": evaluation_periods, "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "AlarmActions": [Ref("AlarmTopicArn")], "OKActions": [Ref("AlarmTopicArn")]}}


def alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    streams = ", ".join(table.declared for table in stack.projected)
    found = {
        "ProjectorIteratorAgeAlarm": alarm(
            f"The projector is more than 5 minutes behind the {streams} stream, which keeps records 24 hours.",
            "AWS/Lambda", "IteratorAge", [{"Name": "FunctionName", "Value": Ref("ProjectorFunction")}],
            statistic="Maximum", evaluation_periods=5, threshold=300000),
        "ProjectorFailuresAlarm": alarm(
            "Stream records the projector gave up on are waiting in the on-failure queue.",
            "AWS/SQS", "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": GetAtt("ProjectorFailures.QueueName")}], statistic="Maximum"),
    }
    for function, what in FUNCTIONS.items():
        name = function.removesuffix("Function")
        for metric in ("Errors", "Throttles"):
            found[f"{name}{metric}Alarm"] = alarm(f"{what} reported {metric.lower()}.", "AWS/Lambda", metric,
                                                  [{"Name": "FunctionName", "Value": Ref(function)}])
    found["Api5xxAlarm"] = alarm(
        f"The {stack.name} API answered 5XX (a function failed, timed out or was throttled).", "AWS/ApiGateway",
        "5XXError", [{"Name": "ApiName", "Value": Sub(f"${{AWS::StackName}}-{stack.name}")},
                     {"Name": "Stage", "Value": STAGE}])
    found["RebuildFailedAlarm"] = alarm(
        "A rebuild execution failed; the projection was not switched (see its execution history).", "AWS/States",
        "ExecutionsFailed", [{"Name": "StateMachineArn", "Value": Ref("RebuildStateMachine")}])
    return found


def words(name: str) -> str:
    """`OpenLoan` -> `open loan`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()


def widget(x: int, y: int, width: int, title: str, metrics: list[list[Any]], period: int = 60,
           stat: str | None = None) -> str:
    """One metric widget as JSON text: its settings on two lines, then a line per metric."""
    head = {"type": "metric", "x": x, "y": y, "width": width, "height": 6}
    settings: dict[str, Any] = {"title": title, "region": "${AWS::Region}", "view": "timeSeries", "period": period}
    if stat:
        settings["stat"] = stat
    lines = ",\n".join("      " + json.dumps(metric) for metric in metrics)
    return (f"  {json.dumps(head)[:-1]}, \"properties\": {{\n    {json.dumps(settings)[1:-1]}, \"metrics\": [\n"
            f"{lines}]}}}}")


def dashboard(stack: Stack) -> dict[str, Any]:
    api = f"${{AWS::StackName}}-{stack.name}"
    service = ["service", "projector"]
    panels: list[tuple[str, list[list[Any]], int, str | None]] = [
        ("Projection lag (s): ProjectionLagSeconds and the stream's iterator age", [
            [NAMESPACE, "ProjectionLagSeconds", *service, {"stat": "Maximum", "label": "lag, newest record (s)"}],
            ["AWS/Lambda", "IteratorAge", "FunctionName", "${ProjectorFunction}",
             {"stat": "Maximum", "label": "iterator age (ms)", "yAxis": "right"}]], 60, None),
        ("Projection failures", [
            [NAMESPACE, "MalformedRecords", *service, {"stat": "Sum"}],
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${ProjectorFailures.QueueName}",
             {"stat": "Maximum", "label": "on-failure queue"}],
            ["AWS/Lambda", "Errors", "FunctionName", "${ProjectorFunction}",
             {"stat": "Sum", "label": "projector errors"}],
            ["AWS/Lambda", "Throttles", "FunctionName", "${ProjectorFunction}",
             {"stat": "Sum", "label": "projector throttles"}]], 60, None),
        ("Projected events", [[NAMESPACE, metric, *service] for metric in PROJECTED], 60, "Sum"),
        ("Commit-to-visible lag (s), per projection: from an event's commit to its row's write",
         lag.dashboard_metrics(stack), 60, None),
    ]
    commands = [route for route in stack.routes_of("commands") if route.method != "GET"]
    if commands:
        outcomes = []
        for route in commands:
            where = ["ApiName", api, "Method", route.method, "Resource", route.path, "Stage", STAGE]
            label = words(route.name)
            outcomes += [["AWS/ApiGateway", "Count", *where, {"label": f"{label}: requests"}],
                         ["AWS/ApiGateway", "4XXError", *where, {"label": f"{label}: refused (4XX)"}],
                         ["AWS/ApiGateway", "5XXError", *where, {"label": f"{label}: failed (5XX)"}]]
        panels.append(("Commands by outcome (API Gateway, per route)", outcomes, 60, "Sum"))
    texts = [widget(12 * (index % 2), 6 * (index // 2), 12, title, metrics, period, stat)
             for index, (title, metrics, period, stat) in enumerate(panels)]
    texts.append(widget(0, 6 * ((len(panels) + 1) // 2), 24,
                        "Snapshots: hits and skips by reason, writes (commands function)",
                        [[NAMESPACE, metric, "service", "commands"] for metric in SNAPSHOTS], 300, "Sum"))
    body = '{"widgets": [\n' + ",\n".join(texts) + "\n]}\n"
    return {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
        "DashboardName": Sub("${AWS::StackName}-operations"), "DashboardBody": Sub(body)}}


def resources(stack: Stack) -> dict[str, dict[str, Any]]:
    return alarms(stack)
