"""A small Amazon States Language interpreter, for running the rebuild state machine locally with its real worker.

It runs the states the template uses, as the States Language specification defines them: Task (the
`lambda:invoke` integration, with Retry and Catch), Choice, Map (inline or distributed: ItemsPath, ItemSelector,
MaxConcurrency or MaxConcurrencyPath, ToleratedFailurePercentage/Count), Pass, Wait (not waited), Succeed and Fail;
InputPath, Parameters, ResultSelector, ResultPath and OutputPath with reference paths and `.$` fields. Anything
else (another resource, an intrinsic function, a comparator it does not know) is refused by name, so a definition
that uses more than this interpreter knows fails its test rather than running differently from Step Functions.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\['([^']+)'\]")


class StatesError(Exception):
    """An error as Step Functions names it (`States.TaskFailed`, `Sandbox.Timedout`, a Lambda's errorType)."""

    def __init__(self, error: str, cause: str = "") -> None:
        super().__init__(f"{error}: {cause}")
        self.error, self.cause = error, cause


class Unsupported(Exception):
    """The definition uses something this interpreter does not run."""


def read_path(path: str, data: Any, context: dict[str, Any]) -> Any:
    """A reference path (`$`, `$.a.b`, `$.a[0]`, `$$.Map.Item.Value`) read from `data` or the context object."""
    if path.startswith("$$"):
        value, rest = context, path[2:]
    elif path.startswith("$"):
        value, rest = data, path[1:]
    else:
        raise Unsupported(f"{path!r} is not a reference path")
    if path.startswith("States.") or "(" in rest:
        raise Unsupported(f"intrinsic functions are not run here: {path!r}")
    position = 0
    while position < len(rest):
        step = _STEP.match(rest, position)
        if not step:
            raise Unsupported(f"cannot read path {path!r}")
        name, index, quoted = step.groups()
        key: Any = int(index) if index is not None else (name or quoted)
        try:
            value = value[key]
        except (KeyError, IndexError, TypeError):
            raise StatesError("States.Runtime", f"the path {path!r} finds nothing in {value!r}") from None
        position = step.end()
    return value


def write_path(path: str | None, data: Any, result: Any) -> Any:
    """ResultPath: the input with `result` placed at `path` (null: the input alone; `$`: the result alone)."""
    if path is None:
        return data
    if path == "$":
        return result
    keys = [step.group(1) or step.group(3) for step in _STEP.finditer(path[1:])]
    if not path.startswith("$.") or not all(keys):
        raise Unsupported(f"cannot write to path {path!r}")
    out = copy.deepcopy(data) if isinstance(data, dict) else {}
    target = out
    for key in keys[:-1]:
        target = target.setdefault(key, {})
    target[keys[-1]] = result
    return out


def fill(template: Any, data: Any, context: dict[str, Any]) -> Any:
    """A payload template (Parameters, ItemSelector, ResultSelector): `.$` fields read their path."""
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str):
                    raise Unsupported(f"{key} must name a path")
                out[key[:-2]] = read_path(value, data, context)
            else:
                out[key] = fill(value, data, context)
        return out
    if isinstance(template, list):
        return [fill(item, data, context) for item in template]
    return template


COMPARATORS: dict[str, Callable[[Any, Any], bool]] = {
    "BooleanEquals": lambda a, b: isinstance(a, bool) and a == b,
    "StringEquals": lambda a, b: isinstance(a, str) and a == b,
    "NumericEquals": lambda a, b: _number(a) and a == b,
    "NumericLessThan": lambda a, b: _number(a) and a < b,
    "NumericGreaterThan": lambda a, b: _number(a) and a > b,
    "NumericLessThanEquals": lambda a, b: _number(a) and a <= b,
    "NumericGreaterThanEquals": lambda a, b: _number(a) and a >= b,
}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def matches(rule: dict[str, Any], data: Any, context: dict[str, Any]) -> bool:
    if "And" in rule:
        return all(matches(inner, data, context) for inner in rule["And"])
    if "Or" in rule:
        return any(matches(inner, data, context) for inner in rule["Or"])
    if "Not" in rule:
        return not matches(rule["Not"], data, context)
    compared = [key for key in rule if key not in ("Variable", "Next")]
    if len(compared) != 1:
        raise Unsupported(f"a choice rule needs exactly one comparison: {rule!r}")
    (name,) = compared
    if name == "IsPresent":
        try:
            read_path(rule["Variable"], data, context)
        except StatesError:
            return not rule[name]
        return bool(rule[name])
    if name not in COMPARATORS:
        raise Unsupported(f"choice comparator {name} is not run here")
    return COMPARATORS[name](read_path(rule["Variable"], data, context), rule[name])


def error_matches(names: list[str], error: str) -> bool:
    return error in names or "States.ALL" in names or ("States.TaskFailed" in names and error != "States.Timeout")


@dataclass
class Execution:
    """One run of a definition: `invoke(function_name, payload)` is the Lambda service (it raises StatesError for
    a function error); `history` lists (scope, state, what happened) in order."""

    invoke: Callable[[str, Any], Any]
    history: list[tuple[str, str, str]] = field(default_factory=list)
    child_executions: int = 0
    max_transitions: int = 10_000
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, scope: str, state: str, what: str) -> None:
        with self.lock:
            self.history.append((scope, state, what))
            if len(self.history) > self.max_transitions:
                raise Unsupported(f"more than {self.max_transitions} transitions: the definition loops forever?")

    def run(self, definition: dict[str, Any], data: Any, scope: str = "execution",
            context: dict[str, Any] | None = None) -> Any:
        """The output of `definition` on `data`; raises StatesError when it fails."""
        context = context if context is not None else {"Execution": {"Input": data}}
        name = definition["StartAt"]
        while True:
            state = definition["States"][name]
            self.note(scope, name, "entered")
            kind = state["Type"]
            if kind == "Succeed":
                return self._output(state, self._input(state, data, context), context)
            if kind == "Fail":
                raise StatesError(state.get("Error", "States.Fail"), state.get("Cause", ""))
            if kind == "Choice":
                effective = self._input(state, data, context)
                chosen = next((rule["Next"] for rule in state["Choices"] if matches(rule, effective, context)),
                              state.get("Default"))
                if chosen is None:
                    raise StatesError("States.NoChoiceMatched", f"no choice of {name} matched")
                data, name = self._output(state, effective, context), chosen
                continue
            try:
                data = self._step(state, name, data, scope, context)
            except _Caught as caught:
                data, name = caught.data, caught.next
                continue
            if state.get("End"):
                return data
            name = state["Next"]

    def _input(self, state: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
        path = state.get("InputPath", "$")
        return None if path is None else read_path(path, data, context)

    def _output(self, state: dict[str, Any], data: Any, context: dict[str, Any]) -> Any:
        path = state.get("OutputPath", "$")
        return None if path is None else read_path(path, data, context)

    def _step(self, state: dict[str, Any], name: str, raw: Any, scope: str, context: dict[str, Any]) -> Any:
        kind = state["Type"]
        effective = self._input(state, raw, context)
        if kind == "Wait":
            self.note(scope, name, f"waited {state.get('Seconds', 0)}s")
            return self._output(state, effective, context)
        if "Parameters" in state:
            effective = fill(state["Parameters"], effective, context)
        if kind == "Pass":
            result = state.get("Result", effective)
        elif kind == "Task":
            result = self._task(state, name, effective, scope, raw, context)
        elif kind == "Map":
            result = self._map(state, name, effective, scope, raw, context)
        else:
            raise Unsupported(f"state type {kind} is not run here")
        if "ResultSelector" in state:
            result = fill(state["ResultSelector"], result, context)
        return self._output(state, write_path(state.get("ResultPath", "$"), raw, result), context)

    def _task(self, state: dict[str, Any], name: str, payload: Any, scope: str, raw: Any,
              context: dict[str, Any]) -> Any:
        if state["Resource"] != LAMBDA_INVOKE:
            raise Unsupported(f"task resource {state['Resource']} is not run here")
        attempts = [0] * len(state.get("Retry", []))
        while True:
            try:
                body = payload.get("Payload") if isinstance(payload, dict) else None
                result = {"Payload": self.invoke(payload["FunctionName"], body), "StatusCode": 200}
                self.note(scope, name, "succeeded")
                return result
            except StatesError as failure:
                self.note(scope, name, f"failed {failure.error}")
                self._retry_or_catch(state, name, failure, attempts, scope, raw)

    def _retry_or_catch(self, state: dict[str, Any], name: str, failure: StatesError, attempts: list[int],
                        scope: str, raw: Any) -> None:
        """Returns to retry; raises _Caught for a catcher, or the failure when neither applies."""
        for index, retrier in enumerate(state.get("Retry", [])):
            if error_matches(retrier["ErrorEquals"], failure.error):
                if attempts[index] < retrier.get("MaxAttempts", 3):
                    attempts[index] += 1
                    self.note(scope, name, f"retry {attempts[index]} after {failure.error}")
                    return
                break
        for catcher in state.get("Catch", []):
            if error_matches(catcher["ErrorEquals"], failure.error):
                self.note(scope, name, f"caught {failure.error}")
                raise _Caught(write_path(catcher.get("ResultPath", "$"), raw,
                                         {"Error": failure.error, "Cause": failure.cause}), catcher["Next"])
        raise failure

    def _map(self, state: dict[str, Any], name: str, effective: Any, scope: str, raw: Any,
             context: dict[str, Any]) -> Any:
        if "ItemReader" in state or "ResultWriter" in state or "ItemBatcher" in state:
            raise Unsupported("a Map's ItemReader, ItemBatcher and ResultWriter are not run here")
        items = read_path(state.get("ItemsPath", "$"), effective, context)
        if not isinstance(items, list):
            raise StatesError("States.Runtime", f"{name}'s ItemsPath gives {items!r}, not an array")
        limit = (read_path(state["MaxConcurrencyPath"], effective, context) if "MaxConcurrencyPath" in state
                 else state.get("MaxConcurrency", 0))
        if not _number(limit) or limit < 0:
            raise StatesError("States.Runtime", f"{name}'s MaxConcurrency is {limit!r}")
        processor = state.get("ItemProcessor") or state.get("Iterator")
        distributed = processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
        selector = state.get("ItemSelector", state.get("Parameters"))

        def one(index: int) -> Any:
            item_context = {**context, "Map": {"Item": {"Index": index, "Value": items[index]}}}
            value = fill(selector, effective, item_context) if selector is not None else items[index]
            child = f"{scope}/{name}[{index}]"
            if distributed:
                with self.lock:
                    self.child_executions += 1
                return self.run(processor, value, child, {"Execution": {"Input": value}})
            return self.run(processor, value, child, context)

        workers = int(limit) or len(items) or 1
        self.note(scope, name, f"map of {len(items)} items, at most {workers} at once")
        results: list[Any] = [None] * len(items)
        failures: list[StatesError] = []
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items) or 1))) as pool:
            futures = {pool.submit(one, index): index for index in range(len(items))}
            for future, index in futures.items():
                try:
                    results[index] = future.result()
                except StatesError as failure:
                    failures.append(failure)
        tolerated = state.get("ToleratedFailurePercentage", 0) * len(items) / 100
        tolerated = max(tolerated, state.get("ToleratedFailureCount", 0))
        if failures and (not distributed or len(failures) > tolerated):
            first = failures[0]
            error = "States.ExceedToleratedFailureThreshold" if distributed else first.error
            failure = StatesError(error, f"{len(failures)} of {len(items)} items failed; first: {first}")
            self.note(scope, name, f"failed {error}")
            self._retry_or_catch({**state, "Retry": []}, name, failure, [], scope, raw)
        return results


class _Caught(Exception):
    def __init__(self, data: Any, next_state: str) -> None:
        super().__init__(next_state)
        self.data, self.next = data, next_state
