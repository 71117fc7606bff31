"""Every action each function and the state machine may take, on which resources, read from the translated
template: inline policies, and the AWS managed policies SAM attaches (their documented statements)."""

from __future__ import annotations

from typing import Any

#: The AWS managed policies SAM attaches to the roles it makes, as AWS documents them; any other is refused.
MANAGED = {
    "service-role/AWSLambdaBasicExecutionRole": [
        (["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], ["*"])],
    "AWSXrayWriteOnlyAccess": [
        (["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
          "xray:GetSamplingStatisticSummaries"], ["*"])],
    "service-role/AWSLambdaDynamoDBExecutionRole": [
        (["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
          "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], ["*"])],
}

#: Services whose actions touch the application's data (logs and traces are the functions' own telemetry).
DATA_SERVICES = ("dynamodb", "s3", "sqs", "sns", "lambda", "states", "kms")
#: Actions that change nothing (kms:Decrypt reads a wrapped key's plaintext and writes nothing).
READ_PREFIXES = ("Get", "BatchGet", "Query", "Scan", "Describe", "List", "ConditionCheck", "Decrypt")


def render(value: Any) -> str:
    """A resource as a readable string: GetAtt X.Arn, Sub templates as written, If(...) with both branches."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            return ".".join(target) if isinstance(target, list) else str(target)
        if "Fn::Sub" in value:
            sub = value["Fn::Sub"]
            if isinstance(sub, list):
                text, names = sub
                for name, replacement in names.items():
                    text = text.replace("${" + name + "}", render(replacement))
                return text
            return sub
        if "Ref" in value:
            return f"Ref({value['Ref']})"
        if "Fn::If" in value:
            name, yes, no = value["Fn::If"]
            return f"If({name}: {render(yes)} | {render(no)})"
    return repr(value)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements(role: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(effect, action, resource) for every action on every resource the role allows or denies."""
    found: list[tuple[str, str, str]] = []
    for arn in role["Properties"].get("ManagedPolicyArns", []):
        name = render(arn).split(":policy/", 1)[-1]
        assert name in MANAGED, f"managed policy {name} is not one whose statements this test knows"
        for actions, resources in MANAGED[name]:
            found += [("Allow", action, resource) for action in actions for resource in resources]
    for policy in role["Properties"].get("Policies", []):
        for statement in _listed(policy["PolicyDocument"]["Statement"]):
            found += [(statement["Effect"], action, render(resource))
                      for action in _listed(statement["Action"]) for resource in _listed(statement["Resource"])]
    return found


def principals(output: dict[str, Any]) -> dict[str, list[tuple[str, str, str]]]:
    """Each function and state machine by logical id, with its role's statements."""
    resources = output["Resources"]
    found = {}
    for name, resource in resources.items():
        role = resource["Properties"].get("Role") or resource["Properties"].get("RoleArn")
        if resource["Type"] in ("AWS::Lambda::Function", "AWS::StepFunctions::StateMachine") and role:
            role_name = role["Fn::GetAtt"][0] if isinstance(role, dict) else role
            found[name] = statements(resources[role_name])
    return found


def report(permissions: dict[str, list[tuple[str, str, str]]]) -> str:
    lines = []
    for name, granted in sorted(permissions.items()):
        lines.append(f"{name}:")
        lines += [f"  {effect:<5} {action:<34} {resource}" for effect, action, resource in granted]
    return "\n".join(lines)


def is_data(action: str) -> bool:
    return action.split(":", 1)[0] in DATA_SERVICES


def is_write(action: str) -> bool:
    return is_data(action) and not action.split(":", 1)[1].startswith(READ_PREFIXES)
