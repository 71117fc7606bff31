"""cfn-lint, with the serverless rules (cfn-lint-serverless) on top of its own, finds nothing in template.yaml, as
written and as translated by the SAM transform (cfn-lint misses bad references inside SAM `Events` and
`Policies`, hence the second lint). Each is linted once: a lint run takes seconds."""

from __future__ import annotations

import json

import pytest

from tests.template_support import TEMPLATE, problems, template, translated

SERVERLESS = ("cfn_lint_serverless.rules",)
UNTRACED = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Untraced:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.13, Handler: app.handler, CodeUri: s3://bucket/key.zip}
"""


@pytest.fixture(scope="module")
def written() -> list[str]:
    return problems(TEMPLATE.read_text(), SERVERLESS)


@pytest.fixture(scope="module")
def translation() -> list[str]:
    return problems(json.dumps(translated({"Authorization": "CognitoAuthorizer", "SnapshotStore": "s3"}),
                               default=str), SERVERLESS)


def test_the_template_has_no_lint_errors_or_warnings_plain_or_serverless(written: list[str]) -> None:
    assert written == []


def test_the_translated_template_has_no_lint_errors_or_warnings(translation: list[str]) -> None:
    assert translation == []


def test_the_serverless_rules_are_really_applied() -> None:
    """The rule set is loaded: an untraced function is reported (WS1000), so the clean runs above mean something."""
    found = problems(UNTRACED, SERVERLESS)
    assert any(line.startswith("WS1000") for line in found), found


def test_every_rule_a_resource_turns_off_is_named_with_its_reason() -> None:
    source = template()
    reasons = source["Metadata"]["LintExceptions"]
    ignored = {rule for resource in source["Resources"].values()
               for rule in resource.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])}
    assert ignored <= set(reasons), f"rules turned off without a reason: {ignored - set(reasons)}"
    assert all(len(reason.split()) >= 8 for reason in reasons.values()), reasons
