"""`aws-es rebuild --on-aws`: finding the state machine, starting it with the plan, following it to its end, and
each way that fails, against moto's Step Functions and CloudFormation (moto records executions but does not run
them: the state machine's own run is tests/unit/test_rebuild_state_machine_run.py)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from handlers import rebuild_on_aws
from handlers.app import App
from handlers.cli import main
from tests.unit.test_rebuild_state_machine import state_machine

ROLE = "arn:aws:iam::123456789012:role/rebuild"


@pytest.fixture
def machine(app: App, aws: None) -> str:
    definition, _, _ = state_machine()
    states = boto3.client("stepfunctions", region_name=app.settings.region)
    return str(states.create_state_machine(name="loans-rebuild", definition=json.dumps(definition),
                                           roleArn=ROLE)["stateMachineArn"])


def executions(arn: str, region: str | None) -> list[dict[str, Any]]:
    states = boto3.client("stepfunctions", region_name=region)
    found = states.list_executions(stateMachineArn=arn)["executions"]
    return [states.describe_execution(executionArn=e["executionArn"]) for e in found]


def test_it_starts_the_plan_and_follows_until_the_execution_ends(
        app: App, machine: str, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    polls: list[float] = []

    def pause(seconds: float) -> None:  # the operator stops it from the console meanwhile
        polls.append(seconds)
        if len(polls) == 2:
            (running,) = executions(machine, app.settings.region)
            boto3.client("stepfunctions", region_name=app.settings.region).stop_execution(
                executionArn=running["executionArn"], error="Operator", cause="stopped from the console")

    monkeypatch.setattr(rebuild_on_aws, "PAUSE", pause)
    code = main(["rebuild", "loan-summary", "--on-aws", "--state-machine", machine, "--of", "64",
                 "--concurrency", "16", "--checkpoint-every", "5000", "--poll", "3"])
    out, err = capsys.readouterr()
    (execution,) = executions(machine, app.settings.region)
    assert json.loads(execution["input"]) == {"projection": "loan-summary", "segments": 64, "concurrency": 16,
                                              "checkpoint_every": 5000}
    assert code == 1 and polls == [3.0, 3.0]
    assert out.splitlines() == [f"started {execution['executionArn']}", "RUNNING: planning (Begin)",
                                 "ABORTED"]
    assert err.startswith(f"aws-es rebuild: execution {execution['executionArn']} aborted")


def test_a_failed_execution_is_reported_with_its_error_and_cause(
        app: App, machine: str, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setenv("SF_EXECUTION_HISTORY_TYPE", "FAILURE")
    monkeypatch.setenv(rebuild_on_aws.VARIABLE, machine)
    assert main(["rebuild", "loan-summary", "--on-aws", "--poll", "0"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[1:] == ["FAILED"]
    assert err.rstrip().endswith("failed: AnError: An error occurred!")


def test_no_follow_only_starts_it(app: App, machine: str, capsys: Any) -> None:
    assert main(["rebuild", "loan-summary", "--on-aws", "--state-machine", machine, "--no-follow"]) == 0
    (execution,) = executions(machine, app.settings.region)
    assert capsys.readouterr().out == f"started {execution['executionArn']}\n"
    assert json.loads(execution["input"]) == {"projection": "loan-summary", "segments": 8}


@pytest.mark.parametrize(("argv", "message"), [
    (["--state-machine", "arn:aws:states:us-east-1:123456789012:stateMachine:nothing-here"],
     "no such state machine"),
    (["--state-machine", "loans-rebuild"], "--state-machine must be a state machine ARN"),
    (["--stack", "nowhere"], "no stack named 'nowhere'"),
    ([], "which state machine? Give --state-machine ARN, set AWS_ES_REBUILD_STATE_MACHINE, or give --stack NAME"),
])
def test_a_state_machine_that_cannot_be_found_is_named(
        app: App, aws: None, capsys: Any, argv: list[str], message: str) -> None:
    assert main(["rebuild", "loan-summary", "--on-aws", *argv]) == 1
    assert message in capsys.readouterr().err


def test_a_stack_without_the_output_is_named(app: App, aws: None, capsys: Any) -> None:
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    boto3.client("cloudformation", region_name=app.settings.region).create_stack(
        StackName="old", TemplateBody=json.dumps(template))
    assert main(["rebuild", "loan-summary", "--on-aws", "--stack", "old"]) == 1
    assert "stack 'old' has no RebuildStateMachine output" in capsys.readouterr().err


def test_without_credentials_it_says_so_before_any_request(
        app: App, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: Any) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:loans-rebuild"
    assert main(["rebuild", "loan-summary", "--on-aws", "--state-machine", arn]) == 1
    assert "no AWS credentials found" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [["--segment", "1"], ["--verify"]])
def test_on_aws_refuses_a_single_segment_or_verify(capsys: Any, extra: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["rebuild", "loan-summary", "--on-aws", *extra])
    assert exited.value.code == 2
    assert "--on-aws runs every segment and the finish" in capsys.readouterr().err


def test_a_negative_poll_interval_is_refused(capsys: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["rebuild", "loan-summary", "--on-aws", "--poll", "-1"])
    assert exited.value.code == 2
    assert "--poll must be zero or more seconds, not -1.0" in capsys.readouterr().err
