"""The personal data resources: the KMS key that wraps each subject's data key, the key table holding the
wrapped keys, and what the commands function (seals and reveals) and the queries function (reveals) may do with
them."""

from __future__ import annotations

from typing import Any

from core.kms_keys import SUBJECT, keys_table_definition
from handlers.template.functions import allow
from handlers.template.yaml_text import Ref, Sub, arn

KEY, TABLE = "PersonalDataKey", "PersonalKeysTable"


def resources() -> dict[str, dict[str, Any]]:
    """The key is retained; the key table is not backed up: point-in-time recovery would keep a forgotten
    subject's wrapped key for 35 days more."""
    definition = keys_table_definition("unused")
    return {
        KEY: {"Type": "AWS::KMS::Key", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain", "Properties": {
            "Description": "Wraps each subject's data key (aws-es forget destroys the wrapped key, not this one).",
            "EnableKeyRotation": True,
            "KeyPolicy": {"Version": "2012-10-17", "Statement": [{
                "Sid": "AccountAdministers", "Effect": "Allow",
                "Principal": {"AWS": Sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")},
                "Action": "kms:*", "Resource": "*"}]}}},
        TABLE: {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": definition["AttributeDefinitions"],
                    "KeySchema": definition["KeySchema"],
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": False},
                    "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"}}},
    }


def attach(functions: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The commands function seals (makes and reads data keys) and opens its replies; the queries function only
    opens (reads a wrapped key and decrypts it) what its rows and pages show. The projector and the rebuild worker
    fold sealed values as they are and see no key."""
    grants = {"CommandsFunction": (["kms:GenerateDataKey", "kms:Decrypt"], ["dynamodb:GetItem", "dynamodb:PutItem"]),
              "QueriesFunction": (["kms:Decrypt"], ["dynamodb:GetItem"])}
    for name, (kms, dynamodb) in grants.items():
        properties = functions[name]["Properties"]
        properties["Environment"]["Variables"].update(PERSONAL_KMS_KEY=Ref(KEY), PERSONAL_KEYS_TABLE=Ref(TABLE))
        properties["Policies"][0]["Statement"] += [
            allow("PersonalDataKeys", kms, [arn(KEY)]),
            allow("PersonalKeyTable", dynamodb, [arn(TABLE)],
                  Condition={"ForAllValues:StringEquals": {"dynamodb:Attributes": [SUBJECT, "blob"]}})]
    return functions
