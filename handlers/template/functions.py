"""The functions (projector, commands, queries, rebuild worker), each with its least-privilege permissions: every
action on the named resources it needs, the `-g*` generation tables a rebuild creates included, nothing on `*`
but X-Ray's and log delivery's actions, which take no resource."""

from __future__ import annotations

from typing import Any

from handlers.template.releases import released
from handlers.template.stack import Stack, Table
from handlers.template.yaml_text import NO_VALUE, GetAtt, If, Ref, Sub, arn

NAMESPACE = "aws-es"
BUILT = {"BuildMethod": "makefile"}  # lambda/Makefile
#: Records the projector takes: new events only, never a snapshot item (kind=snapshot, number v + 0.5) or its
#: removal.
NEW_EVENTS = '{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": [{"exists": false}]}}}}'


def generations(table: Table) -> Sub:
    """The tables a rebuild creates for `table`: `<deployed name>-g<n>`."""
    return Sub(f"arn:${{AWS::Partition}}:dynamodb:${{AWS::Region}}:${{AWS::AccountId}}:table/${{{table.id}}}-g*")


def one_or_many(values: list[Any]) -> Any:
    return values[0] if len(values) == 1 else values


def allow(sid: str, actions: list[str], resources: list[Any], **extra: Any) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Action": one_or_many(actions), "Resource": one_or_many(resources),
            **extra}


def variables(tables: list[Table], **more: Any) -> dict[str, Any]:
    """Each table under the variable the composition root reads for it, then `more`."""
    return {**{table.variable: Ref(table.id) for table in tables}, **more}


def powertools(service: str) -> dict[str, str]:
    return {"POWERTOOLS_SERVICE_NAME": service, "POWERTOOLS_METRICS_NAMESPACE": NAMESPACE}


def function(description: str, handler: str, code: str, environment: dict[str, Any],
             **properties: Any) -> dict[str, Any]:
    return {"Type": "AWS::Serverless::Function", "Metadata": dict(BUILT), "Properties": {
        "Description": description, "CodeUri": code, "Handler": handler,
        "Environment": {"Variables": environment}, **properties}}


def api_events(stack: Stack, api: str) -> dict[str, Any]:
    """The REST API's SAM events for the routes of `api`; none for an HTTP API, whose routes are its own resources
    (handlers/template/http_api.py)."""
    if stack.api_type != "rest":
        return {}
    return {route.name: {"Type": "Api", "Properties": {"RestApiId": Ref(stack.api), "Path": route.path,
                                                        "Method": route.method.lower()}}
            for route in stack.routes_of(api)}


# -- the projector ----------------------------------------------------------------------------------------------
def projector_role(stack: Stack) -> dict[str, Any]:
    """Its own role: SAM's would read every stream in the account ("*")."""
    statements = []
    for events in stack.projected:
        name = events.id.removesuffix("Table")
        statements.append(allow(f"{name}Stream", ["dynamodb:DescribeStream", "dynamodb:GetRecords",
                                                  "dynamodb:GetShardIterator"], [GetAtt(f"{events.id}.StreamArn")]))
        statements.append(allow(f"{name}Streams", ["dynamodb:ListStreams"], [Sub(f"${{{events.id}.Arn}}/stream/*")]))
    statements += [
        allow("EventsRead", ["dynamodb:GetItem", "dynamodb:Query"], [arn(t.id) for t in stack.projected]),
        allow("LiveGeneration", ["dynamodb:GetItem"], [arn(stack.control.id)]),
        # each projection's progress after a batch (projections/lag.py), and only those items
        allow("ProjectionProgress", ["dynamodb:PutItem"], [arn(stack.control.id)],
              Condition={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["progress#*"]}}),
        allow("ProjectionGenerations", ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem",
                                        "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"],
              [*(arn(t.id) for t in stack.read_tables), *(generations(t) for t in stack.read_tables)]),
        allow("OnFailureDestination", ["sqs:SendMessage"], [arn("ProjectorFailures")]),
        allow("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [Sub(
            "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/"
            "${AWS::StackName}-projector:*")]),
        allow("Traces", ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], ["*"]),
    ]
    return {"Type": "AWS::IAM::Role", "Properties": {
        "Description": "The projector's permissions, each on the resources it needs and no other.",
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
        "Policies": [{"PolicyName": "projector", "PolicyDocument": {"Version": "2012-10-17",
                                                                      "Statement": statements}}]}}


def stream_mapping(events: Table) -> dict[str, Any]:
    return {"Type": "DynamoDB", "Properties": {
        "Stream": GetAtt(f"{events.id}.StreamArn"),
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 1,
        "BisectBatchOnFunctionError": True,
        "MaximumRetryAttempts": Ref("MaximumRetryAttempts"),
        "MaximumRecordAgeInSeconds": Ref("MaximumRecordAgeInSeconds"),
        "FilterCriteria": {"Filters": [{"Pattern": NEW_EVENTS}]},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": arn("ProjectorFailures")}}}}


def projector(stack: Stack, code: str) -> dict[str, Any]:
    """One stream mapping per events table that feeds projections; named, so its role can name its log group."""
    tables = [*stack.projected, *stack.read_tables, stack.control]
    environment = variables(tables, PROJECTION_COUNTER_SHARDS=Ref("CounterShards"),
                            ON_FAILURE_QUEUE=GetAtt("ProjectorFailures.QueueName"), **powertools("projector"))
    return function(
        f"Folds the {', '.join(t.declared for t in stack.projected)} stream into every projection registered for "
        "it (handlers/projector.py).", "handlers.projector.lambda_handler", code, environment,
        ReservedConcurrentExecutions=Ref("ProjectorConcurrency"),
        FunctionName=Sub("${AWS::StackName}-projector"),
        Role=GetAtt("ProjectorRole.Arn"), **released("ProjectorFunction"),
        Events={f"{events.id.removesuffix('Table')}Stream": stream_mapping(events) for events in stack.projected})


# -- the APIs' functions ------------------------------------------------------------------------------------------
def commands(stack: Stack, code: str) -> dict[str, Any]:
    """Appends (conditional puts, transactions), reads, and snapshot items in the events tables or the bucket."""
    environment = variables(
        [*stack.events, stack.idempotency], SNAPSHOT_STORE=Ref("SnapshotStore"),
        SNAPSHOT_BUCKET=If("SnapshotsInS3", Ref("SnapshotBucket"), NO_VALUE), SNAPSHOT_PREFIX=Ref("SnapshotPrefix"),
        SNAPSHOT_EVERY=str(stack.snapshot_every), **powertools("commands"))
    in_s3 = {"Statement": [
        allow("SnapshotObjects", ["s3:GetObject", "s3:PutObject"], [Sub("${SnapshotBucket.Arn}/${SnapshotPrefix}*")]),
        # without ListBucket a missing snapshot reads as 403, not 404
        allow("SnapshotMissingIsNotFound", ["s3:ListBucket"], [arn("SnapshotBucket")],
              Condition={"StringLike": {"s3:prefix": Sub("${SnapshotPrefix}*")}})]}
    policies = [{"Statement": [
        allow("EventsReadAppend", ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:DeleteItem",
                                   "dynamodb:ConditionCheckItem"], [arn(t.id) for t in stack.events]),
        allow("IdempotencyRecords", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                                     "dynamodb:DeleteItem"], [arn(stack.idempotency.id)])]},
        If("SnapshotsInS3", in_s3, NO_VALUE)]
    return function(
        f"The commands API (handlers/commands.py, the command routes of {', '.join(stack.modules)}); snapshots in "
        "the events table or the bucket.", "handlers.commands.lambda_handler", code, environment,
        Timeout=20,  # below API Gateway's 29 s, so a reply is never cut off after a commit
        Policies=policies, **released("CommandsFunction"), **_events(api_events(stack, "commands")))


def queries(stack: Stack, code: str) -> dict[str, Any]:
    """Reads only: the live generation of every projection table, an aggregate's history, the failure queue's
    depth (the dashboard's read-side health)."""
    tables = [*stack.read_tables, *stack.events, stack.control]
    environment = variables(tables, PROJECTION_COUNTER_SHARDS=Ref("CounterShards"),
                            ON_FAILURE_QUEUE=GetAtt("ProjectorFailures.QueueName"), **powertools("queries"))
    readable: list[Any] = []
    for projection in stack.projections:
        readable.append(arn(projection.rows.id))
        if projection.projection.indexes:
            readable.append(Sub(f"${{{projection.rows.id}.Arn}}/index/*"))
        readable += [arn(t.id) for t in projection.tables[1:]]
    readable += [generations(t) for t in stack.read_tables]
    policies = [{"Statement": [
        allow("LiveGeneration", ["dynamodb:GetItem"], [arn(stack.control.id)]),
        # DescribeTable: the dashboard shows when a generation was built
        allow("ProjectionGenerationsRead", ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
                                            "dynamodb:Scan", "dynamodb:DescribeTable"], readable),
        allow("EventHistory", ["dynamodb:Query"], [arn(t.id) for t in stack.events]),
        allow("FailureQueueDepth", ["sqs:GetQueueUrl", "sqs:GetQueueAttributes"], [arn("ProjectorFailures")])]}]
    return function(
        f"The queries API (handlers/queries.py, the query routes of {', '.join(stack.modules)}) over the live query "
        "tables.", "handlers.queries.lambda_handler", code, environment,
        Timeout=20,  # below API Gateway's 29 s
        Policies=policies, **released("QueriesFunction"), **_events(api_events(stack, "queries")))


def _events(events: dict[str, Any]) -> dict[str, Any]:
    return {"Events": events} if events else {}


# -- the rebuild worker ------------------------------------------------------------------------------------------
def rebuild_worker(stack: Stack, code: str) -> dict[str, Any]:
    """One step of a rebuild: scans a segment of the log, creates and fills the new generation, switches it."""
    tables = [*stack.projected, *stack.read_tables, stack.control]
    environment = variables(tables, PROJECTION_COUNTER_SHARDS=Ref("CounterShards"),
                            REBUILD_MAX_SEGMENTS=Ref("RebuildMaxSegments"),
                            REBUILD_MAX_CONCURRENCY=Ref("RebuildMaxConcurrency"),
                            REBUILD_KEEP_GENERATIONS=Ref("RebuildKeepGenerations"),
                            REBUILD_STACK_NAME=Ref("AWS::StackName"), **powertools("rebuild-worker"))
    policies = [{"Statement": [
        allow("EventsScan", ["dynamodb:Scan", "dynamodb:Query", "dynamodb:GetItem", "dynamodb:DescribeTable"],
              [arn(t.id) for t in stack.projected]),
        allow("RebuildProgress", ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
              [arn(stack.control.id)]),
        allow("LiveGenerationRead", ["dynamodb:Scan", "dynamodb:GetItem", "dynamodb:BatchGetItem"],
              [arn(t.id) for t in stack.read_tables]),
        allow("NewGenerations", ["dynamodb:CreateTable", "dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:GetItem",
                                 "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:PutItem",
                                 "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem", "dynamodb:TagResource",
                                 "dynamodb:ListTagsOfResource", "dynamodb:UpdateContinuousBackups",
                                 "dynamodb:DeleteTable"],
              [generations(t) for t in stack.read_tables]),
        # creating a table encrypted with DynamoDB's AWS managed key (alias/aws/dynamodb), through DynamoDB only
        allow("NewGenerationsEncrypted", ["kms:DescribeKey", "kms:CreateGrant"],
              [Sub("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*")],
              Condition={"StringEquals": {"kms:ViaService": Sub("dynamodb.${AWS::Region}.amazonaws.com")}})]}]
    return function("One step of a rebuild (handlers/rebuild_worker.py), run by RebuildStateMachine.",
                    "handlers.rebuild_worker.lambda_handler", code, environment,
                    Timeout=900,  # Lambda's limit; a segment must scan within it (README: Rebuilds on AWS)
                    MemorySize=1769,  # one full vCPU: the fold is CPU-bound
                    Policies=policies)


#: Logical id -> what the function is, for alarms.
FUNCTIONS = {"ProjectorFunction": "The projector", "CommandsFunction": "The commands API function",
             "QueriesFunction": "The queries API function", "RebuildWorkerFunction": "The rebuild worker"}


def resources(stack: Stack, code: str) -> dict[str, dict[str, Any]]:
    return {"ProjectorRole": projector_role(stack), "ProjectorFunction": projector(stack, code),
            "CommandsFunction": commands(stack, code), "QueriesFunction": queries(stack, code),
            "RebuildWorkerFunction": rebuild_worker(stack, code)}


def log_groups() -> dict[str, dict[str, Any]]:
    return {f"{name.removesuffix('Function')}Logs": {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": Sub(f"/aws/lambda/${{{name}}}"), "RetentionInDays": Ref("LogRetentionDays")}}
        for name in FUNCTIONS}
