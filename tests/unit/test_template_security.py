"""What the deployed stack lets in and keeps: authorization on every route, least privilege (printed: run
with -s), and the data protection of the tables and the snapshot bucket."""

from __future__ import annotations

from typing import Any

import pytest

from tests.iam_support import is_data, is_write, principals, report
from tests.template_support import deployed, resources

COGNITO = {"Authorization": "CognitoAuthorizer"}
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "x-amazon-apigateway-any-method")


# -- authentication ---------------------------------------------------------------------------------------------
def open_routes(output: dict[str, Any]) -> list[str]:
    """Every route of every REST API that an unauthenticated caller could reach."""
    found = []
    for name, api in resources(output, "AWS::ApiGateway::RestApi").items():
        body = api["Properties"]["Body"]
        schemes = body.get("securityDefinitions", {})
        for path, operations in body["paths"].items():
            for method, operation in operations.items():
                if method.lower() not in METHODS:
                    continue
                required = [scheme for entry in operation.get("security", []) for scheme in entry]
                kinds = {schemes.get(scheme, {}).get("x-amazon-apigateway-authtype") for scheme in required}
                if not required or not kinds <= {"awsSigv4", "cognito_user_pools"} or None in kinds:
                    found.append(f"{name} {method.upper()} {path}: security {operation.get('security')}")
    for name, method in resources(output, "AWS::ApiGateway::Method").items():
        if method["Properties"].get("AuthorizationType", "NONE") == "NONE":
            found.append(f"{name} {method['Properties'].get('HttpMethod')}: AuthorizationType NONE")
    return found


@pytest.mark.parametrize(("parameters", "scheme"), [({}, "AWS_IAM"), (COGNITO, "CognitoAuthorizer")])
def test_no_route_is_open_and_each_requires_the_chosen_authorization(parameters: dict[str, str], scheme: str) -> None:
    output = deployed(parameters)
    assert open_routes(output) == []
    (api,) = resources(output, "AWS::ApiGateway::RestApi").values()
    operations = [op for ops in api["Properties"]["Body"]["paths"].values() for op in ops.values()]
    assert len(operations) == 10
    assert all(op["security"] == [{scheme: []}] for op in operations)
    credentials = [op["x-amazon-apigateway-integration"].get("credentials") for op in operations]
    assert credentials == [None] * len(operations), ("API Gateway must not call the functions with the caller's "
                                                     "credentials")


def test_the_cognito_authorizer_trusts_the_stacks_user_pool_or_the_one_given() -> None:
    given = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_abc"
    own = {"Fn::GetAtt": ["UserPool", "Arn"]}
    for parameters, pool in [(COGNITO, own), ({**COGNITO, "UserPoolArn": given}, given)]:
        output = deployed(parameters)
        (api,) = resources(output, "AWS::ApiGateway::RestApi").values()
        authorizer = api["Properties"]["Body"]["securityDefinitions"]["CognitoAuthorizer"]
        assert authorizer["x-amazon-apigateway-authorizer"]["providerARNs"] == [pool]
        assert ("UserPool" in output["Resources"]) == (pool != given)


def test_an_open_route_would_be_found() -> None:
    """The check above can fail: a route without security, or an OPTIONS method resource, is reported."""
    output = deployed()
    (api,) = resources(output, "AWS::ApiGateway::RestApi").values()
    api["Properties"]["Body"]["paths"]["/loans"]["options"] = {"responses": {}}
    output["Resources"]["Preflight"] = {"Type": "AWS::ApiGateway::Method",
                                        "Properties": {"HttpMethod": "OPTIONS", "AuthorizationType": "NONE"}}
    assert len(open_routes(output)) == 2


# -- least privilege -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("parameters", [{}, {"SnapshotStore": "s3"}])
def test_least_privilege_every_action_on_every_resource(parameters: dict[str, str]) -> None:
    permissions = principals(deployed(parameters))
    printed = report(permissions)
    print(f"\npermissions with {parameters or 'the default parameters'}:\n{printed}")
    assert set(permissions) == {"ProjectorFunction", "CommandsFunction", "QueriesFunction", "RebuildWorkerFunction",
                                "RebuildStateMachine"}, printed
    starred = [(name, action) for name, granted in permissions.items() for _, action, resource in granted
               if is_data(action) and ("*" in action or resource == "*")]
    assert starred == [], f"data actions on every resource: {starred}\n{printed}"
    projector_writes = [(action, resource) for _, action, resource in permissions["ProjectorFunction"]
                        if is_write(action) and ("LoansTable" in resource and "/stream/" not in resource)]
    assert projector_writes == [], f"the projector may write the events table: {projector_writes}\n{printed}"
    queries_writes = [(action, resource) for _, action, resource in permissions["QueriesFunction"] if is_write(action)]
    assert queries_writes == [], f"the queries function may write: {queries_writes}\n{printed}"
    assert all(effect == "Allow" for granted in permissions.values() for effect, _, _ in granted), printed


def test_the_snapshot_bucket_is_reachable_only_on_its_prefix_and_only_when_chosen() -> None:
    def s3_grants(parameters: dict[str, str]) -> list[tuple[str, str, str]]:
        return [(name, action, resource) for name, granted in principals(deployed(parameters)).items()
                for _, action, resource in granted if action.startswith("s3:")]

    assert s3_grants({}) == []
    grants = s3_grants({"SnapshotStore": "s3", "SnapshotPrefix": "loans/snapshots/"})
    assert {name for name, _, _ in grants} == {"CommandsFunction"}
    assert {(action, resource) for _, action, resource in grants} == {
        ("s3:GetObject", "${SnapshotBucket.Arn}/loans/snapshots/*"),
        ("s3:PutObject", "${SnapshotBucket.Arn}/loans/snapshots/*"),
        ("s3:ListBucket", "SnapshotBucket.Arn")}


@pytest.mark.parametrize(("parameters", "store"), [({}, "dynamodb"), ({"SnapshotStore": "s3"}, "s3")])
def test_the_commands_function_is_configured_for_the_chosen_snapshot_store(parameters: dict[str, str],
                                                                            store: str) -> None:
    variables = deployed(parameters)["Resources"]["CommandsFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SNAPSHOT_STORE"] == store
    assert variables["SNAPSHOT_PREFIX"] == "snapshots/"
    assert variables.get("SNAPSHOT_BUCKET") == ({"Ref": "SnapshotBucket"} if store == "s3" else None)


# -- data protection -------------------------------------------------------------------------------------------------
def test_the_events_table_survives_stack_deletion_and_replacement() -> None:
    table = deployed()["Resources"]["LoansTable"]
    assert (table.get("DeletionPolicy"), table.get("UpdateReplacePolicy")) == ("Retain", "Retain")
    assert table["Properties"]["DeletionProtectionEnabled"] is True


def test_every_table_has_point_in_time_recovery_and_states_its_encryption() -> None:
    tables = resources(deployed(), "AWS::DynamoDB::Table")
    assert set(tables) == {"LoansTable", "LoanSummaryTable", "PortfolioTable", "LoanDailyTable", "LoanRiskTable",
                           "LoanRiskCountersTable",
                           "ProjectionControlTable", "IdempotencyTable", "ParkedEventsTable", "PersonalKeysTable"}
    for name, table in tables.items():
        properties = table["Properties"]
        # the key table alone is not recoverable: a backup would keep a forgotten person's key
        recoverable = name != "PersonalKeysTable"
        assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": recoverable}, name
        assert properties["SSESpecification"]["SSEEnabled"] is True, name


def test_the_idempotency_table_expires_keys_is_kept_and_only_the_commands_function_uses_it() -> None:
    output = deployed()
    table = output["Resources"]["IdempotencyTable"]
    assert (table.get("DeletionPolicy"), table.get("UpdateReplacePolicy")) == ("Retain", "Retain")
    properties = table["Properties"]
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    grants = {(name, action) for name, granted in principals(output).items() for _, action, resource in granted
              if "IdempotencyTable" in resource}
    assert grants == {("CommandsFunction", f"dynamodb:{action}")
                      for action in ("GetItem", "PutItem", "UpdateItem", "DeleteItem")}
    functions = resources(output, "AWS::Lambda::Function")
    named = {name for name, function in functions.items()
             if "IDEMPOTENCY_TABLE" in function["Properties"].get("Environment", {}).get("Variables", {})}
    assert named == {"CommandsFunction"}
    variables = functions["CommandsFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    assert functions["CommandsFunction"]["Properties"]["Timeout"] < 29


def test_the_snapshot_bucket_is_private_tls_only_versioned_and_expires_replaced_versions() -> None:
    output = deployed()
    bucket = output["Resources"]["SnapshotBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values()) and len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert [rule["NoncurrentVersionExpiration"]["NoncurrentDays"] for rule in bucket["LifecycleConfiguration"]["Rules"]
            if rule["Status"] == "Enabled" and "NoncurrentVersionExpiration" in rule] == [30]
    (policy,) = resources(output, "AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == {"Ref": "SnapshotBucket"}
    denials = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"
               and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} and s["Principal"] == "*"
               and s["Action"] == "s3:*"]
    assert len(denials) == 1
    assert denials[0]["Resource"] == [{"Fn::GetAtt": ["SnapshotBucket", "Arn"]}, {"Fn::Sub": "${SnapshotBucket.Arn}/*"}]
