"""The REST API: every route authorized (IAM by default, Cognito JWTs by parameter), throttled, access-logged and
traced; the account's API Gateway logging role when ManageApiGatewayAccount says so; the user pool when none is
given."""

from __future__ import annotations

from typing import Any

from handlers.template.stack import Stack
from handlers.template.yaml_text import GetAtt, If, Ref, Sub

ACCESS_LOG = ('{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
              '"caller":"$context.identity.caller","user":"$context.identity.userArn",'
              '"subject":"$context.authorizer.claims.sub","time":"$context.requestTime",'
              '"method":"$context.httpMethod","resource":"$context.resourcePath","status":"$context.status",'
              '"length":"$context.responseLength","latency":"$context.responseLatency",'
              '"integrationLatency":"$context.integrationLatency","error":"$context.error.message"}')
STAGE = "Prod"


def api(stack: Stack) -> dict[str, Any]:
    return {"Type": "AWS::Serverless::Api", "Properties": {
        "Name": Sub(f"${{AWS::StackName}}-{stack.name}"),
        # Naming the account settings makes the API wait for them when this stack sets them (its access logs
        # need API Gateway's logging role); otherwise the account's existing role is used.
        "Description": If("ManageApiGatewayAccount",
                          Sub(f"The {stack.name} API (after the account's API Gateway settings "
                              "${ApiGatewayAccount})"),
                          f"The {stack.name} API"),
        "StageName": STAGE,
        "EndpointConfiguration": {"Type": "REGIONAL"},
        "TracingEnabled": True,
        "Auth": {
            "DefaultAuthorizer": Ref("Authorization"),  # resolved by the SAM transform from the parameter's value
            "InvokeRole": "NONE",  # API Gateway invokes the functions through their resource policy
            "Authorizers": {"CognitoAuthorizer": {
                "UserPoolArn": If("CreateUserPool", GetAtt("UserPool.Arn"), Ref("UserPoolArn"))}}},
        "AccessLogSetting": {"DestinationArn": GetAtt("ApiAccessLogs.Arn"), "Format": ACCESS_LOG},
        "MethodSettings": [{
            "ResourcePath": "/*", "HttpMethod": "*",
            "ThrottlingRateLimit": Ref("ApiRateLimit"), "ThrottlingBurstLimit": Ref("ApiBurstLimit"),
            "MetricsEnabled": True}]}}  # per-route Count, 4XXError and 5XXError (the dashboard's commands by outcome)


def resources(stack: Stack) -> dict[str, dict[str, Any]]:
    """The API, its access logs, and, only when ManageApiGatewayAccount is true, API Gateway's logging role: one
    per account and region (an account-wide setting), kept when the stack is deleted, since other APIs of the
    account may use it."""
    return {
        stack.api: api(stack),
        "ApiAccessLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": Ref("LogRetentionDays")}},
        "ApiGatewayLoggingRole": {"Type": "AWS::IAM::Role", "Condition": "ManageApiGatewayAccount",
                                  "DeletionPolicy": "Retain",
                                  "UpdateReplacePolicy": "Retain", "Properties": {
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
                "Action": "sts:AssumeRole"}]},
            "ManagedPolicyArns": [Sub("arn:${AWS::Partition}:iam::aws:policy/service-role/"
                                      "AmazonAPIGatewayPushToCloudWatchLogs")]}},
        "ApiGatewayAccount": {"Type": "AWS::ApiGateway::Account", "Condition": "ManageApiGatewayAccount",
                              "DeletionPolicy": "Retain",
                              "UpdateReplacePolicy": "Retain",
                              "Properties": {"CloudWatchRoleArn": GetAtt("ApiGatewayLoggingRole.Arn")}},
        "UserPool": {"Type": "AWS::Cognito::UserPool", "Condition": "CreateUserPool", "Properties": {
            "UserPoolName": Sub("${AWS::StackName}-users"),
            "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True},
            "UsernameAttributes": ["email"],
            "AutoVerifiedAttributes": ["email"],
            "MfaConfiguration": "OPTIONAL",
            "EnabledMfas": ["SOFTWARE_TOKEN_MFA"],
            "Policies": {"PasswordPolicy": {"MinimumLength": 12, "RequireLowercase": True, "RequireUppercase": True,
                                            "RequireNumbers": True, "RequireSymbols": False}}}},
        "UserPoolClient": {"Type": "AWS::Cognito::UserPoolClient", "Condition": "CreateUserPool", "Properties": {
            "UserPoolId": Ref("UserPool"),
            "GenerateSecret": False,
            "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "PreventUserExistenceErrors": "ENABLED"}},
    }


def outputs(stack: Stack) -> dict[str, Any]:
    return {
        stack.api: {"Description": "The API's base URL (every route signed with SigV4, or a Cognito JWT, per the "
                                   "Authorization parameter).",
                    "Value": Sub(f"https://${{{stack.api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{STAGE}")},
        "ApiAuthorization": {"Description": "What every route requires (the Authorization parameter).",
                             "Value": Ref("Authorization")},
        "UserPoolId": {"Condition": "CreateUserPool", "Value": Ref("UserPool")},
        "UserPoolClientId": {"Condition": "CreateUserPool", "Value": Ref("UserPoolClient")},
    }
