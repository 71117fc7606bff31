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
        # each segment a child execution of its own (a standard one: its loop may outlast express's 5 minutes),
        # so no execution's history grows with the number of segments
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "Segment",
        "States": {
            "Segment": {"Type": "Task", "Resource": LAMBDA_INVOKE,
                        "Parameters": {"FunctionName": "${Worker}", "Payload.$": "$"},
                        "ResultSelector": {"done.$": "$.Payload.done"}, "ResultPath": "$.result",
                        "Retry": RETRY, "Next": "Checkpointed"},
            "Checkpointed": {"Type": "Choice",
                             "Choices": [{"Variable": "$.result.done", "BooleanEquals": True, "Next": "SegmentDone"}],
                             "Default": "Pause"},
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Segment"},
            "SegmentDone": {"Type": "Succeed"}}}
    catch_up = {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "CatchUpPart",
        "States": {
            "CatchUpPart": {"Type": "Task", "Resource": LAMBDA_INVOKE,
                            "Parameters": {"FunctionName": "${Worker}", "Payload.$": "$"},
                            "OutputPath": "$.Payload.caught_up", "Retry": RETRY, "End": True}}}
    return {
        "Comment": f'aws-es rebuild on Lambda. Input {{"projection": "{example}", "segments": N, "concurrency": C}} '
                   '(optional "checkpoint_every": E): Begin plans it (N and C within the stack\'s RebuildMaxSegments '
                   "and RebuildMaxConcurrency) and begins the generation; a Distributed Map folds segments 0..N-1, at "
                   "most C at once, each `aws-es rebuild --segment K --of N` run again from its checkpoint until "
                   "done; Switch checks the segments' marks and switches; a second Distributed Map catches up the "
                   "rows the live projector advanced meanwhile, part K of the previous generation each; Close "
                   "records it and deletes generations older than the stack's RebuildKeepGenerations.",
        "StartAt": "Begin",
        "States": {
            "Begin": {"Type": "Task", "Resource": LAMBDA_INVOKE,
                      "Parameters": {"FunctionName": "${Worker}", "Payload": {"action": "begin", "input.$": "$"}},
                      "ResultSelector": {"generation.$": "$.Payload.generation",
                                         "catch_up_only.$": "$.Payload.catch_up_only",
                                         "segments.$": "$.Payload.segments", "items.$": "$.Payload.items",
                                         "concurrency.$": "$.Payload.concurrency",
                                         "checkpoint_every.$": "$.Payload.checkpoint_every"},
                      "ResultPath": "$.plan", "Retry": RETRY, "Next": "OnlyCatchUpLeft"},
            "OnlyCatchUpLeft": {"Type": "Choice",
                                "Choices": [{"Variable": "$.plan.catch_up_only", "BooleanEquals": True,
                                             "Next": "CatchUp"}],
                                "Default": "Segments"},
            "Segments": {"Type": "Map", "ItemsPath": "$.plan.items",
                         "MaxConcurrencyPath": "$.plan.concurrency", "ToleratedFailurePercentage": 0,
                         "ItemSelector": {"action": "segment", "projection.$": "$.projection",
                                          "segments.$": "$.plan.segments", "segment.$": "$$.Map.Item.Value",
                                          "checkpoint_every.$": "$.plan.checkpoint_every"},
                         "ItemProcessor": segment, "ResultPath": None, "Next": "Switch"},
            "Switch": {"Type": "Task", "Resource": LAMBDA_INVOKE,
                       "Parameters": {"FunctionName": "${Worker}",
                                      "Payload": {"action": "switch", "projection.$": "$.projection",
                                                  "segments.$": "$.plan.segments"}},
                       "ResultPath": None, "Retry": RETRY, "Next": "CatchUp"},
            "CatchUp": {"Type": "Map", "ItemsPath": "$.plan.items",
                        "MaxConcurrencyPath": "$.plan.concurrency", "ToleratedFailurePercentage": 0,
                        "ItemSelector": {"action": "catch_up", "projection.$": "$.projection",
                                         "segments.$": "$.plan.segments", "segment.$": "$$.Map.Item.Value"},
                        "ItemProcessor": catch_up, "ResultPath": "$.caught_up", "Next": "Close"},
            "Close": {"Type": "Task", "Resource": LAMBDA_INVOKE,
                      "Parameters": {"FunctionName": "${Worker}",
                                     "Payload": {"action": "close", "projection.$": "$.projection",
                                                 "segments.$": "$.plan.segments", "caught_up.$": "$.caught_up"}},
                      "OutputPath": "$.Payload", "Retry": RETRY, "End": True}}}


def parameters() -> dict[str, dict[str, Any]]:
    return {
        "RebuildMaxSegments": {"Type": "Number", "Default": 1000, "MinValue": 1, "MaxValue": 10000,
                               "Description": "The most segments a rebuild may ask for (REBUILD_MAX_SEGMENTS)."},
        "RebuildMaxConcurrency": {"Type": "Number", "Default": 40, "MinValue": 1, "MaxValue": 1000,
                                  "Description": "The most segment workers a rebuild runs at once (the Distributed "
                                                 "Map's MaxConcurrency; REBUILD_MAX_CONCURRENCY): bounds the read "
                                                 "capacity it takes from the events table."},
        "RebuildKeepGenerations": {"Type": "Number", "Default": 1, "MinValue": 0, "MaxValue": 100,
                                   "Description": "Generations of a projection kept behind the live one; after a "
                                                  "successful rebuild, older generations' tables are deleted "
                                                  "(REBUILD_KEEP_GENERATIONS; generation 0, the stack's own, never)."},
    }


STATE_MACHINE = "${AWS::StackName}-rebuild"


def resources(stack: Stack) -> dict[str, dict[str, Any]]:
    machine = {"Type": "AWS::Serverless::StateMachine", "Properties": {
        "Name": Sub(STATE_MACHINE),
        "Type": "STANDARD",
        "Tracing": {"Enabled": True},
        "Logging": {"Level": "ERROR", "IncludeExecutionData": False,
                    "Destinations": [
                        {"CloudWatchLogsLogGroup": {"LogGroupArn": GetAtt("RebuildStateMachineLogs.Arn")}}]},
        "Policies": [
            {"LambdaInvokePolicy": {"FunctionName": Ref("RebuildWorkerFunction")}},
            {"Statement": [  # the Distributed Map runs each segment as a child execution of this state machine
                {"Sid": "SegmentExecutions", "Effect": "Allow", "Action": "states:StartExecution",
                 "Resource": Sub(f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:stateMachine:"
                                 f"{STATE_MACHINE}")},
                {"Sid": "SegmentExecutionsFollowed", "Effect": "Allow",
                 "Action": ["states:DescribeExecution", "states:StopExecution"],
                 "Resource": Sub(f"arn:${{AWS::Partition}}:states:${{AWS::Region}}:${{AWS::AccountId}}:execution:"
                                 f"{STATE_MACHINE}/*")}]},
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
