"""template.yaml read and translated offline, as the SAM transform would on deploy, for the template tests.

samtranslator needs a region, a policy loader (here one that knows no AWS managed policy, since nothing may
call AWS) and each function's CodeUri as an s3:// location (docs/local-aws.md, "Templates offline").

Parsing, translating and linting take seconds each, and many tests ask the same of the same text: each is done
once per text (and parameters, and rules) in a run, and every caller gets a copy of its own to change.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path
from typing import Any

from cfnlint.api import lint
from cfnlint.decode import decode_str
from samtranslator.translator.transform import transform

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


class NoManagedPolicies:
    """samtranslator's policy loader, offline: no AWS managed policy is looked up."""

    def load(self) -> dict[str, str]:
        return {}


def template() -> dict[str, Any]:
    return json.loads(_decoded(TEMPLATE.read_text()))


@functools.cache
def _decoded(text: str) -> str:
    decoded, problems = decode_str(text)
    assert not problems, problems
    return json.dumps(decoded, default=str)


def translated(parameters: dict[str, Any] | None = None, text: str | None = None) -> dict[str, Any]:
    """The CloudFormation the SAM transform makes of template.yaml (or `text`), with these parameter values."""
    return copy.deepcopy(_translated(TEMPLATE.read_text() if text is None else text,
                                     json.dumps(parameters or {}, sort_keys=True)))


@functools.cache
def _translated(text: str, parameters: str) -> dict[str, Any]:
    source = json.loads(_decoded(text))
    for resource in source["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/key.zip"
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    try:
        return transform(source, json.loads(parameters), NoManagedPolicies())
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved


def resources(output: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: resource for name, resource in output["Resources"].items() if resource["Type"] == kind}


def problems(text: str, rules: tuple[str, ...] = ()) -> list[str]:
    """Every error and warning cfn-lint reports (informational matches aside), with `rules` appended."""
    return [f"{match.rule.id} {match}" for match in matches(text, rules)
            if match.rule.id[1:2] != "I" and match.rule.id[:1] != "I"]


@functools.cache
def matches(text: str, rules: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """Everything cfn-lint reports on `text` in us-east-1, with `rules` appended."""
    from cfnlint.config import ManualArgs

    return tuple(lint(text, config=ManualArgs(regions=["us-east-1"], append_rules=list(rules))))


# -- evaluating the translated template's conditions for given parameter values ------------------------------
def parameter_values(output: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    defaults = {name: spec.get("Default") for name, spec in output.get("Parameters", {}).items()}
    return {**defaults, **given}


def conditions(output: dict[str, Any], values: dict[str, Any]) -> dict[str, bool]:
    return {name: bool(evaluate(spec, values, {})) for name, spec in output.get("Conditions", {}).items()}


NO_VALUE = object()


def evaluate(node: Any, values: dict[str, Any], truth: dict[str, bool]) -> Any:
    """`node` with Fn::If, Fn::Equals, and Refs and Subs of parameters worked out; AWS::NoValue entries dropped."""
    if isinstance(node, list):
        return [item for item in (evaluate(entry, values, truth) for entry in node) if item is not NO_VALUE]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Fn::If"}:
        name, yes, no = node["Fn::If"]
        return evaluate(yes if truth[name] else no, values, truth)
    if set(node) == {"Fn::Equals"}:
        left, right = (evaluate(side, values, truth) for side in node["Fn::Equals"])
        return left == right
    if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str):
        text = node["Fn::Sub"]
        for name, value in values.items():
            if isinstance(value, (str, int)):
                text = text.replace("${" + name + "}", str(value))
        return {"Fn::Sub": text}
    if set(node) == {"Ref"}:
        if node["Ref"] == "AWS::NoValue":
            return NO_VALUE
        return values.get(node["Ref"], node) if node["Ref"] in values else node
    return {key: value for key, value in ((k, evaluate(v, values, truth)) for k, v in node.items())
            if value is not NO_VALUE}


def deployed(given: dict[str, Any] | None = None, text: str | None = None) -> dict[str, Any]:
    """The translated template.yaml (or `text`) as CloudFormation would create it for these parameter values:
    conditional resources left out, Fn::If and parameter Refs worked out (other references kept as written)."""
    output = translated(given, text)
    values = parameter_values(output, dict(given or {}))
    truth = conditions(output, values)
    kept = {name: resource for name, resource in output["Resources"].items()
            if truth.get(resource.get("Condition", ""), True)}
    return {**output, "Resources": evaluate(kept, values, truth)}
