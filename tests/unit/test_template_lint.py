"""cfn-lint, plain and with the serverless rules (cfn-lint-serverless), finds nothing in template.yaml, as
written and as translated by the SAM transform, with either runtime the template may name."""

from __future__ import annotations

import json
import re

import pytest

from tests.template_support import TEMPLATE, problems, template, translated

SERVERLESS = ("cfn_lint_serverless.rules",)


def with_runtime(runtime: str) -> str:
    text = TEMPLATE.read_text()
    return re.sub(r"^(\s+Runtime: )python3\.\d+$", rf"\g<1>{runtime}", text, flags=re.MULTILINE)


@pytest.mark.parametrize("runtime", ["python3.11", "python3.13"])
def test_the_template_has_no_lint_errors_or_warnings_plain_or_serverless(runtime: str) -> None:
    text = with_runtime(runtime)
    assert problems(text) == []
    assert problems(text, SERVERLESS) == []


@pytest.mark.parametrize("parameters", [{}, {"Authorization": "CognitoAuthorizer", "SnapshotStore": "s3"}])
def test_the_translated_template_has_no_lint_errors_or_warnings(parameters: dict[str, str]) -> None:
    text = json.dumps(translated(parameters), default=str)
    assert problems(text) == []
    assert problems(text, SERVERLESS) == []


def test_the_serverless_rules_are_really_applied() -> None:
    """The rule set is loaded: untraced functions are reported (WS1000), so the clean runs above mean something."""
    untraced = TEMPLATE.read_text().replace("Tracing: Active", "Tracing: PassThrough")
    found = problems(untraced, SERVERLESS)
    assert any(line.startswith("WS1000") for line in found), found


def test_every_rule_a_resource_turns_off_is_named_with_its_reason() -> None:
    source = template()
    reasons = source["Metadata"]["LintExceptions"]
    ignored = {rule for resource in source["Resources"].values()
               for rule in resource.get("Metadata", {}).get("cfn-lint", {}).get("config", {}).get("ignore_checks", [])}
    assert ignored <= set(reasons), f"rules turned off without a reason: {ignored - set(reasons)}"
    assert all(len(reason.split()) >= 8 for reason in reasons.values()), reasons
