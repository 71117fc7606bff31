"""The rebuild state machine: Begin, a Map of segment workers (each looping until its segment is checkpointed),
Finish; all run by the rebuild worker (README: Rebuilds on AWS)."""

from __future__ import annotations

from typing import Any

from handlers.template.stack import Stack
from handlers.template.yaml_text import GetAtt, Ref, Sub

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
RETRY = [{"ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException",
                          "Lambda.TooManyRequestsException", "Sandbox.Timedout", "Lambda.Unknown"],
          "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2.0}]


def definition(stack: Stack) -> dict[str, Any]:
    example = stack.projections[0].projection.name if stack.projections else "PROJECTION"
    segment = {
        "ProcessorConfig": {"Mode": "INLINE"},
        "StartAt": "Segment",
        "States": {
            "Segment": {"Type": "Task", "Resource": LAMBDA_INVOKE,
                        "Parameters": {"FunctionName": "${Worker}", "Payload.$": "$"},
                        "ResultSelector": {"done.$": "$.Payload.done"}, "ResultPath": "$.result",
                        "Retry": RETRY, "Next": "Checkpointed"},
            "Checkpointed": {"Type": "Choice",
                             "Choices": [{"Variable": "$.result.done", "BooleanEquals": True, "Next": "SegmentDone"}],
                             "Default": "Pause"},
            "Pause": {"Type": "Wait", "Seconds": 5, "Next": "Segment"},
            "SegmentDone": {"Type": "Succeed"}}}
    return {
        "Comment": f'aws-es rebuild on Lambda. Input {{"projection": "{example}", "segments": N, "concurrency": C}}: '
                   "begin the generation, fold segments 0..N-1 in parallel (at most C at once; each is `aws-es "
                   "rebuild --segment K --of N` and is retried from its checkpoint), then verify the counts, switch "
                   "and catch up.",
        "StartAt": "Plan",
        "States": {
            "Plan": {"Type": "Pass",
                     "Parameters": {"numbers.$": "States.ArrayRange(0, States.MathAdd($.segments, -1), 1)",
                                    "concurrency.$": "$.concurrency"},
                     "ResultPath": "$.plan", "Next": "Begin"},
            "Begin": {"Type": "Task", "Resource": LAMBDA_INVOKE,
                      "Parameters": {"FunctionName": "${Worker}",
                                     "Payload": {"action": "begin", "projection.$": "$.projection",
                                                 "segments.$": "$.segments"}},
                      "ResultSelector": {"generation.$": "$.Payload.generation",
                                         "catch_up_only.$": "$.Payload.catch_up_only"},
                      "ResultPath": "$.begun", "Retry": RETRY, "Next": "OnlyCatchUpLeft"},
            "OnlyCatchUpLeft": {"Type": "Choice",
                                "Choices": [{"Variable": "$.begun.catch_up_only", "BooleanEquals": True,
                                             "Next": "Finish"}],
                                "Default": "Segments"},
            "Segments": {"Type": "Map", "ItemsPath": "$.plan.numbers", "MaxConcurrencyPath": "$.plan.concurrency",
                         "ItemSelector": {"action": "segment", "projection.$": "$.projection",
                                          "segments.$": "$.segments", "segment.$": "$$.Map.Item.Value"},
                         "ItemProcessor": segment, "ResultPath": None, "Next": "Finish"},
            "Finish": {"Type": "Task", "Resource": LAMBDA_INVOKE,
                       "Parameters": {"FunctionName": "${Worker}",
                                      "Payload": {"action": "finish", "projection.$": "$.projection",
                                                  "segments.$": "$.segments"}},
                       "OutputPath": "$.Payload", "Retry": RETRY, "End": True}}}


def resources(stack: Stack) -> dict[str, dict[str, Any]]:
    machine = {"Type": "AWS::Serverless::StateMachine", "Properties": {
        "Type": "STANDARD",
        "Tracing": {"Enabled": True},
        "Logging": {"Level": "ERROR", "IncludeExecutionData": False,
                    "Destinations": [
                        {"CloudWatchLogsLogGroup": {"LogGroupArn": GetAtt("RebuildStateMachineLogs.Arn")}}]},
        "Policies": [
            {"LambdaInvokePolicy": {"FunctionName": Ref("RebuildWorkerFunction")}},
            {"Statement": [{  # Step Functions' log delivery APIs take no resource
                "Sid": "VendedLogDelivery", "Effect": "Allow",
                "Action": ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                           "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
                           "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"],
                "Resource": "*"}]}],
        "DefinitionSubstitutions": {"Worker": GetAtt("RebuildWorkerFunction.Arn")},
        "Definition": definition(stack)}}
    logs = {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": Sub("/aws/vendedlogs/states/${AWS::StackName}-rebuild"),
        "RetentionInDays": Ref("LogRetentionDays")}}
    return {"RebuildStateMachine": machine, "RebuildStateMachineLogs": logs}


def outputs() -> dict[str, Any]:
    return {"RebuildStateMachine": {
        "Description": "Start a rebuild with `aws stepfunctions start-execution` (README, Rebuilds on AWS).",
        "Value": Ref("RebuildStateMachine")}}
