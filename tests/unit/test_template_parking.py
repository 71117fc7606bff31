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
    (index,) = properties["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "by-projection" and index["KeySchema"][0]["AttributeName"] == "projection"
    assert "TimeToLiveSpecification" not in properties  # parked events wait for a redrive, however long


def test_the_projector_parks_without_reading_the_table_whole_or_deleting_and_the_dashboard_only_counts() -> None:
    output = deployed()
    grants = {(name, action, resource.rsplit("/", 1)[-1] if "/index/" in resource else "table")
              for name, granted in principals(output).items() for _, action, resource in granted
              if "ParkedEventsTable" in resource}
    assert grants == {*(("ProjectorFunction", f"dynamodb:{action}", "table")
                        for action in ("BatchGetItem", "BatchWriteItem", "UpdateItem")),
                      ("QueriesFunction", "dynamodb:Query", "by-projection")}
    for function in ("ProjectorFunction", "QueriesFunction"):
        variables = output["Resources"][function]["Properties"]["Environment"]["Variables"]
        assert variables["PARKED_EVENTS_TABLE"] == {"Ref": "ParkedEventsTable"}


def test_the_operator_policy_allows_parked_and_redrive_on_named_tables_only() -> None:
    policy = deployed()["Resources"]["ParkingOperatorPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    granted = statements({"Properties": {"Policies": [policy["Properties"]]}})
    parked = {action for _, action, resource in granted if "ParkedEventsTable" in resource}
    assert parked == {"dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DeleteItem",
                      "dynamodb:BatchWriteItem"}
    assert {action for _, action, resource in granted if "/index/by-projection" in resource} == {"dynamodb:Query"}
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
