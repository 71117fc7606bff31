"""The rebuild state machine run end to end, locally: the template's definition interpreted (tests/asl_support.py)
with every task calling the real worker in-process against moto, over a hundred and twenty loans seeded through the
commands. One segment's worker is killed midway (as Lambda kills a sandbox at its time limit) and another
returns early when its time is nearly up; both resume from their checkpoints, and the rebuilt projection
verifies clean against the write side."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from core.errors import EventSourcingError
from handlers import rebuild_worker
from handlers.app import App
from handlers.projector import runner
from handlers.tables import ensure_tables
from loans import service
from loans.seed import seed
from projections.tables import Control, tables_for
from projections.verify import verify
from tests.api_support import LambdaContext
from tests.asl_support import Execution, StatesError, Unsupported
from tests.unit.test_rebuild_state_machine import WORKER_ARN, state_machine

LOANS = 120
LIMITS = rebuild_worker.Limits(max_segments=16, max_concurrency=3, stop_margin_ms=60_000)


class WorkerKilled(Exception):
    """The sandbox ended mid-segment: Lambda answers Sandbox.Timedout and nothing the worker held survives."""


class Clock(LambdaContext):
    """A context whose remaining time is what the test says for the segment being run."""

    def __init__(self, remaining: int) -> None:
        super().__init__("rebuild-worker", 1769)
        self.remaining = remaining

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining


@pytest.fixture
def app(_isolated_env: None) -> Iterator[App]:
    with App.from_env({**os.environ, "PROJECTION_CONTROL_TTL": "0"}).bound() as built:
        yield built


@pytest.fixture
def seeded(app: App, aws: None) -> int:
    ensure_tables(app)
    return seed(LOANS, workers=2).loans


class Lambda:
    """The Lambda service for the interpreter: the worker run in-process, its errors named as Lambda names them;
    segment 1's first run killed at its third checkpoint, segment 2's first run short of time."""

    def __init__(self, app: App, monkeypatch: pytest.MonkeyPatch) -> None:
        self.worker = rebuild_worker.handler_for(app, LIMITS)
        self.lock = threading.Lock()
        #: in-process moto copies every table inside a transaction without a lock, so two workers writing at once
        #: can break it; the Map still runs its branches in threads, the workers' requests take turns
        self.moto = threading.Lock()
        self.runs: dict[int, list[dict[str, Any]]] = {}
        self.checkpoints: dict[int, int] = {}
        self.killed = False
        self.app = app
        #: loans paid after the segments were folded and before the switch (projected into generation 0)
        self.advanced: list[str] = []
        recorded = Control.record_segment_position

        def record(control: Control, name: str, generation: int, segment: int, of: int, position: Any) -> None:
            with self.lock:
                self.checkpoints[segment] = self.checkpoints.get(segment, 0) + 1
                kill = segment == 1 and not self.killed and self.checkpoints[segment] == 3
                self.killed = self.killed or kill
            if kill:
                raise WorkerKilled("the sandbox was stopped after two checkpoints and a chunk written")
            recorded(control, name, generation, segment, of, position)

        monkeypatch.setattr(Control, "record_segment_position", record)

    def __call__(self, function: str, payload: dict[str, Any]) -> dict[str, Any]:
        assert function == WORKER_ARN
        segment = payload.get("segment") if payload.get("action") == "segment" else None
        with self.lock:
            first = segment is not None and segment not in self.runs
            if segment is not None:
                self.runs.setdefault(segment, [])
        context = Clock(30_000 if first and segment == 2 else 900_000)
        if payload.get("action") == "switch" and not self.advanced:
            self.advance_live_rows()
        try:
            with self.moto:
                result = self.worker(payload, context)
        except WorkerKilled as exc:
            raise StatesError("Sandbox.Timedout", str(exc)) from None
        except rebuild_worker.RebuildStepError as exc:
            raise StatesError("RebuildStepError", str(exc)) from None
        if segment is not None:
            with self.lock:
                self.runs[segment].append(result)
        return result


    def advance_live_rows(self) -> None:
        """While the rebuild runs, three loans are paid and the live projector folds the stream into generation 0
        (still live): the catch-up must carry those payments into the new generation."""
        declared = self.app.projection("loan-summary")
        for key, _ in self.app.projection_store(declared).rows(tables_for(declared, 1)):
            try:
                service.record(key, {"type": "LoanPaid", "amount": Decimal("10.00")})
            except EventSourcingError:
                continue
            self.advanced.append(key)
            if len(self.advanced) == 3:
                break
        runner(self.app).drain()


def test_the_state_machine_rebuilds_resuming_a_killed_worker_and_one_out_of_time(
        app: App, seeded: int, monkeypatch: pytest.MonkeyPatch) -> None:
    definition, _, _ = state_machine()
    service = Lambda(app, monkeypatch)
    execution = Execution(service)
    output = execution.run(definition, {"projection": "loan-summary", "segments": 4, "concurrency": 3,
                                        "checkpoint_every": 20})

    assert (output["switched"], output["generation"], output["aggregates"]) == (True, 1, seeded)
    assert app.control().live("loan-summary") == 1
    assert execution.child_executions == 8, "each segment, then each catch-up part, ran as a child execution"
    assert output["caught_up"] == len(service.advanced) == 3
    assert ("execution", "Segments", "map of 4 items, at most 3 at once") in execution.history

    killed = [what for scope, state, what in execution.history
              if scope.endswith("[1]") and state == "Segment" and what != "entered"]
    assert killed == ["failed Sandbox.Timedout", "retry 1 after Sandbox.Timedout", "succeeded"]
    (resumed,) = service.runs[1]
    assert resumed["done"] is True
    assert 0 < resumed["events"] < marked_events(app, 1), "the retry resumed after the last checkpoint"

    short, finished = service.runs[2]
    assert (short["done"], finished["done"]) == (False, True), "out of time, it returned after one checkpoint"
    assert [(state, what) for scope, state, what in execution.history if scope.endswith("[2]")].count(
        ("Pause", "entered")) == 1
    assert short["events"] + finished["events"] == marked_events(app, 2)

    declared = app.projection("loan-summary")
    report = verify(declared, app.events_of(declared), app.projection_store(declared),
                    app.live_tables(declared)[1])
    assert (report.differences, report.rows, report.aggregates) == ([], seeded, seeded)


def marked_events(app: App, segment: int) -> int:
    """The events of `segment`, as its done mark in the control store counts them."""
    done = app.control().segment_done("loan-summary", 1, segment, 4)
    assert done is not None
    return int(done["events"])


@pytest.mark.parametrize(("execution_input", "named"), [
    ({"projection": "loan-summary", "segments": 4, "concurrency": 9}, "concurrency must be a whole number from 1 "
                                                                      "to 3"),
    ({"projection": "loan-summary", "segments": 17}, "segments must be a whole number from 1 to 16"),
    ({"projection": "loan-summary", "segments": 2, "checkpoint_every": 0}, "checkpoint_every must be"),
])
def test_a_plan_beyond_the_stacks_limits_fails_the_execution_at_begin_naming_the_field(
        app: App, aws: None, monkeypatch: pytest.MonkeyPatch, execution_input: dict[str, Any], named: str) -> None:
    ensure_tables(app)
    definition, _, _ = state_machine()
    execution = Execution(Lambda(app, monkeypatch))
    with pytest.raises(StatesError, match=named) as failed:
        execution.run(definition, execution_input)
    assert failed.value.error == "RebuildStepError"
    assert [state for _, state, _ in execution.history if state != "Begin"] == []
    assert app.control().live("loan-summary") == 0


def test_the_interpreter_refuses_what_it_does_not_run() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Parallel", "Branches": [], "End": True}}}
    with pytest.raises(Unsupported, match="Parallel"):
        Execution(lambda name, payload: None).run(definition, {})
