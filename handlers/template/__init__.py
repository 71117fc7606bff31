"""`aws-es template`: the SAM template that deploys the modules of `AWS_ES_MODULES`, built from the registry.

Every resource kind has its own module, each a set of plain functions returning resource dicts from the
`Stack` (`handlers/template/stack.py`: the logical ids the registry's tables and routes get): `data` (tables,
bucket, queue), `functions` (the four functions and their least-privilege permissions), `api`, `rebuild` (the
state machine) and `operations` (alarms, dashboard); `personal` and `archive` add the key and the archive's
grants to the functions that need them. `text()` assembles them in a fixed order, so the same
modules and settings always give the same bytes. Used by the command line only: no handler imports it, and
lambda/Makefile leaves it out of the artifact.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.errors import ConfigurationError
from handlers.registry import Registry
from handlers.settings import Settings
from handlers.template import (
    api,
    archive,
    data,
    functions,
    http_api,
    lag,
    operations,
    parking,
    personal,
    rebuild,
    releases,
)
from handlers.template.stack import Stack, stack
from handlers.template.yaml_text import Equals, Ref, render

#: The Lambda build recipe (lambda/Makefile), beside the packages in a source checkout.
LAMBDA = Path(__file__).resolve().parents[2] / "lambda"
LOG_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653]
LINT_EXCEPTIONS = {
    "ES6000": "ProjectorFailures is itself the dead-letter queue of the projector's event source mapping; nothing "
              "consumes it automatically, so a redrive policy would have no receive count to act on.",
}


def code_uri(folder: Path) -> str:
    """The functions' CodeUri for a template written in `folder`: lambda/ of this checkout, relative to it."""
    if not (LAMBDA / "Makefile").is_file():
        raise ConfigurationError(f"the Lambda build recipe {LAMBDA / 'Makefile'} is missing: run aws-es template "
                                 "from a source checkout, or give --code-uri")
    return f"{Path(os.path.relpath(LAMBDA, folder.resolve())).as_posix()}/"


def parameters(stack: Stack) -> dict[str, Any]:
    counters = ", ".join(table.declared for tables in stack.projections if (table := tables.counters))
    found = {
        "CounterShards": {"Type": "Number", "Default": stack.counter_shards, "MinValue": 1, "MaxValue": 1000,
                          "Description": f"Counter items per group in the counter tables ({counters or 'none'}; "
                                         "PROJECTION_COUNTER_SHARDS)."},
        "MaximumRetryAttempts": {"Type": "Number", "Default": 2, "MinValue": 0, "MaxValue": 10000,
                                 "Description": "Retries of a failing batch before its records go to the on-failure "
                                                "queue."},
        "Authorization": {"Type": "String", "Default": "AWS_IAM", "AllowedValues": ["AWS_IAM", "CognitoAuthorizer"],
                          "Description": "How every API route is authorized: AWS_IAM (SigV4-signed requests from "
                                         "principals allowed execute-api:Invoke) or CognitoAuthorizer (a JWT from the "
                                         "Cognito user pool, in the Authorization header)."},
        "UserPoolArn": {"Type": "String", "Default": "",
                        "AllowedPattern": "^$|^arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:[0-9]{12}:userpool/.+$",
                        "Description": "The Cognito user pool whose tokens CognitoAuthorizer accepts; empty to create "
                                       "one in this stack."},
        "SnapshotStore": {"Type": "String", "Default": "dynamodb", "AllowedValues": ["dynamodb", "s3"],
                          "Description": "Where the commands function keeps snapshots (SNAPSHOT_STORE); s3 uses the "
                                         "SnapshotBucket."},
        "SnapshotPrefix": {"Type": "String", "Default": "snapshots/",
                           "AllowedPattern": "^[A-Za-z0-9!_.*'()-][A-Za-z0-9!_.*'()/-]*/$",
                           "Description": "Key prefix of the snapshots in the bucket (SNAPSHOT_PREFIX); the functions "
                                          "may touch only it."},
        "AlarmTopicArn": {"Type": "String", "AllowedPattern": "^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:.+$",
                          "Description": "The SNS topic every alarm notifies (and tells when it is OK again)."},
        "LogRetentionDays": {"Type": "Number", "Default": 90, "AllowedValues": LOG_DAYS,
                             "Description": "Days the functions', the state machine's and the API's logs are kept."},
        "ApiRateLimit": {"Type": "Number", "Default": 100, "MinValue": 1,
                         "Description": "Steady requests per second the API stage accepts (every route); above it, "
                                        "429."},
        "ApiBurstLimit": {"Type": "Number", "Default": 200, "MinValue": 1,
                          "Description": "Requests the API stage accepts in a burst."},
        "ProjectorConcurrency": {"Type": "Number", "Default": 20, "MinValue": 1,
                                 "Description": "Reserved concurrency of the projector: one batch per stream shard "
                                                "runs at a time, so at least the shard count; it also keeps the "
                                                "projector from starving the API functions."},
        "ManageApiGatewayAccount": {
            "Type": "String", "Default": "false", "AllowedValues": ["false", "true"],
            "Description": "true: this stack sets the account's API Gateway CloudWatch logging role (an account-wide "
                           "singleton, kept when the stack is deleted). Leave false when the account already has "
                           "one (any API with access logs set it), so no two stacks fight over it."},
        **releases.parameters(),
        "MaximumRecordAgeInSeconds": {"Type": "Number", "Default": 43200, "MinValue": 60, "MaxValue": 86400,
                                      "Description": "Records older than this go to the on-failure queue instead of "
                                                     "being retried; below the stream's 24-hour retention, so a stuck "
                                                     "projector parks records where they can be replayed rather than "
                                                     "losing them."},
        **rebuild.parameters(),
    }
    return found if stack.api_type == "rest" else http_api.parameters(found)


def description(stack: Stack) -> str:
    projections = "; ".join(
        f"{tables.projection.name}: " + ", ".join(
            [tables.rows.declared + (" with its indexes" if tables.projection.indexes else "")]
            + [f"{t.declared} counter shards" for t in [tables.counters] if t]
            + [f"{t.declared} event counters" for t in [tables.event_counters] if t])
        for tables in stack.projections)
    api_text = ("the commands and queries APIs behind IAM (SigV4) or Cognito authorization" if stack.api_type == "rest"
                else "the commands and queries routes on an HTTP API behind IAM (SigV4) or JWT authorization")
    return (f"aws-event-sourcing for {', '.join(stack.modules)} (generated by `aws-es template`): the events tables "
            f"({', '.join(t.declared for t in stack.events)}; streams NEW_IMAGE; retained, deletion-protected), the "
            f"projections ({projections}), the {stack.control.declared} table naming each projection's live "
            f"generation, the idempotency table, the snapshot bucket (TLS only), {api_text}, the stream projector with "
            "partial batch responses, bisection, "
            "bounded retries, an SQS on-failure destination and a parking table for events a projection cannot fold, "
            "the rebuild state machine, alarms and a dashboard.")


def api_group(stack: Stack) -> tuple[str, dict[str, Any]]:
    if stack.api_type == "rest":
        return ("the API: every route authorized (IAM by default, Cognito JWTs by parameter), throttled, "
                "access-logged", api.resources(stack))
    return ("the HTTP API: every route authorized (IAM by default, JWTs of any OIDC issuer by parameter), throttled, "
            "access-logged", http_api.resources(stack))


def conditions(stack: Stack) -> dict[str, Any]:
    if stack.api_type == "rest":
        return {"CreateUserPool": Equals(Ref("UserPoolArn"), ""),
                "SnapshotsInS3": Equals(Ref("SnapshotStore"), "s3"),
                "ManageApiGatewayAccount": Equals(Ref("ManageApiGatewayAccount"), "true")}
    return {**http_api.conditions(), "SnapshotsInS3": Equals(Ref("SnapshotStore"), "s3")}


def generate(registry: Registry, settings: Settings, code: str = "lambda/", api_type: str = "rest") -> str:
    """The template's text for the registry's modules; `code` is the functions' CodeUri (lambda/Makefile's
    folder); `api_type` the API the routes are served on (`rest` or `http`)."""
    current = stack(registry, settings, api_type)
    header: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": description(current),
        # Every lint rule a resource turns off (its `cfn-lint` Metadata), with the reason.
        "Metadata": {"LintExceptions": LINT_EXCEPTIONS},
        "Parameters": {**parameters(current), **lag.parameters(), **archive.parameters()},
        **({} if api_type == "rest" else {"Rules": http_api.rules()}),
        "Conditions": {**conditions(current), **archive.conditions()},
        "Globals": {"Function": {
            "Runtime": "python3.13", "Timeout": 60, "MemorySize": 512, "Architectures": ["arm64"],
            "Tracing": "Active",
            # the modules whose aggregates, projections and routes every function loads (and lambda/Makefile ships)
            "Environment": {"Variables": {"AWS_ES_MODULES": ",".join(current.modules)}}}},
    }
    groups = [
        ("data: the events tables are the only source of truth; everything else can be rebuilt from them",
         data.resources(current)),
        ("functions, each with only the permissions it needs",
         archive.attach(current, personal.attach(parking.extend_functions(functions.resources(current, code))))),
        ("personal data: each subject's data key, wrapped by a KMS key; aws-es forget deletes it",
         personal.resources()),
        api_group(current),
        ("rebuilds: Begin, a Distributed Map of segment workers (each looping until its segment is done), Finish",
         rebuild.resources(current)),
        ("logs: one group per function, with retention", functions.log_groups()),
        ("alarms, all on the AlarmTopicArn topic", operations.resources(current)),
        ("commit-to-visible lag alarms, one per projection", lag.resources(current)),
        ("parking: events a projection cannot fold wait here, per aggregate and in order, for `aws-es redrive`",
         parking.resources(current)),
        ("the dashboard: the metrics the handlers publish (namespace aws-es) beside AWS's own",
         {"OperationsDashboard": operations.dashboard(current)}),
    ]
    served = api.outputs(current) if api_type == "rest" else http_api.outputs(current)
    outputs = {**served, **data.outputs(current), **rebuild.outputs(), **releases.outputs(), **parking.outputs()}
    return render(header, groups, outputs)
