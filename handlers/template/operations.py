"""Alarms (all on the AlarmTopicArn topic) and the CloudWatch dashboard: the metrics the handlers publish
(namespace aws-es) beside AWS's own."""

from __future__ import annotations

import json
import re
from typing import Any

from handlers.template import http_api, lag
from handlers.template.api import STAGE
from handlers.template.functions import FUNCTIONS, NAMESPACE
from handlers.template.stack import Stack, Table
from handlers.template.yaml_text import GetAtt, Ref, Sub
from projections.parking import PARKED_EVENTS_TABLE

#: What the handlers publish for the dashboard (projections/batch.py, snapshots/metrics.py).
PROJECTED = ("EventsFolded", "DuplicatesSkipped", "GapsFilled", "WriteRequests")
SNAPSHOTS = ("SnapshotHit", "SnapshotCacheHit", "SnapshotSkippedStale", "SnapshotSkippedCorrupt",
             "SnapshotSkippedImpossible", "SnapshotSkippedUnavailable", "SnapshotWritten", "SnapshotWriteFailed")


#: Every alarm but a discrete event's looks at one-minute periods and fires when DATAPOINTS of the last
#: PERIODS breach: a fault that lasts, not one noisy minute (README: Alarms).
PERIODS, DATAPOINTS = 5, 3
#: API Gateway's p99 latency above which a route is slow for its callers: a command or query is one to three
#: DynamoDB calls (tens of ms) and a cold start about a second; 2.5 s sustained is more than either.
API_P99_MS = 2500
#: A function's p99 duration above which it is near its timeout: the API functions time out at 20 s, the
#: projector at 60 s; alarm at a quarter of each, long before replies are cut off.
DURATION_P99_MS = {"CommandsFunction": 5000, "QueriesFunction": 5000, "ProjectorFunction": 15000}
THROTTLES = ("ReadThrottleEvents", "WriteThrottleEvents")
#: The operations a table of this stack serves: SystemErrors is published per operation.
OPERATIONS = ("GetItem", "BatchGetItem", "Query", "Scan", "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
              "TransactWriteItems")


def alarm(description: str, namespace: str, metric: str, dimensions: list[dict[str, Any]], statistic: str = "Sum",
          evaluation_periods: int = PERIODS, threshold: float = 0, datapoints: int = DATAPOINTS,
          period: int = 60) -> dict[str, Any]:
    """A metric alarm: `statistic` above `threshold` in `datapoints` of the last `evaluation_periods` periods;
    a percentile (`p99`) is an extended statistic."""
    kind = "ExtendedStatistic" if statistic.startswith("p") else "Statistic"
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, "Namespace": namespace, "MetricName": metric, "Dimensions": dimensions,
        kind: statistic, "Period": period, "EvaluationPeriods": evaluation_periods, "DatapointsToAlarm": datapoints,
        "Threshold": threshold, "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "AlarmActions": [Ref("AlarmTopicArn")], "OKActions": [Ref("AlarmTopicArn")]}}


def sum_alarm(description: str, namespace: str, metrics: list[tuple[str, list[dict[str, Any]]]],
              threshold: float = 0) -> dict[str, Any]:
    """An alarm on the sum of several metrics (metric math), over DATAPOINTS of PERIODS minutes."""
    queries: list[dict[str, Any]] = [
        {"Id": f"m{index}", "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
            "Period": 60, "Stat": "Sum"}}
        for index, (metric, dimensions) in enumerate(metrics)]
    total = "+".join(f"FILL(m{index}, 0)" for index in range(len(metrics)))
    queries.append({"Id": "total", "Label": "sum", "ReturnData": True, "Expression": total})
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, "Metrics": queries, "EvaluationPeriods": PERIODS,
        "DatapointsToAlarm": DATAPOINTS, "Threshold": threshold, "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [Ref("AlarmTopicArn")], "OKActions": [Ref("AlarmTopicArn")]}}


def stream_alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    """The projector's stream: behind, records parked, records it cannot read."""
    streams = ", ".join(table.declared for table in stack.projected)
    return {
        "ProjectorIteratorAgeAlarm": alarm(
            f"The projector has been more than 5 minutes behind the {streams} stream (which keeps records 24 "
            "hours) for 5 minutes running.",
            "AWS/Lambda", "IteratorAge", [{"Name": "FunctionName", "Value": Ref("ProjectorFunction")}],
            statistic="Maximum", evaluation_periods=5, datapoints=5, threshold=300000),
        # a parked record stays until it is redriven: one datapoint of a 5-minute gauge is the fact, not noise
        "ProjectorFailuresAlarm": alarm(
            "Stream records the projector gave up on are waiting in the on-failure queue: the read side is "
            "missing them until they are redriven.",
            "AWS/SQS", "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": GetAtt("ProjectorFailures.QueueName")}], statistic="Maximum",
            evaluation_periods=1, datapoints=1, period=300),
        "MalformedRecordsAlarm": alarm(
            "The projector keeps receiving stream records it cannot read (MalformedRecords in 3 of the last 5 "
            "minutes): a writer is putting items into an events table that are not events.",
            NAMESPACE, "MalformedRecords", [{"Name": "service", "Value": "projector"}]),
    }


def function_alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    """Each function: errors, throttles (3 of 5 minutes), and its p99 duration near its timeout."""
    found = {}
    for function, what in FUNCTIONS.items():
        name = function.removesuffix("Function")
        where = [{"Name": "FunctionName", "Value": Ref(function)}]
        found[f"{name}ErrorsAlarm"] = alarm(
            f"{what} failed invocations (an unhandled error) in 3 of the last 5 minutes.", "AWS/Lambda", "Errors",
            where)
        found[f"{name}ThrottlesAlarm"] = alarm(
            f"{what} was throttled (concurrency limit reached) in 3 of the last 5 minutes.", "AWS/Lambda",
            "Throttles", where)
        if function in DURATION_P99_MS:
            limit = DURATION_P99_MS[function]
            found[f"{name}LatencyAlarm"] = alarm(
                f"{what}'s p99 duration was above {limit} ms in 3 of the last 5 minutes.", "AWS/Lambda",
                "Duration", where, statistic="p99", threshold=limit)
    return found


def http_api_alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    """The HTTP API (its metrics by ApiId): more than 1% of requests answered 5xx, or a slow p99. Its 5xx is a
    count, so the share is 5xx over Count (metric math)."""
    where = [{"Name": "ApiId", "Value": Ref(stack.api)}]
    share = sum_alarm(
        f"The {stack.name} HTTP API answered more than 1% of requests with 5xx (a function failed, timed out or was "
        "throttled) in 3 of the last 5 minutes.", "AWS/ApiGateway", [("5xx", where), ("Count", where)],
        threshold=0.01)
    share["Properties"]["Metrics"][-1] = {"Id": "share", "Label": "share of requests answered 5xx",
                                          "ReturnData": True, "Expression": "IF(m1 > 0, m0 / m1, 0)"}
    return {
        "Api5xxAlarm": share,
        "ApiLatencyAlarm": alarm(
            f"The {stack.name} HTTP API's p99 latency was above {API_P99_MS} ms in 3 of the last 5 minutes.",
            "AWS/ApiGateway", "Latency", where, statistic="p99", threshold=API_P99_MS),
    }


def api_alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    """The API: more than 1% of requests answered 5XX, or a slow p99."""
    if stack.api_type == "http":
        return http_api_alarms(stack)
    where: list[dict[str, Any]] = [{"Name": "ApiName", "Value": Sub(f"${{AWS::StackName}}-{stack.name}")},
                                   {"Name": "Stage", "Value": STAGE}]
    return {
        # 5XXError's Average is the share of requests answered 5XX
        "Api5xxAlarm": alarm(
            f"The {stack.name} API answered more than 1% of requests with 5XX (a function failed, timed out or was "
            "throttled) in 3 of the last 5 minutes.", "AWS/ApiGateway", "5XXError", where, statistic="Average",
            threshold=0.01),
        "ApiLatencyAlarm": alarm(
            f"The {stack.name} API's p99 latency was above {API_P99_MS} ms in 3 of the last 5 minutes.",
            "AWS/ApiGateway", "Latency", where, statistic="p99", threshold=API_P99_MS),
    }


def snapshot_alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    """Snapshots the commands function skipped for a reason that is a fault (a stale one, after a release that
    changed the fold, is expected and rewritten on the next save), and failed snapshot writes."""
    where = [{"Name": "service", "Value": "commands"}]
    reasons = {
        "SnapshotSkippedCorrupt": "unreadable snapshots (corrupt bytes or a foreign envelope)",
        "SnapshotSkippedImpossible": "snapshots ahead of their aggregate's log (a snapshot of events that are gone)",
        "SnapshotSkippedUnavailable": "the snapshot store was unreachable, so every load folded the whole log",
        "SnapshotWriteFailed": "snapshot writes failed",
    }
    return {f"{metric.removeprefix('Snapshot')}Alarm": alarm(
        f"Commands skipped or lost snapshots in 3 of the last 5 minutes: {why}.", NAMESPACE, metric, where)
        for metric, why in reasons.items()}


def table_alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every table of the stack: throttled reads or writes (its indexes' included) and DynamoDB system errors,
    each in 3 of the last 5 minutes."""
    found = {}
    indexed = {tables.rows.id: [index["IndexName"] for index in tables.projection.indexes]
               for tables in stack.projections}
    kept = [Table(PARKED_EVENTS_TABLE), Table("PersonalKeys")]
    for table in [*stack.events, stack.idempotency, *stack.read_tables, stack.control, *kept]:
        name = table.id.removesuffix("Table")
        base = [{"Name": "TableName", "Value": Ref(table.id)}]
        throttles = [(metric, base) for metric in THROTTLES]
        throttles += [(metric, [*base, {"Name": "GlobalSecondaryIndexName", "Value": index}])
                      for index in indexed.get(table.id, []) for metric in THROTTLES]
        found[f"{name}ThrottlesAlarm"] = sum_alarm(
            f"The {table.declared} table (or an index of it) throttled requests in 3 of the last 5 minutes: a hot "
            "partition, or traffic above twice its previous peak.", "AWS/DynamoDB", throttles)
        found[f"{name}SystemErrorsAlarm"] = sum_alarm(
            f"DynamoDB answered requests to the {table.declared} table with a server error (HTTP 500) in 3 of the "
            "last 5 minutes.", "AWS/DynamoDB",
            [("SystemErrors", [*base, {"Name": "Operation", "Value": operation}]) for operation in OPERATIONS])
    return found


def rebuild_alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    # one failed execution is the whole fact (the projection was not switched), never noise
    return {"RebuildFailedAlarm": alarm(
        "A rebuild execution failed; the projection was not switched (see its execution history).", "AWS/States",
        "ExecutionsFailed", [{"Name": "StateMachineArn", "Value": Ref("RebuildStateMachine")}],
        evaluation_periods=1, datapoints=1)}


def alarms(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every alarm, family by family."""
    return {**stream_alarms(stack), **function_alarms(stack), **api_alarms(stack), **snapshot_alarms(stack),
            **table_alarms(stack), **rebuild_alarms(stack)}


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
    if stack.api_type == "http":
        panels.append(("Requests by outcome (API Gateway, the whole HTTP API)", http_api.dashboard_metrics(stack),
                       60, "Sum"))
    elif commands:
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
