"""Lambda worker for the rebuild state machine (template.yaml: RebuildStateMachine), one step per call.

The same code as the command line: `segment` is `aws-es rebuild PROJECTION --segment K --of N` (one parallel
scan segment folded into the generation being built, then checkpointed) and `finish` is the run without
`--segment` once every segment is checkpointed (count check, switch, catch-up). `begin` records the generation
before the segments fan out, so parallel workers never race to start it. Each step is safe to run again:
a checkpointed segment is skipped, and a rebuild stopped after its switch resumes its catch-up.

The state machine runs begin, segment (each K), switch (every segment's mark checked, the generation switched
live), catch_up (each K: part K of a parallel scan of the previous generation's rows, caught up), close (the
catch-up recorded, old generations deleted); `finish` is switch, catch-up and close in one step, for a small
projection or a caller without the state machine.

Input: {"action": ACTION, "projection": NAME, "segments": N, "segment": K}; `begin` also
takes "concurrency" and "checkpoint_every", and an "input" object (the execution's input) whose fields fill in the
step's. `begin` answers the plan the state machine follows: the generation, the segment numbers to map over, how
many at once, the checkpoint interval. Both limits are bounded by the deployment (`REBUILD_MAX_SEGMENTS`,
`REBUILD_MAX_CONCURRENCY`). A `segment` step stops after a checkpoint once its Lambda has less than
`REBUILD_STOP_MARGIN_SECONDS` left (`context.get_remaining_time_in_millis`), answering `done: false`; the state
machine runs it again and it resumes from that checkpoint.
`lambda_handler` runs on the process's App (`App.from_env()`, built on the first invocation); `handler_for(app)`
is the same worker on an App the caller built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from aws_lambda_powertools import Logger

from core.errors import EventSourcingError
from handlers.app import App, ProcessApp
from handlers.rebuild_generations import HardenedGenerations, drop_old_generations
from handlers.tracing import tracer_for
from projections.dynamodb_store import scan
from projections.items import from_item
from projections.rebuild import CHECKPOINT_EVERY, Rebuild, RebuildReport
from projections.store import ProjectionStore
from projections.tables import tables_for

logger = Logger(service="rebuild-worker")
tracer = tracer_for("rebuild-worker")

ACTIONS = ("begin", "segment", "switch", "catch_up", "close", "finish")


class RebuildStepError(EventSourcingError):
    """A state machine step was asked for something it cannot do, or a segment held aggregates it could not fold."""


@dataclass(frozen=True)
class Limits:
    """What the deployment allows a rebuild: segments, workers at once, and the time a segment worker keeps in
    hand before Lambda's limit to record its checkpoint and return."""

    max_segments: int = 1000
    max_concurrency: int = 40
    stop_margin_ms: int = 60_000
    #: the deployed stack's name, tagged on every generation table a rebuild creates
    stack: str = "aws-es"
    #: generations kept behind the live one; older ones' tables are deleted after a successful finish
    keep_generations: int = 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        values = os.environ if environ is None else environ
        return cls(_whole(values, "REBUILD_MAX_SEGMENTS", cls.max_segments, 1, 10_000),
                   _whole(values, "REBUILD_MAX_CONCURRENCY", cls.max_concurrency, 1, 10_000),
                   _whole(values, "REBUILD_STOP_MARGIN_SECONDS", cls.stop_margin_ms // 1000, 1, 840) * 1000,
                   values.get("REBUILD_STACK_NAME") or cls.stack,
                   _whole(values, "REBUILD_KEEP_GENERATIONS", cls.keep_generations, 0, 100))


def _whole(values: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = values.get(name)
    if text is None or text == "":
        return default
    try:
        number = int(text)
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise RebuildStepError(f"{name} must be a whole number from {low} to {high}, not {text!r}")
    return number


def _number(event: Mapping[str, Any], name: str, low: int, high: int, default: int | None = None) -> int:
    value = event.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RebuildStepError(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return value


@dataclass(frozen=True)
class Step:
    action: str
    projection: str
    segments: int
    segment: int | None
    concurrency: int = 1
    checkpoint_every: int = CHECKPOINT_EVERY
    #: `close`: the rows the `catch_up` parts caught up, summed
    caught_up: int = 0

    @classmethod
    def parse(cls, event: dict[str, Any], limits: Limits | None = None) -> Step:
        limits = limits or Limits()
        given = event.get("input")
        if given is not None:
            if not isinstance(given, dict):
                raise RebuildStepError(f"input must be an object, not {given!r}")
            event = {**given, **{k: v for k, v in event.items() if k != "input"}}
        action, segment = event.get("action"), event.get("segment")
        if action not in ACTIONS:
            raise RebuildStepError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
        segments = _number(event, "segments", 1, limits.max_segments)
        if action in ("segment", "catch_up") and (not isinstance(segment, int) or isinstance(segment, bool)
                                    or not 0 <= segment < segments):
            raise RebuildStepError(f"segment must be a whole number in 0..{segments - 1}, not {segment!r}")
        projection = event.get("projection")
        if not isinstance(projection, str) or not projection:
            raise RebuildStepError(f"projection must be a registered projection's name, not {projection!r}")
        concurrency = _number(event, "concurrency", 1, limits.max_concurrency, min(segments, limits.max_concurrency))
        every = _number(event, "checkpoint_every", 1, 1_000_000, CHECKPOINT_EVERY)
        parts = event.get("caught_up", [])
        if not isinstance(parts, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0
                                                  for n in parts):
            raise RebuildStepError(f"caught_up must be a list of row counts, not {parts!r}")
        return cls(action, projection, segments, segment, concurrency, every, sum(parts))


def rebuild_for(app: App, step: Step, stop: Callable[[], bool] | None = None, limits: Limits | None = None) -> Rebuild:
    """The Rebuild `aws-es rebuild` builds (handlers/cli_projections.py), one segment at a time; its finish trusts
    the segments' marks rather than counting every row of the generation in one Lambda, and its generation's
    tables are created encrypted, tagged and with point-in-time recovery."""
    declared = app.projection(step.projection)
    rows = HardenedGenerations(app.projection_store(declared), declared, app.dynamodb, (limits or Limits()).stack)
    return Rebuild(declared, app.events_of(declared), cast(ProjectionStore, rows), app.control(),
                   segments=step.segments, workers=1, checkpoint_every=step.checkpoint_every, stop=stop,
                   count_rows=False)


def begin(app: App, step: Step, context: Any = None, limits: Limits | None = None) -> dict[str, Any]:
    """Record (or find) the generation being built and create its tables; say if only a catch-up is left, and
    plan the segments: their numbers, how many run at once, the checkpoint interval."""
    generation, catch_up_only = rebuild_for(app, step, limits=limits).begin()
    return {"generation": generation, "catch_up_only": catch_up_only, "segments": step.segments,
            "items": list(range(step.segments)), "concurrency": step.concurrency,
            "checkpoint_every": step.checkpoint_every}


def run_segment(app: App, step: Step, context: Any = None, limits: Limits | None = None) -> dict[str, Any]:
    """Fold and checkpoint one segment; `done` is true once it is marked done. With less than the stop margin
    left of the Lambda's time after a checkpoint, it returns there with `done` false, to be run again."""
    margin = (limits or Limits()).stop_margin_ms
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    stop = (lambda: int(remaining()) < margin) if callable(remaining) else None
    work = rebuild_for(app, step, stop, limits)
    report = work.run(step.segment)
    _refuse_failures(report)
    done = work.control.segment_done(work.projection.name, report.generation, step.segment or 0, step.segments)
    return {"segment": step.segment, "generation": report.generation, "done": done is not None,
            "events": report.events, "aggregates": report.aggregates}


def switch(app: App, step: Step, context: Any = None, limits: Limits | None = None) -> dict[str, Any]:
    """Check every segment's mark and switch the generation live, leaving the catch-up to `catch_up` steps."""
    work = rebuild_for(app, step, limits=limits)
    work.catch_up = False
    report = work.run(None)
    _refuse_failures(report)
    if not report.switched:
        raise RebuildStepError(f"generation {report.generation} was not switched live")
    return {"generation": report.generation, "switched": True}


def catch_up(app: App, step: Step, context: Any = None, limits: Limits | None = None) -> dict[str, Any]:
    """Catch up the live generation's rows from segment K of N of the previous generation's rows table (a
    parallel scan): the rows the live projector advanced there while the rebuild ran."""
    work = rebuild_for(app, step, limits=limits)
    state = work.control.state(work.projection.name, fresh=True)
    if state["previous"] is None:  # caught up and closed already
        return {"segment": step.segment, "caught_up": 0}
    old, new = (tables_for(work.projection, int(state[key])) for key in ("previous", "live"))
    key = work.projection.key
    part = (from_item(key, item) for item in scan(app.dynamodb, old.rows, step.segment or 0, step.segments))
    return {"segment": step.segment, "caught_up": work.catch_up_rows(part, new)}


def close(app: App, step: Step, context: Any = None, limits: Limits | None = None) -> dict[str, Any]:
    """Every part caught up: record it, then delete generations more than `keep_generations` behind; answer
    what the rebuild did (its counts from the segments' marks)."""
    limits = limits or Limits()
    work = rebuild_for(app, step, limits=limits)
    name = work.projection.name
    state = work.control.state(name, fresh=True)
    if state["building"] is not None:
        raise RebuildStepError(f"generation {state['building']} of {name} is still being built, not switched")
    live = int(state["live"])
    if state["previous"] is not None:
        work.control.caught_up(name, live)
    marks = [work.control.segment_done(name, live, k, step.segments) for k in range(step.segments)]
    dropped = drop_old_generations(work.projection, work.control, app.dynamodb, limits.stack,
                                   limits.keep_generations)
    return {"generation": live, "switched": True, "events": sum(m["events"] for m in marks if m),
            "aggregates": sum(m["aggregates"] for m in marks if m), "caught_up": step.caught_up, "dropped": dropped}


def finish(app: App, step: Step, context: Any = None, limits: Limits | None = None) -> dict[str, Any]:
    """Check every segment's mark, switch the generation live and catch up, as the command line does; then delete
    the tables of generations more than `keep_generations` switches behind."""
    limits = limits or Limits()
    work = rebuild_for(app, step, limits=limits)
    report = work.run(None)
    _refuse_failures(report)
    if not report.switched:
        raise RebuildStepError(f"generation {report.generation} was not switched live")
    dropped = drop_old_generations(work.projection, work.control, app.dynamodb, limits.stack,
                                   limits.keep_generations)
    return {"generation": report.generation, "switched": True, "events": report.events,
            "aggregates": report.aggregates, "caught_up": report.caught_up, "dropped": dropped}


def _refuse_failures(report: RebuildReport) -> None:
    failures = getattr(report, "failures", None) or {}
    if failures:
        listed = "; ".join(sorted(failures.values())[:10])
        raise RebuildStepError(f"generation {report.generation}: {len(failures):,} aggregates could not be folded, "
                               f"so it is not switched live: {listed}")


STEPS: dict[str, Callable[[App, Step, Any, Limits], dict[str, Any]]] = {
    "begin": begin, "segment": run_segment, "switch": switch, "catch_up": catch_up, "close": close, "finish": finish}
process_app = ProcessApp()


def handle(app: App, event: dict[str, Any], context: Any = None, limits: Limits | None = None) -> dict[str, Any]:
    """Run the step `event` asks for with `app`, within `limits` (the defaults unless given)."""
    limits = limits or Limits()
    step = Step.parse(event, limits)
    result = STEPS[step.action](app, step, context, limits)
    shown = {k: v for k, v in result.items() if k != "items"}
    logger.info("rebuild step done", extra={"step": step.action, "segment": step.segment, **shown})
    return result


def handler_for(app: App, limits: Limits | None = None) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda worker (powertools' logging and tracing included) on `app`."""

    @tracer.capture_lambda_handler
    @logger.inject_lambda_context(clear_state=True)
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return handle(app, event, context, limits)

    return handler


@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(process_app(), event, context, Limits.from_env())
