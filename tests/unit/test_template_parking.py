"""The generated template's parking: the ParkedEvents table, least privilege for the projector and for the
operator running `aws-es parked`/`redrive`, and the alarm on the projector's ParkedEvents metric."""

from __future__ import annotations

from tests.iam_support import principals, statements
from tests.template_support import deployed, resources


def test_the_parking_table_is_keyed_per_projection_and_aggregate_and_kept() -> None:
    table = deployed()["Resources"]["ParkedEventsTable"]
    assert (table.get("DeletionPolicy"), table.get("UpdateReplacePolicy")) == ("Retain", "Retain")
    properties = table["Properties"]
    assert properties["KeySchema"] == [{"AttributeName": "parked", "KeyType": "HASH"},
                                       {"AttributeName": "number", "KeyType": "RANGE"}]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert "TimeToLiveSpecification" not in properties  # parked events wait for a redrive, however long


def test_only_the_projector_touches_the_parking_table_and_never_reads_it_whole_or_deletes() -> None:
    output = deployed()
    grants = {(name, action) for name, granted in principals(output).items() for _, action, resource in granted
              if "ParkedEventsTable" in resource}
    assert grants == {("ProjectorFunction", f"dynamodb:{action}")
                      for action in ("BatchGetItem", "BatchWriteItem", "UpdateItem")}
    variables = output["Resources"]["ProjectorFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["PARKED_EVENTS_TABLE"] == {"Ref": "ParkedEventsTable"}


def test_the_operator_policy_allows_parked_and_redrive_on_named_tables_only() -> None:
    policy = deployed()["Resources"]["ParkingOperatorPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    granted = statements({"Properties": {"Policies": [policy["Properties"]]}})
    parked = {action for _, action, resource in granted if "ParkedEventsTable" in resource}
    assert parked == {"dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DeleteItem",
                      "dynamodb:BatchWriteItem"}
    assert all(resource != "*" and "*" not in action for _, action, resource in granted)
    events_writes = [action for _, action, resource in granted
                     if "LoansTable" in resource and action not in ("dynamodb:GetItem", "dynamodb:Query")]
    assert events_writes == []


def test_an_alarm_fires_when_anything_is_parked() -> None:
    alarms = resources(deployed(), "AWS::CloudWatch::Alarm")
    properties = alarms["ProjectorParkedEventsAlarm"]["Properties"]
    assert (properties["Namespace"], properties["MetricName"]) == ("aws-es", "ParkedEvents")
    assert properties["Dimensions"] == [{"Name": "service", "Value": "projector"}]
    assert (properties["Statistic"], properties["ComparisonOperator"], properties["Threshold"]) == (
        "Sum", "GreaterThanThreshold", 0)
    assert properties["AlarmActions"]
