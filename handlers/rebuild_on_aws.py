"""`aws-es rebuild --on-aws PROJECTION`: start the deployed rebuild state machine (template.yaml:
RebuildStateMachine) and follow it to its end, printing the segments done.

The state machine is named by `--state-machine ARN`, else `AWS_ES_REBUILD_STATE_MACHINE`, else the `RebuildStateMachine`
output of the stack `--stack NAME` (CloudFormation). Progress comes from DescribeExecution and the Distributed Map's
run (ListMapRuns, DescribeMapRun: segments succeeded, running, failed); a failed execution's error and cause from
GetExecutionHistory.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from core.config import CLIENT_CONFIG
from core.errors import EventSourcingError
from handlers.app import App

VARIABLE = "AWS_ES_REBUILD_STATE_MACHINE"
OUTPUT = "RebuildStateMachine"
ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$")
#: How an execution ends, and what its history event holding the error is called.
ENDED = {"FAILED": "executionFailedEventDetails", "TIMED_OUT": "executionTimedOutEventDetails",
         "ABORTED": "executionAbortedEventDetails"}


#: Waits between two progress checks.
PAUSE: Callable[[float], None] = time.sleep


class RebuildOnAwsError(EventSourcingError):
    """The rebuild state machine could not be found or started, or its execution did not succeed."""


def client(app: App, service: str) -> Any:
    """A client as the App makes its own: its region, endpoint, credentials and retry settings."""
    settings = app.settings
    options: dict[str, Any] = {"endpoint_url": settings.endpoint} if settings.endpoint else {}
    if settings.credentials is not None:
        options["aws_access_key_id"], options["aws_secret_access_key"] = settings.credentials
    try:
        session: Any = boto3.session.Session(region_name=settings.region)
        return session.client(service, config=CLIENT_CONFIG, **options)
    except NoRegionError:
        raise RebuildOnAwsError(f"no AWS region for the {service} client: set AWS_DEFAULT_REGION (or AWS_REGION)"
                                ) from None


def _call(what: str, call: Callable[..., Any], **kwargs: Any) -> Any:
    """`call(**kwargs)`; missing credentials and AWS's refusals as one clear error naming `what`."""
    try:
        return call(**kwargs)
    except NoCredentialsError:
        raise RebuildOnAwsError(f"{what}: no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY)") from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        if code in ("StateMachineDoesNotExist", "ResourceNotFound"):
            raise RebuildOnAwsError(f"{what}: no such state machine ({message}); deploy the stack, or name it "
                                    f"with --state-machine or {VARIABLE}") from None
        raise RebuildOnAwsError(f"{what}: {code}: {message}") from None
    except BotoCoreError as exc:
        raise RebuildOnAwsError(f"{what}: {exc}") from None


def state_machine_arn(app: App, given: str | None, stack: str | None, environ: Mapping[str, str]) -> str:
    """The state machine's ARN: `given`, else the variable, else the stack's output."""
    arn = given or environ.get(VARIABLE) or None
    if arn is not None:
        if not ARN.match(arn):
            source = "--state-machine" if given else VARIABLE
            raise RebuildOnAwsError(f"{source} must be a state machine ARN (arn:aws:states:REGION:ACCOUNT:"
                                    f"stateMachine:NAME), not {arn!r}")
        return arn
    if not stack:
        raise RebuildOnAwsError(f"which state machine? Give --state-machine ARN, set {VARIABLE}, or give --stack "
                                f"NAME (the deployed stack whose {OUTPUT} output names it)")
    try:
        found = _call(f"stack {stack}", client(app, "cloudformation").describe_stacks, StackName=stack)
    except RebuildOnAwsError as exc:
        if "does not exist" in str(exc):
            raise RebuildOnAwsError(f"no stack named {stack!r} in {app.settings.region}") from None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found["Stacks"][0].get("Outputs", [])}
    if OUTPUT not in outputs:
        raise RebuildOnAwsError(f"stack {stack!r} has no {OUTPUT} output: deploy a template with the rebuild "
                                "state machine (aws-es template)")
    return str(outputs[OUTPUT])


@dataclass(frozen=True)
class Progress:
    status: str
    done: int | None = None
    total: int | None = None
    running: int | None = None
    failed: int | None = None

    def line(self) -> str:
        if self.total is None:
            return f"{self.status}: planning (Begin)" if self.status == "RUNNING" else self.status
        return (f"{self.status}: segments done {self.done}/{self.total}, running {self.running}, "
                f"failed {self.failed}")


def progress(states: Any, execution: str) -> Progress:
    described = _call("DescribeExecution", states.describe_execution, executionArn=execution)
    runs = _call("ListMapRuns", states.list_map_runs, executionArn=execution).get("mapRuns", [])
    if not runs:
        return Progress(described["status"])
    counts = _call("DescribeMapRun", states.describe_map_run, mapRunArn=runs[0]["mapRunArn"]).get("itemCounts", {})
    return Progress(described["status"], counts.get("succeeded", 0), counts.get("total", 0),
                    counts.get("running", 0), counts.get("failed", 0))


def why_it_ended(states: Any, execution: str, status: str) -> str:
    """The error and cause of an execution that failed, timed out or was stopped (its history's last events)."""
    history = _call("GetExecutionHistory", states.get_execution_history, executionArn=execution,
                    reverseOrder=True, maxResults=25)
    for event in history.get("events", []):
        details = event.get(ENDED[status]) or event.get("taskFailedEventDetails") \
            or event.get("lambdaFunctionFailedEventDetails")
        if details is not None:
            return f"{details.get('error', status)}: {details.get('cause', '')}".rstrip(": ")
    return status


def start_and_follow(app: App, arn: str, execution_input: dict[str, Any], *, follow: bool = True,
                     interval: float = 10.0, out: Callable[[str], None] = print,
                     pause: Callable[[float], None] | None = None) -> dict[str, Any] | None:
    """Start an execution of `arn` on `execution_input`; with `follow`, print its progress every `interval`
    seconds (each change once) until it ends, and answer the Finish step's output, or raise naming why not."""
    states = client(app, "stepfunctions")
    started = _call(f"StartExecution of {arn}", states.start_execution, stateMachineArn=arn,
                    input=json.dumps(execution_input))
    execution = started["executionArn"]
    out(f"started {execution}")
    if not follow:
        return None
    shown = ""
    while True:
        now = progress(states, execution)
        if now.line() != shown:
            shown = now.line()
            out(shown)
        if now.status == "SUCCEEDED":
            described = _call("DescribeExecution", states.describe_execution, executionArn=execution)
            return dict(json.loads(described.get("output") or "{}"))
        if now.status in ENDED:
            raise RebuildOnAwsError(f"execution {execution} {now.status.lower().replace('_', ' ')}: "
                                    f"{why_it_ended(states, execution, now.status)}")
        (pause or PAUSE)(interval)
