"""The HTTP API (`aws-es template --api http`): API Gateway's cheaper API, every route authorized by IAM (SigV4,
the default) or by its native JWT authorizer, trusting any OIDC issuer (the stack's own Cognito user pool when none
is given); throttled and access-logged on its `$default` stage; no X-Ray on the API and no WAF (REST alone has
them).

The routes are plain CloudFormation (`AWS::ApiGatewayV2::*`), not SAM `HttpApi` events: SAM takes an HttpApi's
`DefaultAuthorizer` only as a literal name, so the IAM or JWT choice could not be a parameter there, while a
route's `AuthorizationType` can be an `Fn::If`. Each route invokes its function's `live` alias with the 1.0
payload, the REST API's event shape (`requestContext.authorizer.claims`, `requestContext.identity`), so the
handlers serve both APIs unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from handlers.template import api as rest_api
from handlers.template.stack import Stack
from handlers.template.yaml_text import NO_VALUE, Equals, GetAtt, If, Ref, Sub

ACCESS_LOG = ('{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
              '"caller":"$context.identity.caller","user":"$context.identity.userArn",'
              '"subject":"$context.authorizer.claims.sub","time":"$context.requestTime",'
              '"method":"$context.httpMethod","route":"$context.routeKey","status":"$context.status",'
              '"length":"$context.responseLength","latency":"$context.responseLatency",'
              '"integrationLatency":"$context.integrationLatency","error":"$context.error.message",'
              '"integrationError":"$context.integrationErrorMessage"}')
#: The stage that serves the API at its base URL, with no stage name in the path.
DEFAULT_STAGE = "$default"
#: Which function serves each API's routes.
SERVING = {"commands": "CommandsFunction", "queries": "QueriesFunction"}


def parameters(rest: dict[str, Any]) -> dict[str, Any]:
    """The REST template's parameters with the HTTP API's authorization in place of the REST API's (no Cognito
    authorizer, no account-wide logging role: an HTTP API's access logs need none)."""
    found: dict[str, Any] = {}
    for name, spec in rest.items():
        if name in ("UserPoolArn", "ManageApiGatewayAccount"):
            continue
        if name != "Authorization":
            found[name] = spec
            continue
        found["Authorization"] = {
            "Type": "String", "Default": "AWS_IAM", "AllowedValues": ["AWS_IAM", "JWT"],
            "Description": "How every API route is authorized: AWS_IAM (SigV4-signed requests from principals "
                           "allowed execute-api:Invoke) or JWT (a token of the JwtIssuer for the JwtAudience, in the "
                           "Authorization header, checked by API Gateway's JWT authorizer)."}
        found["JwtIssuer"] = {
            "Type": "String", "Default": "", "AllowedPattern": "^$|^https://[^\\s]+$",
            "Description": "The OIDC issuer whose tokens JWT accepts (its iss claim, an https URL serving "
                           "/.well-known/openid-configuration); empty: a Cognito user pool this stack creates."}
        found["JwtAudience"] = {
            "Type": "String", "Default": "", "AllowedPattern": "^[^\\s,]*$",
            "Description": "The audience (aud or client_id claim) a token must name; required with JwtIssuer, "
                           "empty with the stack's own user pool (its app client)."}
    return found


def conditions() -> dict[str, Any]:
    return {"CreateUserPool": Equals(Ref("JwtIssuer"), ""),
            "JwtAuthorization": Equals(Ref("Authorization"), "JWT")}


def rules() -> dict[str, Any]:
    """An issuer given without an audience is refused before anything is created, naming both parameters."""
    return {"JwtIssuerNeedsAudience": {
        "RuleCondition": {"Fn::Not": [{"Fn::Equals": [Ref("JwtIssuer"), ""]}]},
        "Assertions": [{"Assert": {"Fn::Not": [{"Fn::Equals": [Ref("JwtAudience"), ""]}]},
                        "AssertDescription": "JwtIssuer is given, so JwtAudience must be too: the aud (or "
                                             "client_id) its tokens carry for this API"}]}}


def source_path(path: str) -> str:
    """A route's path as its invoke permission names it: each `{parameter}` a `*`."""
    return re.sub(r"\{[^}]+\}", "*", path)


def api(stack: Stack) -> dict[str, Any]:
    return {"Type": "AWS::ApiGatewayV2::Api", "Properties": {
        "Name": Sub(f"${{AWS::StackName}}-{stack.name}"),
        "Description": f"The {stack.name} API (HTTP API)",
        "ProtocolType": "HTTP"}}


def stage(stack: Stack) -> dict[str, Any]:
    return {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
        "ApiId": Ref(stack.api), "StageName": DEFAULT_STAGE, "AutoDeploy": True,
        "Description": "Serves the API at its base URL; every change to a route is deployed at once.",
        "AccessLogSettings": {"DestinationArn": GetAtt("ApiAccessLogs.Arn"), "Format": ACCESS_LOG},
        "DefaultRouteSettings": {
            "ThrottlingRateLimit": Ref("ApiRateLimit"), "ThrottlingBurstLimit": Ref("ApiBurstLimit"),
            "DetailedMetricsEnabled": False}}}  # per-route metrics cost $0.30 a metric-month (README: Cost)


def authorizer(stack: Stack) -> dict[str, Any]:
    """The JWT authorizer: the given issuer and audience, or the stack's user pool and its app client."""
    return {"Type": "AWS::ApiGatewayV2::Authorizer", "Condition": "JwtAuthorization", "Properties": {
        "ApiId": Ref(stack.api), "Name": "JwtAuthorizer", "AuthorizerType": "JWT",
        "IdentitySource": ["$request.header.Authorization"],
        "JwtConfiguration": {
            "Issuer": If("CreateUserPool",
                         Sub("https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"), Ref("JwtIssuer")),
            "Audience": [If("CreateUserPool", Ref("UserPoolClient"), Ref("JwtAudience"))]}}}


def integration(stack: Stack, function: str) -> dict[str, Any]:
    return {"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
        "ApiId": Ref(stack.api), "IntegrationType": "AWS_PROXY",
        "IntegrationUri": Ref(f"{function}.Alias"),  # the `live` alias, which CodeDeploy shifts (releases.py)
        "PayloadFormatVersion": "1.0",  # the REST API's event shape: the handlers serve both
        "TimeoutInMillis": 29000}}


def routes(stack: Stack) -> dict[str, dict[str, Any]]:
    """Each declared route, authorized as the Authorization parameter says, and its function's permission to be
    invoked for that route alone."""
    found: dict[str, dict[str, Any]] = {}
    for route in stack.routes:
        function = SERVING[route.api]
        found[f"{route.name}Route"] = {"Type": "AWS::ApiGatewayV2::Route", "Properties": {
            "ApiId": Ref(stack.api), "RouteKey": f"{route.method} {route.path}",
            "AuthorizationType": If("JwtAuthorization", "JWT", "AWS_IAM"),
            "AuthorizerId": If("JwtAuthorization", Ref("JwtAuthorizer"), NO_VALUE),
            "Target": Sub(f"integrations/${{{function.removesuffix('Function')}Integration}}")}}
        found[f"{route.name}Permission"] = {"Type": "AWS::Lambda::Permission", "Properties": {
            "Action": "lambda:InvokeFunction", "FunctionName": Ref(f"{function}.Alias"),
            "Principal": "apigateway.amazonaws.com",
            "SourceArn": Sub(f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:"
                             f"${{{stack.api}}}/*/{route.method}{source_path(route.path)}")}}
    return found


def resources(stack: Stack) -> dict[str, dict[str, Any]]:
    """The API, its stage and access logs, the JWT authorizer (when chosen), an integration per function that
    serves routes, each route with its permission, and the user pool when no issuer is given."""
    served = [function for api_name, function in SERVING.items() if stack.routes_of(api_name)]
    pool = {name: resource for name, resource in rest_api.resources(stack).items()
            if name in ("ApiAccessLogs", "UserPool", "UserPoolClient")}  # the same log group and user pool
    return {
        stack.api: api(stack),
        "ApiStage": stage(stack),
        "ApiAccessLogs": pool["ApiAccessLogs"],
        "JwtAuthorizer": authorizer(stack),
        **{f"{function.removesuffix('Function')}Integration": integration(stack, function) for function in served},
        **routes(stack),
        "UserPool": pool["UserPool"],
        "UserPoolClient": pool["UserPoolClient"],
    }


def outputs(stack: Stack) -> dict[str, Any]:
    return {
        stack.api: {"Description": "The HTTP API's base URL (every route signed with SigV4, or a JWT, per the "
                                   "Authorization parameter).",
                    "Value": Sub(f"https://${{{stack.api}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/")},
        "ApiAuthorization": {"Description": "What every route requires (the Authorization parameter).",
                             "Value": Ref("Authorization")},
        "JwtIssuerUrl": {"Condition": "JwtAuthorization", "Description": "The issuer whose tokens the API accepts.",
                         "Value": If("CreateUserPool",
                                     Sub("https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"),
                                     Ref("JwtIssuer"))},
        "UserPoolId": {"Condition": "CreateUserPool", "Value": Ref("UserPool")},
        "UserPoolClientId": {"Condition": "CreateUserPool", "Value": Ref("UserPoolClient")},
    }


# -- the dashboard: AWS/ApiGateway's HTTP API metrics, by ApiId (the alarms: operations.py) ---------------------
def dashboard_metrics(stack: Stack) -> list[list[Any]]:
    """The whole API's requests, 4xx and 5xx (per-route metrics are off: DetailedMetricsEnabled)."""
    where = ["ApiId", f"${{{stack.api}}}"]
    return [["AWS/ApiGateway", "Count", *where, {"label": "requests"}],
            ["AWS/ApiGateway", "4xx", *where, {"label": "refused (4xx)"}],
            ["AWS/ApiGateway", "5xx", *where, {"label": "failed (5xx)"}]]
