"""Parking (projections/parking.py): the ParkedEvents table, the projector's permissions on it, the policy an
operator's principal needs for `aws-es parked` and `aws-es redrive`, and the alarm that fires when anything
is parked."""

from __future__ import annotations

from typing import Any

from handlers.template.data import table
from handlers.template.functions import NAMESPACE, allow, generations
from handlers.template.operations import alarm
from handlers.template.stack import Stack, Table
from handlers.template.yaml_text import Ref, Sub
from handlers.template.yaml_text import arn as arn_of
from projections.parking import BY_PROJECTION, PARKED_EVENTS_TABLE, parking_table_definition

PARKED = Table(PARKED_EVENTS_TABLE)


def parking_table() -> dict[str, Any]:
    """Retained: it may hold the only copy of events the stream has dropped (it keeps them 24 hours)."""
    return table(parking_table_definition(), retain=True)


def projector_statements() -> list[dict[str, Any]]:
    """Ask which aggregates of a batch are parked (BatchGetItem), park events (BatchWriteItem) and move the
    marker (UpdateItem); never read it whole, never delete."""
    return [allow("ParkedEvents", ["dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"],
                  [arn_of(PARKED.id)])]


def extend_functions(functions: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The functions of `functions.resources` given the parking table's name, the projector its permissions on
    it and the queries function (the dashboard's count of parked events) a Query of its index of markers."""
    statements = functions["ProjectorRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    statements[:] = [*statements, *projector_statements()]
    queries = functions["QueriesFunction"]["Properties"]
    queries["Policies"] = [*queries["Policies"], {"Statement": [
        allow("ParkedCount", ["dynamodb:Query"], [markers_index()])]}]
    for name in ("ProjectorFunction", "QueriesFunction"):
        functions[name]["Properties"]["Environment"]["Variables"][PARKED.variable] = Ref(PARKED.id)
    return functions


def markers_index() -> Sub:
    return Sub(f"${{{PARKED.id}.Arn}}/index/{BY_PROJECTION}")


def operator_policy(stack: Stack) -> dict[str, Any]:
    """For the principal running `aws-es parked` (Scan) and `aws-es redrive`: read the parked events, fold them
    through the projector's guarded write (the events, the control table, the projection tables) and remove
    them (DeleteItem on the marker, BatchWriteItem on the events)."""
    statements = [
        allow("ParkedEvents", ["dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DeleteItem",
                               "dynamodb:BatchWriteItem"], [arn_of(PARKED.id)]),
        allow("ParkedByProjection", ["dynamodb:Query"], [markers_index()]),
        allow("EventsRead", ["dynamodb:GetItem", "dynamodb:Query"], [arn_of(t.id) for t in stack.projected]),
        allow("LiveGeneration", ["dynamodb:GetItem"], [arn_of(stack.control.id)]),
        allow("ProjectionGenerations", ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem",
                                        "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"],
              [*(arn_of(t.id) for t in stack.read_tables), *(generations(t) for t in stack.read_tables)]),
    ]
    return {"Type": "AWS::IAM::ManagedPolicy", "Properties": {
        "Description": "Attach to whoever runs `aws-es parked` and `aws-es redrive`: those and nothing else.",
        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}}


def parked_alarm() -> dict[str, Any]:
    return alarm("The projector parked events a projection could not fold; its other aggregates keep flowing. "
                 "`aws-es parked` lists them and why; fix the projection, then `aws-es redrive`.",
                 NAMESPACE, "ParkedEvents", [{"Name": "service", "Value": "projector"}])


def resources(stack: Stack) -> dict[str, dict[str, Any]]:
    return {PARKED.id: parking_table(), "ParkingOperatorPolicy": operator_policy(stack),
            "ProjectorParkedEventsAlarm": parked_alarm()}


def outputs() -> dict[str, Any]:
    return {PARKED.id: {"Value": Ref(PARKED.id)}, "ParkingOperatorPolicy": {"Value": Ref("ParkingOperatorPolicy")}}
