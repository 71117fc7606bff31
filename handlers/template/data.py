"""The data resources: every aggregate's events table (the only source of truth, kept whatever happens), the
idempotency table, every projection's tables (rows with their indexes, counter shards, event counters), the
control table, the snapshot bucket and the projector's on-failure queue."""

from __future__ import annotations

from typing import Any

from handlers.template.stack import ProjectionTables, Stack, Table
from handlers.template.yaml_text import Ref, Sub, arn
from projections.tables import generation_definitions

RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
#: Every table: recoverable to any second of the last 35 days, encrypted with the AWS managed key aws/dynamodb
#: (KMS) rather than the unnamed AWS owned key.
PROTECTED = {
    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
}


def table(definition: dict[str, Any], retain: bool = False, **extra: Any) -> dict[str, Any]:
    """A table resource from CreateTable arguments (its name left to CloudFormation)."""
    properties: dict[str, Any] = {"BillingMode": "PAY_PER_REQUEST", **extra}
    properties["AttributeDefinitions"] = definition["AttributeDefinitions"]
    properties["KeySchema"] = definition["KeySchema"]
    if "GlobalSecondaryIndexes" in definition:
        properties["GlobalSecondaryIndexes"] = definition["GlobalSecondaryIndexes"]
    if "TimeToLiveSpecification" in definition:
        properties["TimeToLiveSpecification"] = definition["TimeToLiveSpecification"]
    if "StreamSpecification" in definition:
        properties["StreamSpecification"] = definition["StreamSpecification"]
    return {"Type": "AWS::DynamoDB::Table", **(RETAIN if retain else {}), "Properties": {**properties, **PROTECTED}}


def events_table(events: Table) -> dict[str, Any]:
    """Retained on stack deletion and replacement, and deletion-protected; its stream feeds the projector."""
    definition = {
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"},
                                 {"AttributeName": "number", "AttributeType": "N"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}, {"AttributeName": "number", "KeyType": "RANGE"}],
        "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
    }
    return table(definition, retain=True, DeletionProtectionEnabled=True)


def idempotency_table() -> dict[str, Any]:
    """Idempotency-Key: powertools' records and the markers committed with events; items expire (TTL)."""
    definition = {
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
    }
    return table(definition, retain=True)


def projection_tables(tables: ProjectionTables) -> dict[str, dict[str, Any]]:
    """Generation 0 of each of the projection's tables, as `aws-es init` creates them (projections/tables.py)."""
    definitions = generation_definitions(tables.projection, 0)
    return {table_of.id: table(definition) for table_of, definition in zip(tables.tables, definitions, strict=True)}


def control_table() -> dict[str, Any]:
    definition = {"AttributeDefinitions": [{"AttributeName": "name", "AttributeType": "S"}],
                  "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}]}
    return table(definition)


def snapshot_bucket() -> dict[str, dict[str, Any]]:
    """Private, TLS only, versioned; a snapshot replaced by a newer one is kept 30 days, then deleted."""
    bucket = {
        "Type": "AWS::S3::Bucket",
        "Properties": {
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "VersioningConfiguration": {"Status": "Enabled"},
            "LifecycleConfiguration": {"Rules": [{
                "Id": "ExpireReplacedSnapshots", "Status": "Enabled",
                "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]},
        },
    }
    policy = {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": Ref("SnapshotBucket"),
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [arn("SnapshotBucket"), Sub("${SnapshotBucket.Arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]},
        },
    }
    return {"SnapshotBucket": bucket, "SnapshotBucketPolicy": policy}


def failure_queue() -> dict[str, Any]:
    """The projector's on-failure destination. ES6000 (a dead-letter queue for it) is turned off: the template's
    LintExceptions say why."""
    return {"Type": "AWS::SQS::Queue",
            "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["ES6000"]}}},
            "Properties": {"MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True}}


def resources(stack: Stack) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {events.id: events_table(events) for events in stack.events}
    found[stack.idempotency.id] = idempotency_table()
    for tables in stack.projections:
        found.update(projection_tables(tables))
    found[stack.control.id] = control_table()
    found.update(snapshot_bucket())
    found["ProjectorFailures"] = failure_queue()
    return found


def outputs(stack: Stack) -> dict[str, Any]:
    tables = [*stack.events, *stack.read_tables, stack.control]
    found: dict[str, Any] = {table.id: {"Value": Ref(table.id)} for table in tables}
    found["SnapshotBucket"] = {"Value": Ref("SnapshotBucket")}
    found["ProjectorFailuresQueue"] = {"Value": Ref("ProjectorFailures")}
    return found
