"""Safe releases: each function that serves traffic is published under the alias `live` and shifted to a new
version by CodeDeploy (a canary by default; the DeploymentType parameter picks another configuration, AllAtOnce
for a dev stack), rolled back automatically when one of its alarms fires during the shift.

The rebuild worker is left out: the state machine calls it for one rebuild, which should run one version
throughout, and a rebuild that fails has its own alarm and leaves the live projection untouched.
"""

from __future__ import annotations

from typing import Any

from handlers.template.yaml_text import Ref

ALIAS = "live"
#: CodeDeploy's predefined Lambda configurations (SAM's names for them).
TYPES = ["Canary10Percent5Minutes", "Canary10Percent10Minutes", "Canary10Percent15Minutes",
         "Canary10Percent30Minutes", "Linear10PercentEvery1Minute", "Linear10PercentEvery2Minutes",
         "Linear10PercentEvery3Minutes", "Linear10PercentEvery10Minutes", "AllAtOnce"]
DEFAULT = "Canary10Percent5Minutes"
#: The alarms (handlers/template/operations.py) that roll each function's release back.
ROLLBACK = {
    "ProjectorFunction": ["ProjectorErrorsAlarm", "ProjectorLatencyAlarm", "MalformedRecordsAlarm"],
    "CommandsFunction": ["CommandsErrorsAlarm", "CommandsLatencyAlarm", "Api5xxAlarm", "ApiLatencyAlarm"],
    "QueriesFunction": ["QueriesErrorsAlarm", "QueriesLatencyAlarm", "Api5xxAlarm", "ApiLatencyAlarm"],
}


def parameters() -> dict[str, Any]:
    return {"DeploymentType": {
        "Type": "String", "Default": DEFAULT, "AllowedValues": TYPES,
        "Description": "How a new version of the projector and the API functions takes traffic (CodeDeploy): "
                       f"{DEFAULT} sends 10% to it for 5 minutes, then all; any alarm of the function during the "
                       "shift rolls it back. AllAtOnce for a dev stack."}}


def released(function: str) -> dict[str, Any]:
    """The function's alias and deployment preference: properties to add to it."""
    return {"AutoPublishAlias": ALIAS, "DeploymentPreference": {
        "Type": Ref("DeploymentType"), "Alarms": [Ref(alarm) for alarm in ROLLBACK[function]]}}


def outputs() -> dict[str, Any]:
    return {"DeploymentType": {"Description": "How new versions of the functions take traffic (the DeploymentType "
                                              "parameter).", "Value": Ref("DeploymentType")}}
