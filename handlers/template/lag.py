"""The commit-to-visible lag alarm of each projection: the p99 the projector publishes per batch
(`CommitToVisibleP99Seconds`, dimensions `projection` and `service`; projections/lag.py) above the
`CommitToVisibleAlarmSeconds` parameter in 3 of 5 minutes. A minute with no batch is not breaching: an idle
projection has no lag to report; a stuck one is caught by the iterator age and failure queue alarms."""

from __future__ import annotations

from typing import Any

from handlers.template.functions import NAMESPACE
from handlers.template.stack import Stack, logical
from handlers.template.yaml_text import Ref

METRIC = "CommitToVisibleP99Seconds"


def parameters() -> dict[str, Any]:
    return {"CommitToVisibleAlarmSeconds": {
        "Type": "Number", "Default": 60, "MinValue": 1,
        "Description": "Commit-to-visible lag (seconds, p99 of a projector batch) above which a projection's lag "
                       "alarm fires when it holds in 3 of 5 minutes."}}


def resources(stack: Stack) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for tables in stack.projections:
        name = tables.projection.name
        found[logical(name, "LagAlarm")] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
            "AlarmDescription": f"Events take too long from their commit to their {name} row: the p99 "
                                f"commit-to-visible lag of the projector's batches is above the threshold.",
            "Namespace": NAMESPACE, "MetricName": METRIC,
            "Dimensions": [{"Name": "projection", "Value": name}, {"Name": "service", "Value": "projector"}],
            "Statistic": "Maximum", "Period": 60, "EvaluationPeriods": 5, "DatapointsToAlarm": 3,
            "Threshold": Ref("CommitToVisibleAlarmSeconds"), "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [Ref("AlarmTopicArn")], "OKActions": [Ref("AlarmTopicArn")]}}
    return found


def dashboard_metrics(stack: Stack) -> list[list[Any]]:
    """The operations dashboard's lines: p50, p99 and max of every projection."""
    return [[NAMESPACE, f"CommitToVisible{figure}Seconds", "projection", tables.projection.name, "service",
             "projector", {"stat": "Maximum", "label": f"{tables.projection.name} {figure.lower()}"}]
            for tables in stack.projections for figure in ("P50", "P99", "Max")]
