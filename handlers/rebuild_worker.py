"""Lambda worker for the rebuild state machine (template.yaml: RebuildStateMachine), one step per call.

The same code as the command line: `segment` is `aws-es rebuild PROJECTION --segment K --of N` (one parallel
scan segment folded into the generation being built, then checkpointed) and `finish` is the run without
`--segment` once every segment is checkpointed (count check, switch, catch-up). `begin` records the generation
before the segments fan out, so parallel workers never race to start it. Each step is safe to run again:
a checkpointed segment is skipped, and a rebuild stopped after its switch resumes its catch-up.

Input: {"action": "begin" | "segment" | "finish", "projection": NAME, "segments": N, "segment": K}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger, Tracer

from core.dynamodb import DynamoDBEventStore
from core.errors import EventSourcingError
from handlers.root import root
from projections.dynamodb_store import DynamoDBProjectionStore
from projections.rebuild import Rebuild, RebuildReport

logger = Logger(service="rebuild-worker")
tracer = Tracer(service="rebuild-worker")

ACTIONS = ("begin", "segment", "finish")


class RebuildStepError(EventSourcingError):
    """A state machine step was asked for something it cannot do, or a segment held aggregates it could not fold."""


@dataclass(frozen=True)
class Step:
    action: str
    projection: str
    segments: int
    segment: int | None

    @classmethod
    def parse(cls, event: dict[str, Any]) -> Step:
        action, segments, segment = event.get("action"), event.get("segments"), event.get("segment")
        if action not in ACTIONS:
            raise RebuildStepError(f"action must be one of {', '.join(ACTIONS)}, not {action!r}")
        if not isinstance(segments, int) or isinstance(segments, bool) or not 1 <= segments <= 1000:
            raise RebuildStepError(f"segments must be a whole number from 1 to 1000, not {segments!r}")
        if action == "segment" and (not isinstance(segment, int) or isinstance(segment, bool)
                                    or not 0 <= segment < segments):
            raise RebuildStepError(f"segment must be a whole number in 0..{segments - 1}, not {segment!r}")
        projection = event.get("projection")
        if not isinstance(projection, str) or not projection:
            raise RebuildStepError(f"projection must be a registered projection's name, not {projection!r}")
        return cls(action, projection, segments, segment)


def rebuild_for(step: Step) -> Rebuild:
    """The Rebuild `aws-es rebuild` builds (handlers/cli_projections.py), one segment at a time."""
    current = root()
    declared = current.projection(step.projection)
    return Rebuild(declared, DynamoDBEventStore(current.events_table_of(declared), current.dynamodb),
                   DynamoDBProjectionStore(declared, current.dynamodb, current.settings.projections.shards),
                   current.control(), segments=step.segments, workers=1)


def begin(step: Step) -> dict[str, Any]:
    """Record (or find) the generation being built and create its tables; say if only a catch-up is left."""
    generation, catch_up_only = rebuild_for(step).begin()
    return {"generation": generation, "catch_up_only": catch_up_only}


def run_segment(step: Step) -> dict[str, Any]:
    """Fold and checkpoint one segment; `done` is true once its checkpoint is recorded."""
    work = rebuild_for(step)
    report = work.run(step.segment)
    _refuse_failures(report)
    done = work.control.segment_done(work.projection.name, report.generation, step.segment or 0, step.segments)
    return {"segment": step.segment, "generation": report.generation, "done": done is not None,
            "events": report.events, "aggregates": report.aggregates}


def finish(step: Step) -> dict[str, Any]:
    """Verify the counts, switch the generation live and catch up, as the command line does."""
    report = rebuild_for(step).run(None)
    _refuse_failures(report)
    if not report.switched:
        raise RebuildStepError(f"generation {report.generation} was not switched live")
    return {"generation": report.generation, "switched": True, "events": report.events,
            "aggregates": report.aggregates, "caught_up": report.caught_up}


def _refuse_failures(report: RebuildReport) -> None:
    failures = getattr(report, "failures", None) or {}
    if failures:
        listed = "; ".join(sorted(failures.values())[:10])
        raise RebuildStepError(f"generation {report.generation}: {len(failures):,} aggregates could not be folded, "
                               f"so it is not switched live: {listed}")


STEPS = {"begin": begin, "segment": run_segment, "finish": finish}


@tracer.capture_lambda_handler
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    step = Step.parse(event)
    result = STEPS[step.action](step)
    logger.info("rebuild step done", extra={"step": step.action, "segment": step.segment, **result})
    return result
