"""The rebuild state machine's definition, validated offline: statelint (the Amazon States Language rules),
every transition names a state and every state is reached, every task calls the template's worker function
with a step it knows, and the state machine may invoke that function and no other."""

from __future__ import annotations

import json
from typing import Any

from statelint.config import Config
from statelint.linter import Linter

from handlers.rebuild_worker import ACTIONS
from tests.iam_support import principals
from tests.template_support import deployed, resources

WORKER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:rebuild-worker"


def state_machine() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(definition with ${Worker} filled in, DefinitionSubstitutions, the deployed template)."""
    output = deployed()
    (machine,) = resources(output, "AWS::StepFunctions::StateMachine").values()
    text = machine["Properties"]["DefinitionString"]
    if isinstance(text, dict):
        separator, parts = text["Fn::Join"]
        text = separator.join(parts)
    return json.loads(text.replace("${Worker}", WORKER_ARN)), machine["Properties"]["DefinitionSubstitutions"], output


def scopes(definition: dict[str, Any]) -> list[dict[str, Any]]:
    """The top-level machine and every Map's item processor (each has its own StartAt and States)."""
    found = [definition]
    for state in definition["States"].values():
        inner = state.get("ItemProcessor") or state.get("Iterator")
        if inner:
            found += scopes(inner)
        for branch in state.get("Branches", []):
            found += scopes(branch)
    return found


def transition_problems(definition: dict[str, Any]) -> list[str]:
    problems = []
    for scope in scopes(definition):
        states = scope["States"]
        edges = {name: [state.get("Next"), state.get("Default"), *[c.get("Next") for c in state.get("Choices", [])]]
                 for name, state in states.items()}
        problems += [f"{name} goes to {target!r}, which is not a state here" for name, targets in edges.items()
                     for target in targets if target is not None and target not in states]
        reached, todo = set(), [scope["StartAt"]]
        while todo:
            name = todo.pop()
            if name in reached or name not in states:
                continue
            reached.add(name)
            todo += [target for target in edges[name] if target]
        problems += [f"{name} is never reached" for name in states if name not in reached]
        ends = [name for name, state in states.items()
                if state.get("End") or state["Type"] in ("Succeed", "Fail")]
        problems += [] if ends else [f"scope starting at {scope['StartAt']} never ends"]
    return problems


def tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: state for scope in scopes(definition) for name, state in scope["States"].items()
            if state["Type"] == "Task"}


def test_statelint_finds_nothing_wrong() -> None:
    definition, _, _ = state_machine()
    assert Linter.validate(json.dumps(definition), Config()) == []


def test_every_transition_names_a_state_and_every_state_is_reached() -> None:
    definition, _, _ = state_machine()
    assert transition_problems(definition) == []


def test_a_broken_definition_is_caught() -> None:
    definition, _, _ = state_machine()
    definition["States"]["Begin"]["Next"] = "Nowhere"
    assert set(transition_problems(definition)) == {"Begin goes to 'Nowhere', which is not a state here",
                                                    *(f"{name} is never reached" for name in
                                                      ("OnlyCatchUpLeft", "Segments", "Switch", "CatchUp",
                                                       "Close"))}
    assert Linter.validate(json.dumps(definition), Config()) != []


def test_every_task_runs_a_step_of_the_templates_worker_function() -> None:
    definition, substitutions, output = state_machine()
    assert substitutions == {"Worker": {"Fn::GetAtt": ["RebuildWorkerFunction", "Arn"]}}
    function = output["Resources"]["RebuildWorkerFunction"]
    assert function["Type"] == "AWS::Lambda::Function"
    assert function["Properties"]["Handler"] == "handlers.rebuild_worker.lambda_handler"
    found = tasks(definition)
    assert set(found) == {"Begin", "Segment", "Switch", "CatchUpPart", "Close"}
    assert all(state["Resource"] == "arn:aws:states:::lambda:invoke" and state["Parameters"]["FunctionName"]
               == WORKER_ARN for state in found.values())
    segments, parts = definition["States"]["Segments"], definition["States"]["CatchUp"]
    steps = [found["Begin"]["Parameters"]["Payload"]["action"], segments["ItemSelector"]["action"],
             found["Switch"]["Parameters"]["Payload"]["action"], parts["ItemSelector"]["action"],
             found["Close"]["Parameters"]["Payload"]["action"]]
    assert [*steps, "finish"] == list(ACTIONS) == ["begin", "segment", "switch", "catch_up", "close", "finish"]
    assert found["Segment"]["Parameters"]["Payload.$"] == "$" == found["CatchUpPart"]["Parameters"]["Payload.$"]
    assert segments["ItemSelector"]["segment.$"] == "$$.Map.Item.Value" == parts["ItemSelector"]["segment.$"]


def test_both_maps_are_distributed_bounded_by_the_plan_and_tolerate_no_failure() -> None:
    definition, _, _ = state_machine()
    for name in ("Segments", "CatchUp"):
        state = definition["States"][name]
        assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
        assert (state["ItemsPath"], state["MaxConcurrencyPath"]) == ("$.plan.items", "$.plan.concurrency")
        assert state["ToleratedFailurePercentage"] == 0


def test_each_segment_loops_until_checkpointed_and_retries_lambda_timeouts() -> None:
    definition, _, _ = state_machine()
    segments = definition["States"]["Segments"]
    inner = segments["ItemProcessor"]["States"]
    assert inner["Segment"]["Next"] == "Checkpointed"
    check = inner["Checkpointed"]
    assert check["Choices"] == [{"Variable": "$.result.done", "BooleanEquals": True, "Next": "SegmentDone"}]
    assert inner[check["Default"]]["Next"] == "Segment"
    retried = {error for rule in inner["Segment"]["Retry"] for error in rule["ErrorEquals"]}
    assert {"Sandbox.Timedout", "Lambda.TooManyRequestsException"} <= retried
    assert "States.ALL" not in retried, "a refused step (bad input, unfoldable loans) must fail, not loop"
    assert segments["Next"] == "Switch" and definition["States"]["Close"]["End"] is True


def test_the_state_machine_may_invoke_its_worker_and_nothing_else_of_the_data() -> None:
    _, _, output = state_machine()
    granted = principals(output)["RebuildStateMachine"]
    invoked = [resource for _, action, resource in granted if action.startswith("lambda:")]
    arn = "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:Ref(RebuildWorkerFunction)*"
    assert invoked == [arn]
    assert [action for _, action, _ in granted if action.split(":")[0] in ("dynamodb", "s3", "sqs")] == []
