"""`aws-es project`, `query` and `rebuild`, and the live projector the demo and the local stack run; each takes
the App `handlers.cli.main` built."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import EventSourcingError
from core.personal import reveal_fields
from core.store import EventStore
from handlers import projector
from handlers.app import App
from handlers.views import UsageError, counters_view, print_view, row_view
from projections.consistency import Patience, parse_min_version, read_at_least
from projections.definition import Projection
from projections.errors import ProjectionError
from projections.lag import STUCK_AFTER, projection_health
from projections.query import read_counters, read_event_counters, read_row
from projections.rebuild import Rebuild, RebuildProgress, RebuildReport
from projections.runner import StreamRunner
from projections.store import ProjectionStore
from projections.tables import Tables
from projections.verify import verify

# -- live projector (demo, local, project) ----------------------------------------------------------------------

@contextmanager
def quiet_metrics() -> Iterator[None]:
    """Locally the handler's EMF metrics would flood stdout; set POWERTOOLS_METRICS_DISABLED=false to see them."""
    before = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("POWERTOOLS_METRICS_DISABLED", None)


@contextmanager
def live_projector(app: App) -> Iterator[list[StreamRunner]]:
    """A stream runner per registered events table of `app`, each in a background thread, stopped (after its
    current batch) on exit."""
    with quiet_metrics():
        runners, stop = projector.runners(app), threading.Event()
        threads = [threading.Thread(target=runner.run, args=(stop,), name=f"stream-runner-{index}", daemon=True)
                   for index, runner in enumerate(runners)]
        for thread in threads:
            thread.start()
        try:
            yield runners
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)


def wait_caught_up(app: App, projection: str, ids: list[str], versions: list[int], timeout: float = 60.0) -> bool:
    """True once the row of each id in `projection` reached its version (the projector has caught up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        declared, tables = app.live_tables(projection)
        rows = [read_row(app.dynamodb, declared, tables, key) for key in ids]
        if all(row and row["version"] >= version for row, version in zip(rows, versions, strict=True)):
            return True
        time.sleep(0.2)
    return False


def register_project(commands: Any) -> None:
    command = commands.add_parser(
        "project", help="run the stream projector (plays Lambda's event source mapping)",
        description="Poll the DynamoDB stream of every registered events table and feed Lambda-shaped batches to "
        "the projector "
        "handler, with partial-failure retries, bisection and the on-failure queue, until interrupted. It resumes "
        "from the position the last run recorded per shard in the control table, and prints a one-line summary.",
    )
    command.add_argument("--once", action="store_true", help="deliver what the stream holds now, then stop")
    command.add_argument("--status", action="store_true",
                         help="instead, print each projection's state (idle: nothing to do; behind; stuck: events "
                         "waiting longer than --stuck-after), its last batch's commit-to-visible lag (p50, p99, max) "
                         "and the local runner's heartbeat; exit 1 when any is stuck")
    command.add_argument("--stuck-after", type=_seconds, default=None, metavar="SECONDS",
                         help=f"with --status: seconds an event may wait before its projection is stuck "
                         f"(default: {STUCK_AFTER:g})")
    command.add_argument("--json", action="store_true", help="with --status: print one JSON object")
    command.set_defaults(run=run_project)


def run_status(app: App, args: argparse.Namespace) -> int:
    """`project --status`: the projector's recorded progress, and what each stream holds after the runner's
    recorded position (one GetRecords per shard; nothing is delivered)."""
    now = time.time()
    report: dict[str, Any] = {}
    for table in app.events_tables():
        projections = app.projections_for(table)
        if not projections:
            continue
        pending = projector.runner(app, table).pending()
        for declared in projections:
            report[declared.name] = projection_health(app.control(), declared.name, table, now, pending,
                                                      args.stuck_after or STUCK_AFTER)
    if args.json:
        print(json.dumps(report))
    for name, health in ([] if args.json else report.items()):
        lag = health["lag"]
        figures = "no lag measured yet" if not lag else (
            f"last batch lag p50 {lag['p50']:.2f} s, p99 {lag['p99']:.2f} s, max {lag['max']:.2f} s")
        last = health["last_projected_seconds"]
        runner = health["runner"]
        beat = "no local runner recorded" if not runner else (
            f"local runner {runner['state']}, heartbeat {runner['age_seconds']:.0f} s ago"
            + (f" ({runner['error']})" if runner["error"] else ""))
        print(f"{name}: {health['state']}: {health['reason']}; {figures}; "
              + ("never made a row visible" if last is None else f"last row written {last:,.1f} s ago")
              + f"; {beat}")
    return 1 if any(health["state"] == "stuck" for health in report.values()) else 0


def run_project(app: App, args: argparse.Namespace) -> int:
    if args.status:
        if args.once:
            raise UsageError("--status only reads; it does not go with --once")
        return run_status(app, args)
    if args.json or args.stuck_after is not None:
        raise UsageError(f"{'--json' if args.json else '--stuck-after'} goes with --status")
    runners: list[StreamRunner] = []
    try:
        if args.once:
            with quiet_metrics():
                runners = projector.runners(app)
                for runner in runners:
                    runner.drain()
        else:
            print("projecting; Ctrl-C to stop", file=sys.stderr, flush=True)
            with live_projector(app) as runners:
                threading.Event().wait()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    delivered, invocations = sum(r.delivered for r in runners), sum(r.invocations for r in runners)
    print(f"{delivered:,} records delivered in {invocations:,} invocations; "
          f"{sum(r.given_up for r in runners):,} sent to the on-failure queue")
    return 0


# -- query --------------------------------------------------------------------------------------------------

def register_query(commands: Any) -> None:
    command = commands.add_parser(
        "query", help="print a projection's row or its counters",
        description="Read the live generation of a registered projection: `query PROJECTION KEY` prints the "
        "row keyed KEY, `query COUNTERS` (a projection's counters name, e.g. `portfolio`) prints the counters, "
        "`query EVENT-COUNTERS GROUP` (e.g. `daily 2026-11-26`) one group's event counters, `query PROJECTION "
        "--list NAME` one of the lists the projection's module declares (e.g. `loan-risk --list arrears`). Short "
        "names come from the modules' ALIASES. Amounts print with their cents; the projection's `counts` print as "
        "whole numbers.",
    )
    command.add_argument("projection", metavar="PROJECTION", help="a projection, counters or alias name")
    command.add_argument("id", nargs="?", metavar="KEY", help="the row's key (an aggregate id)")
    command.add_argument("--json", action="store_true", help="print one JSON object (amounts as strings with "
                         "their cents, counts as whole numbers)")
    command.add_argument("--min-version", type=_min_version, default=None, metavar="N",
                         help="read your own writes: print the row only once its version is at least N (the version "
                         "of a command's consistency token), waiting up to --wait seconds; else say the row is "
                         "behind and exit 1")
    command.add_argument("--wait", type=_wait, default=None, metavar="SECONDS",
                         help="with --min-version: the longest wait (default: QUERY_CONSISTENCY_WAIT, 2)")
    command.add_argument("--list", default=None, metavar="NAME",
                         help="print a list the projection's module declares (LISTS), in its own order: for "
                         "loan-risk, `arrears` or `collections`, worst first")
    command.add_argument("--search", default=None, metavar="PREFIX",
                         help="with --list: only the loans whose key starts with PREFIX (an exact key is its own "
                         "prefix)")
    command.set_defaults(run=run_query)


def run_query(app: App, args: argparse.Namespace) -> int:
    declared = app.projection(args.projection)
    if args.list is not None or args.search is not None:
        return print_list(app, declared, args)
    if args.projection == declared.event_counters_name:
        return print_event_counters(app, declared, args)
    counters = args.projection == declared.counters_name
    if counters and args.id is not None:
        raise UsageError(f"{args.projection} takes no KEY: it prints the counters of {declared.name}")
    if not counters and args.id is None:
        raise UsageError(f"query {args.projection} needs a KEY: the row's {declared.key}")
    if (counters or args.projection == declared.event_counters_name) and args.min_version is not None:
        raise UsageError("--min-version goes with a row (query PROJECTION KEY), not with counters")
    if args.wait is not None and args.min_version is None:
        raise UsageError("--wait goes with --min-version")
    declared, tables = app.live_tables(declared)
    if counters:
        report = counters_view(app.registry, args.projection, declared, read_counters(app.dynamodb, tables))
    else:
        wait = app.settings.projections.consistency_wait if args.wait is None else args.wait
        row = read_at_least(lambda: read_row(app.dynamodb, declared, tables, args.id), args.id, args.min_version,
                            Patience(wait))
        if row is None:
            raise EventSourcingError(f"no {args.projection} {args.id!r} in projection {declared.name}")
        if declared.aggregate is not None and declared.aggregate.personal:  # sealed in the row: opened to show
            row = reveal_fields(app.sealer, declared.aggregate.personal, row)
        report = row_view(app.registry, declared, args.id, row)
    if args.json:
        print(json.dumps(report))
    else:
        print_view(counters, report)
    return 0


def print_list(app: App, declared: Projection, args: argparse.Namespace) -> int:
    """`query PROJECTION --list NAME [--search PREFIX]`: the rows of a list the module declares (`LISTS`), one
    line each, or one JSON array with `--json`."""
    if args.list is None:
        raise UsageError("--search goes with --list NAME")
    if args.id is not None or args.min_version is not None:
        raise UsageError("--list takes no KEY and no --min-version: it prints a list of rows")
    readers = app.registry.lists.get(declared.name, {})
    if args.list not in readers:
        choices = ", ".join(sorted(readers)) or "none"
        raise UsageError(f"{declared.name} has no list {args.list!r}: its lists are {choices}")
    rows = list(readers[args.list](app, args.search))
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print("  ".join(f"{value}" for value in row.values()))
    return 0


def print_event_counters(app: App, declared: Projection, args: argparse.Namespace) -> int:
    """`query daily DAY`: the event counters of one group (read by key, never a scan). A group no event added
    to says so: `{"DAY": {}}` with `--json`."""
    if args.min_version is not None:
        raise UsageError("--min-version goes with a row (query PROJECTION KEY), not with counters")
    if args.id is None:
        raise UsageError(f"query {args.projection} needs a KEY: the group to read (for example a day, 2026-11-26)")
    declared, tables = app.live_tables(declared)
    report = counters_view(app.registry, args.projection, declared,
                           read_event_counters(app.dynamodb, tables, [args.id]))
    if args.json:
        print(json.dumps(report or {args.id: {}}))  # an empty group is named, with no counters
    elif not report:
        print(f"{args.projection} {args.id}: nothing counted (no event added to this group)")
    else:
        print_view(True, report)
    return 0


# -- rebuild ------------------------------------------------------------------------------------------------

def register_rebuild(commands: Any) -> None:
    command = commands.add_parser(
        "rebuild", help="rebuild a projection from the events table (blue/green, resumable)",
        description="Fold the whole events table (parallel scan segments) into a fresh generation of the "
        "projection's tables, checkpointing each segment and every 10,000 events inside one, verify the counts, "
        "then switch readers and the live projector to it. Run again to resume an interrupted rebuild. A projection "
        "and its counters are rebuilt together (its counters name rebuilds it too). An aggregate whose events "
        "cannot be folded is listed and the rest finished, but the new generation is not switched live (exit 1).",
    )
    command.add_argument("projection", help="a registered projection, counters or alias name")
    command.add_argument("--segment", type=int, default=None, metavar="K", help="run only scan segment K")
    command.add_argument("--of", type=_positive, default=8, metavar="N", help="scan segments in all (default: 8)")
    command.add_argument("--workers", type=_positive, default=4, help="segments scanned at once (default: 4)")
    command.add_argument("--verify", action="store_true",
                         help="instead, check every live row against the aggregate's own state (its handlers "
                         "folding the log) and the counters against the sum of the rows; exit 1 on any difference")
    aws = command.add_argument_group(
        "on AWS", "--on-aws starts the deployed rebuild state machine instead (README: Rebuilds on AWS): --of "
        "segments, at most --concurrency at once, and follows it, printing the segments done")
    aws.add_argument("--on-aws", action="store_true", help="run the rebuild on the deployed stack's state machine")
    aws.add_argument("--state-machine", metavar="ARN", default=None,
                     help="its ARN (default: $AWS_ES_REBUILD_STATE_MACHINE, else --stack's RebuildStateMachine output)")
    aws.add_argument("--stack", metavar="NAME", default=None, help="the deployed stack that names the state machine")
    aws.add_argument("--concurrency", type=_positive, default=None, metavar="C",
                     help="segment workers at once (default: --of, within the stack's RebuildMaxConcurrency)")
    aws.add_argument("--checkpoint-every", type=_positive, default=None, metavar="E",
                     help="events between two checkpoints in a segment (default: 10,000)")
    aws.add_argument("--poll", type=float, default=10.0, metavar="SECONDS",
                     help="seconds between two progress checks (default: 10)")
    aws.add_argument("--no-follow", action="store_true", help="start the execution and return")
    command.set_defaults(run=run_rebuild)


def run_rebuild(app: App, args: argparse.Namespace) -> int:
    declared = app.projection(args.projection)
    if args.on_aws:
        return _on_aws(app, declared, args)
    events = app.events_of(declared)
    rows = app.projection_store(declared)
    if args.verify:
        return _verify(declared, events, rows, app.live_tables(declared)[1])
    if args.segment is not None and not 0 <= args.segment < args.of:
        raise EventSourcingError(f"--segment {args.segment} must be in 0..{args.of - 1} (--of {args.of})")
    rebuild = Rebuild(declared, events, rows, app.control(), segments=args.of, workers=args.workers,
                      on_progress=_progress_bar)
    report = rebuild.run(args.segment)
    print(file=sys.stderr)
    if report.failures:
        _refuse(report)
    done = "switched live" if report.switched else "segment done; run without --segment to finish"
    print(f"generation {report.generation}: {report.events:,} events, {report.aggregates:,} aggregates; "
          f"segments run {report.segments_run}, skipped (already done) {report.segments_skipped}; {done}"
          + (f"; {report.caught_up} rows caught up" if report.switched else ""))
    parked = app.parking().parked(declared.name) if report.switched else []
    if parked:
        print(f"{len(parked)} aggregates of {declared.name} are still parked: `aws-es redrive {declared.name}` "
              "folds what the new generation lacks and removes them")
    return 0


def _on_aws(app: App, declared: Projection, args: argparse.Namespace) -> int:
    from handlers import rebuild_on_aws

    if args.segment is not None or args.verify:
        raise UsageError("--on-aws runs every segment and the finish: leave out --segment and --verify")
    if not args.poll >= 0:
        raise UsageError(f"--poll must be zero or more seconds, not {args.poll}")
    arn = rebuild_on_aws.state_machine_arn(app, args.state_machine, args.stack, os.environ)
    execution_input: dict[str, Any] = {"projection": declared.name, "segments": args.of}
    if args.concurrency is not None:
        execution_input["concurrency"] = args.concurrency
    if args.checkpoint_every is not None:
        execution_input["checkpoint_every"] = args.checkpoint_every
    output = rebuild_on_aws.start_and_follow(app, arn, execution_input, follow=not args.no_follow,
                                             interval=args.poll)
    if output is not None:
        print(f"generation {output.get('generation')}: {output.get('events', 0):,} events, "
              f"{output.get('aggregates', 0):,} aggregates; switched live; {output.get('caught_up', 0)} rows caught up")
    return 0


def _refuse(report: RebuildReport) -> None:
    """List the aggregates the rebuild could not fold; it is then not switched live, and the command fails."""
    for reason in sorted(report.failures.values()):
        print(reason)
    raise ProjectionError(f"generation {report.generation} was not switched live: {len(report.failures):,} "
                          f"aggregates could not be folded (listed above); fix them and run again to resume")


def _verify(declared: Projection, events: EventStore, rows: ProjectionStore, tables: Tables) -> int:
    report = verify(declared, events, rows, tables)
    for line in report.differences:
        print(line)
    print(f"{tables.rows}: {len(report.differences)} differences from the aggregates' own state")
    return 1 if report.differences else 0


def _progress_bar(progress: RebuildProgress) -> None:
    eta = progress.eta()
    total = f" / ~{progress.total:,}" if progress.total else ""
    print(f"\r{progress.events:,}{total} events, {progress.aggregates:,} aggregates, {progress.rate():,.0f} events/s, "
          f"ETA {'?' if eta is None else f'{eta:,.0f} s'}   ", end="", file=sys.stderr, flush=True)


def _min_version(text: str) -> int:
    try:
        version = parse_min_version(text)
    except ProjectionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    assert version is not None
    return version


def _seconds_up_to(most: int, zero: bool) -> Callable[[str], float]:
    """An argparse type: seconds from 0 (`zero`) or from above 0, up to `most`."""
    least = "0" if zero else "above 0"

    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not (value >= 0 if zero else value > 0) or not value <= most:
            raise argparse.ArgumentTypeError(f"must be seconds from {least} to {most}, not {text!r}")
        return value

    return seconds


_wait = _seconds_up_to(300, zero=True)
_seconds = _seconds_up_to(86400, zero=False)


def _positive(text: str) -> int:
    from handlers.cli import positive_int

    return positive_int(text)


def start_live_projector(app: App) -> Any:
    """Start `app`'s live projector in the background; returns the function that stops it."""
    context = live_projector(app)
    context.__enter__()
    return lambda: context.__exit__(None, None, None)
