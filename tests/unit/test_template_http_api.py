"""`aws-es template --api http`: the routes on an HTTP API, with the REST template's proofs. No route is open (IAM
or a JWT of any OIDC issuer, per parameter); each function is invoked only for its own routes, through its `live`
alias; the functions' permissions are the REST template's, exactly; the stage is throttled and access-logged; the
API's alarms read the HTTP API's metrics and are documented; cfn-lint (plain and serverless rules) finds nothing,
as written and as translated. The handlers serve the HTTP API's 1.0 payload, JWT claims included."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigurationError
from handlers import cli, commands, idempotency
from handlers.app import App
from handlers.registry import load
from handlers.settings import Settings
from handlers.tables import ensure_table
from handlers.template import generate
from tests.api_support import LambdaContext, reply_of
from tests.iam_support import principals
from tests.template_support import deployed, problems, resources, translated

SERVERLESS = ("cfn_lint_serverless.rules",)
TOPIC = "arn:aws:sns:us-east-1:123456789012:loans-alarms"
JWT = {"Authorization": "JWT"}
AUTH0 = {"Authorization": "JWT", "JwtIssuer": "https://example.eu.auth0.com/", "JwtAudience": "https://loans.api"}
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(scope="module")
def text() -> str:
    return generate(load(["loans"]), Settings(), "lambda/", api_type="http")


def declared_routes() -> set[str]:
    return {f"{route.method} {route.path}" for route in load(["loans"]).routes}


# -- lint -----------------------------------------------------------------------------------------------------------
def test_the_http_template_has_no_lint_errors_or_warnings_plain_or_serverless(text: str) -> None:
    assert problems(text, SERVERLESS) == []


def test_the_translated_http_template_has_no_lint_errors_or_warnings(text: str) -> None:
    output = translated({**AUTH0, "SnapshotStore": "s3", "AlarmTopicArn": TOPIC}, text)
    assert problems(json.dumps(output, default=str), SERVERLESS) == []


# -- authentication -------------------------------------------------------------------------------------------------
def open_routes(output: dict[str, Any]) -> list[str]:
    """Every route of every HTTP API that an unauthenticated caller could reach: a route authorized by neither IAM
    nor a JWT authorizer of the API, or an API quick-created with a route of its own (Target)."""
    found = []
    authorizers = {name for name, resource in resources(output, "AWS::ApiGatewayV2::Authorizer").items()
                   if resource["Properties"].get("AuthorizerType") == "JWT"}
    for name, route in resources(output, "AWS::ApiGatewayV2::Route").items():
        properties = route["Properties"]
        kind = properties.get("AuthorizationType", "NONE")
        if kind == "AWS_IAM":
            continue
        if kind == "JWT" and properties.get("AuthorizerId") in [{"Ref": a} for a in authorizers]:
            continue
        found.append(f"{name} {properties.get('RouteKey')}: {kind} {properties.get('AuthorizerId')}")
    for name, api in resources(output, "AWS::ApiGatewayV2::Api").items():
        if "Target" in api["Properties"] or "Body" in api["Properties"] or "BodyS3Location" in api["Properties"]:
            found.append(f"{name}: routes outside the template's Route resources")
    return found


@pytest.mark.parametrize(("parameters", "scheme"), [({}, "AWS_IAM"), (JWT, "JWT"), (AUTH0, "JWT")])
def test_no_route_is_open_and_each_requires_the_chosen_authorization(text: str, parameters: dict[str, str],
                                                                    scheme: str) -> None:
    output = deployed(parameters, text)
    assert open_routes(output) == []
    routes = [route["Properties"] for route in resources(output, "AWS::ApiGatewayV2::Route").values()]
    assert {route["RouteKey"] for route in routes} == declared_routes() and len(routes) == len(declared_routes())
    assert {route["AuthorizationType"] for route in routes} == {scheme}
    assert ("JwtAuthorizer" in output["Resources"]) == (scheme == "JWT")
    assert not [name for name, resource in output["Resources"].items()
                if resource["Type"].startswith("AWS::ApiGateway::")], "a REST API or its account settings"


def test_an_open_route_would_be_found(text: str) -> None:
    """The check above can fail: a route with no authorization, a JWT route without an authorizer, and an API
    quick-created with its own default route are each reported."""
    output = deployed({}, text)
    output["Resources"]["Open"] = {"Type": "AWS::ApiGatewayV2::Route", "Properties": {"RouteKey": "GET /open"}}
    output["Resources"]["Unchecked"] = {"Type": "AWS::ApiGatewayV2::Route", "Properties": {
        "RouteKey": "GET /unchecked", "AuthorizationType": "JWT"}}
    output["Resources"]["LoansApi"]["Properties"]["Target"] = "arn:aws:lambda:us-east-1:123456789012:function:f"
    assert len(open_routes(output)) == 3


def test_the_jwt_authorizer_trusts_the_given_issuer_or_the_stacks_user_pool(text: str) -> None:
    own = deployed(JWT, text)
    configuration = own["Resources"]["JwtAuthorizer"]["Properties"]["JwtConfiguration"]
    assert configuration == {"Issuer": {"Fn::Sub": "https://cognito-idp.${AWS::Region}.amazonaws.com/${UserPool}"},
                             "Audience": [{"Ref": "UserPoolClient"}]}
    assert {"UserPool", "UserPoolClient"} <= set(own["Resources"])
    given = deployed(AUTH0, text)
    authorizer = given["Resources"]["JwtAuthorizer"]["Properties"]
    assert authorizer["JwtConfiguration"] == {"Issuer": AUTH0["JwtIssuer"], "Audience": [AUTH0["JwtAudience"]]}
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert not {"UserPool", "UserPoolClient"} & set(given["Resources"])


def test_an_issuer_without_an_audience_is_refused_before_anything_is_created(text: str) -> None:
    output = translated({}, text)
    (rule,) = output["Rules"].values()
    assert rule["RuleCondition"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtIssuer"}, ""]}]}
    (assertion,) = rule["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "JwtAudience"}, ""]}]}
    assert "JwtIssuer" in assertion["AssertDescription"] and "JwtAudience" in assertion["AssertDescription"]
    assert re.fullmatch(output["Parameters"]["JwtIssuer"]["AllowedPattern"], "http://insecure.example") is None


# -- invocation and least privilege ------------------------------------------------------------------------------
def test_each_function_is_invoked_only_for_its_own_routes_through_its_alias(text: str) -> None:
    output = deployed({}, text)
    expected = set()
    for route in load(["loans"]).routes:
        function = route.api.capitalize() + "Function"
        path = "/".join("*" if part.startswith("{") else part for part in route.path.split("/"))
        expected.add((f"{function}Aliaslive", "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                      f"${{LoansApi}}/*/{route.method}{path}"))
    permissions = [p["Properties"] for p in resources(output, "AWS::Lambda::Permission").values()]
    assert {(p["FunctionName"]["Ref"], p["SourceArn"]["Fn::Sub"]) for p in permissions} == expected
    assert all(p["Principal"] == "apigateway.amazonaws.com" for p in permissions)
    integrations = resources(output, "AWS::ApiGatewayV2::Integration")
    targets = {route["Properties"]["RouteKey"]: integrations[route["Properties"]["Target"]["Fn::Sub"].split("${")[1]
                                                             .rstrip("}")]["Properties"]
               for route in resources(output, "AWS::ApiGatewayV2::Route").values()}
    serving = {f"{route.method} {route.path}": route.api.capitalize() + "Function" for route in load(["loans"]).routes}
    assert set(targets) == set(serving)
    for key, integration in targets.items():
        function = serving[key]
        assert integration["IntegrationUri"] == {"Ref": f"{function}Aliaslive"}, key
        assert (integration["IntegrationType"], integration["PayloadFormatVersion"]) == ("AWS_PROXY", "1.0")
        assert "CredentialsArn" not in integration, "API Gateway must not call the functions with the caller's rights"


def test_the_functions_may_do_exactly_what_they_may_behind_the_rest_api(text: str) -> None:
    for parameters in ({}, {"SnapshotStore": "s3"}):
        http = principals(deployed(parameters, text))
        rest = principals(deployed(parameters))
        assert {name: sorted(granted) for name, granted in http.items()} == {
            name: sorted(granted) for name, granted in rest.items()}, parameters


# -- operations -----------------------------------------------------------------------------------------------------
def test_the_stage_serves_the_base_url_throttled_and_access_logged(text: str) -> None:
    output = deployed({"ApiRateLimit": 50, "ApiBurstLimit": 80}, text)
    (stage,) = [s["Properties"] for s in resources(output, "AWS::ApiGatewayV2::Stage").values()]
    assert (stage["StageName"], stage["AutoDeploy"]) == ("$default", True)
    settings = stage["DefaultRouteSettings"]
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (50, 80)
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogs", "Arn"]}
    logged = json.loads(stage["AccessLogSettings"]["Format"])
    assert {"requestId", "caller", "subject", "route", "status", "error"} <= set(logged)
    assert output["Resources"]["ApiAccessLogs"]["Properties"]["RetentionInDays"] == 90


def test_the_api_alarms_read_the_http_apis_metrics_and_roll_releases_back(text: str) -> None:
    output = deployed({"AlarmTopicArn": TOPIC}, text)
    alarms = {name: a["Properties"] for name, a in resources(output, "AWS::CloudWatch::Alarm").items()}
    by_id = [{"Name": "ApiId", "Value": {"Ref": "LoansApi"}}]
    failed = alarms["Api5xxAlarm"]
    read = {q["MetricStat"]["Metric"]["MetricName"]: q["Id"] for q in failed["Metrics"] if "MetricStat" in q}
    assert set(read) == {"5xx", "Count"}
    assert all(q["MetricStat"]["Metric"]["Dimensions"] == by_id for q in failed["Metrics"] if "MetricStat" in q)
    (share,) = [q for q in failed["Metrics"] if q.get("ReturnData")]
    assert share["Expression"] == f"IF({read['Count']} > 0, {read['5xx']} / {read['Count']}, 0)"
    assert (failed["Threshold"], failed["EvaluationPeriods"], failed["DatapointsToAlarm"]) == (0.01, 5, 3)
    latency = alarms["ApiLatencyAlarm"]
    assert (latency["MetricName"], latency["ExtendedStatistic"], latency["Dimensions"]) == ("Latency", "p99", by_id)
    assert all(a["AlarmActions"] == [TOPIC] for a in alarms.values())
    watched = {alarm["Name"]["Ref"] for group in resources(output, "AWS::CodeDeploy::DeploymentGroup").values()
               for alarm in group["Properties"]["AlarmConfiguration"]["Alarms"]}
    assert {"Api5xxAlarm", "ApiLatencyAlarm"} <= watched and watched <= set(alarms)
    section = README.read_text(encoding="utf-8").split("### Alarms", 1)[1].split("\n### ", 1)[0]
    assert "`ApiId`" in section and "`5xx`" in section, "README's Alarms section does not explain the HTTP API's"


def test_the_dashboard_charts_the_http_apis_requests_by_outcome(text: str) -> None:
    body = deployed({}, text)["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    charted = {tuple(metric[:4]) for widget in json.loads(body)["widgets"] for metric in widget["properties"]["metrics"]
               if metric[0] == "AWS/ApiGateway"}
    assert charted == {("AWS/ApiGateway", name, "ApiId", "${LoansApi}") for name in ("Count", "4xx", "5xx")}


# -- the command ----------------------------------------------------------------------------------------------------
def test_the_command_writes_the_http_template(text: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ES_MODULES", "loans")
    written = tmp_path / "template.yaml"
    assert cli.main(["template", "--api", "http", "--code-uri", "lambda/", "--output", str(written)]) == 0
    assert written.read_text(encoding="utf-8") == text


def test_an_unknown_api_type_is_refused_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigurationError, match="'soap' is not one the template deploys: choose rest or http"):
        generate(load(["loans"]), Settings(), "lambda/", api_type="soap")
    with pytest.raises(SystemExit):
        cli.main(["template", "--api", "soap"])
    assert "--api" in capsys.readouterr().err


# -- the handlers serve the HTTP API's 1.0 payload ------------------------------------------------------------------
def http_event(method: str, path: str, body: str, sub: str, key: str) -> dict[str, Any]:
    """An HTTP API request in payload format 1.0 after a JWT authorizer, as API Gateway documents it: the claims
    under `requestContext.authorizer`, an `identity` of nulls, the `$default` stage."""
    headers = {"content-type": "application/json", "authorization": "Bearer token", "idempotency-key": key}
    return {
        "version": "1.0", "resource": path, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None, "pathParameters": None,
        "stageVariables": None, "body": body, "isBase64Encoded": False,
        "requestContext": {
            "accountId": "123456789012", "apiId": "id", "domainName": "id.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "id", "extendedRequestId": "request-id", "httpMethod": method, "path": path,
            "protocol": "HTTP/1.1", "requestId": f"{sub}-{key}", "requestTime": "04/Mar/2020:19:15:17 +0000",
            "requestTimeEpoch": 1583349317135, "resourceId": None, "resourcePath": path, "stage": "$default",
            "authorizer": {"claims": {"sub": sub, "iss": AUTH0["JwtIssuer"], "aud": AUTH0["JwtAudience"]},
                           "scopes": None},
            "identity": {"accessKey": None, "accountId": None, "caller": None, "cognitoAuthenticationProvider": None,
                         "cognitoAuthenticationType": None, "cognitoIdentityId": None,
                         "cognitoIdentityPoolId": None, "principalOrgId": None, "sourceIp": "192.0.2.1",
                         "user": None, "userAgent": "user-agent", "userArn": None}}}


def test_the_commands_handler_serves_the_http_apis_payload_and_keys_belong_to_the_tokens_subject(
        app: App, events_table: str, dynamodb: Any) -> None:
    ensure_table(dynamodb, idempotency.table_definition(app.settings))
    handler = commands.handler_for(app)
    opened = '{"requested_amount": 1000.00, "interest": 0.05}'

    def open_loan(sub: str, key: str) -> tuple[int, dict[str, Any]]:
        status, payload = reply_of(handler(http_event("POST", "/loans", opened, sub, key), LambdaContext()))
        return status, payload

    first, retried, other = open_loan("alice", "k1"), open_loan("alice", "k1"), open_loan("bob", "k1")
    assert first[0] == retried[0] == other[0] == 201
    assert first[1]["id"] == retried[1]["id"] != other[1]["id"]
    assert dynamodb.scan(TableName=events_table, Select="COUNT")["Count"] == 2
