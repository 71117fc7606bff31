"""`aws-es project`, `query` and `rebuild`, and the live projector the demo and the local stack run."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from core import config
from core.errors import EventSourcingError
from handlers import projection_setup
from loans import Loan
from loans.projections import NAMES, resolve
from loans.views import loan_view, portfolio_view
from projections.errors import ProjectionError
from projections.query import read_counters, read_row
from projections.rebuild import Progress, Rebuild, RebuildReport
from projections.runner import StreamRunner
from projections.tables import tables_for
from projections.verify import verify

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from projections.definition import Projection
    from projections.projector import Projector
    from projections.tables import Tables

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
def live_projector() -> Iterator[StreamRunner]:
    """The stream runner in a background thread, stopped (after its current batch) on exit."""
    with quiet_metrics():
        runner, stop = projection_setup.runner(), threading.Event()
        thread = threading.Thread(target=runner.run, args=(stop,), name="stream-runner", daemon=True)
        thread.start()
        try:
            yield runner
        finally:
            stop.set()
            thread.join(timeout=30)


def wait_caught_up(loan_ids: list[str], versions: list[int], timeout: float = 60.0) -> bool:
    """True once every loan's summary row reached its version (the projector has caught up)."""
    declared, client = projection_setup.projection(), config.dynamodb_client()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tables = tables_for(declared, projection_setup.control().live(declared.name))
        rows = [read_row(client, declared, tables, loan_id) for loan_id in loan_ids]
        if all(row and row["version"] >= version for row, version in zip(rows, versions, strict=True)):
            return True
        time.sleep(0.2)
    return False


def register_project(commands: Any) -> None:
    command = commands.add_parser(
        "project", help="run the stream projector (plays Lambda's event source mapping)",
        description="Poll the events table's DynamoDB stream and feed Lambda-shaped batches to the projector "
        "handler, with partial-failure retries, bisection and the on-failure queue, until interrupted. It resumes "
        "from the position the last run recorded per shard in the control table, and prints a one-line summary.",
    )
    command.add_argument("--once", action="store_true", help="deliver what the stream holds now, then stop")
    command.set_defaults(run=run_project)


def run_project(args: argparse.Namespace) -> int:
    with quiet_metrics():
        runner = projection_setup.runner()
        try:
            if args.once:
                runner.drain()
            else:
                print("projecting; Ctrl-C to stop", file=sys.stderr, flush=True)
                runner.run(threading.Event())
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    print(f"{runner.delivered:,} records delivered in {runner.invocations:,} invocations; "
          f"{runner.given_up:,} sent to the on-failure queue")
    return 0


# -- query --------------------------------------------------------------------------------------------------

def register_query(commands: Any) -> None:
    command = commands.add_parser(
        "query", help="print a loan's summary row or the portfolio",
        description="Read the live generation of the loan projections: `query loan ID` or `query portfolio`.",
    )
    what = command.add_subparsers(dest="what", required=True, metavar="WHAT")
    loan = what.add_parser("loan", help="one loan's summary row")
    loan.add_argument("id", help="the loan's id")
    portfolio = what.add_parser("portfolio", help="loans, principal and outstanding balance per status")
    for sub in (loan, portfolio):
        sub.add_argument("--json", action="store_true", help="print one JSON object (amounts as strings)")
    command.set_defaults(run=run_query)


def run_query(args: argparse.Namespace) -> int:
    (declared, tables), client = projection_setup.live_tables(), config.dynamodb_client()
    if args.what == "loan":
        row = read_row(client, declared, tables, args.id)
        if row is None:
            raise EventSourcingError(f"no loan {args.id!r} in projection {declared.name}")
        report = loan_view(args.id, row)
    else:
        report = portfolio_view(read_counters(client, tables))
    if args.json:
        print(json.dumps(report))
    else:
        print_view(args.what, report)
    return 0


def print_view(what: str, report: dict[str, Any]) -> None:
    if what == "loan":
        for name, value in report.items():
            print(f"  {name:<17} {value}")
        return
    print(f"{'status':<12} {'loans':>6} {'principal':>14} {'outstanding':>14}")
    for status, values in report.items():
        print(f"{status:<12} {values['loans']:>6} {values['principal']:>14} {values['outstanding']:>14}")


# -- rebuild ------------------------------------------------------------------------------------------------

def register_rebuild(commands: Any) -> None:
    command = commands.add_parser(
        "rebuild", help="rebuild a projection from the events table (blue/green, resumable)",
        description="Fold the whole events table (parallel scan segments) into a fresh generation of the "
        "projection's tables, checkpointing each segment, verify the counts, then switch readers and the live "
        "projector to it. Run again to resume an interrupted rebuild. `portfolio` and `loan-summary` are "
        "rebuilt together (the portfolio is the summaries' counters). A loan whose events cannot be folded is "
        "listed and the rest finished, but the new generation is not switched live (exit 1).",
    )
    command.add_argument("projection", help=f"one of: {', '.join(NAMES)}")
    command.add_argument("--segment", type=int, default=None, metavar="K", help="run only scan segment K")
    command.add_argument("--of", type=_positive, default=8, metavar="N", help="scan segments in all (default: 8)")
    command.add_argument("--workers", type=_positive, default=4, help="segments scanned at once (default: 4)")
    command.add_argument("--verify", action="store_true",
                         help="instead, check every live row against the loan's own state (its handlers folding the "
                         "log) and the portfolio against the sum of the rows; exit 1 on any difference")
    command.set_defaults(run=run_rebuild)


def run_rebuild(args: argparse.Namespace) -> int:
    from handlers.tables import ensure_definitions

    declared = resolve(args.projection, projection_setup.projection())
    client, gate = config.dynamodb_client(), projection_setup.control()
    if args.verify:
        return _verify(declared, client, tables_for(declared, gate.live(declared.name)))
    if args.segment is not None and not 0 <= args.segment < args.of:
        raise EventSourcingError(f"--segment {args.segment} must be in 0..{args.of - 1} (--of {args.of})")
    rebuild = Rebuild(declared, client, Loan.default_table(), gate,
                      lambda tables: _projector_for(declared, client, tables),
                      ensure_definitions,
                      segments=args.of, workers=args.workers, on_progress=_progress_bar)
    report = rebuild.run(args.segment)
    print(file=sys.stderr)
    if report.failures:
        _refuse(report)
    done = "switched live" if report.switched else "segment done; run without --segment to finish"
    print(f"generation {report.generation}: {report.events:,} events, {report.aggregates:,} aggregates; "
          f"segments run {report.segments_run}, skipped (already done) {report.segments_skipped}; {done}"
          + (f"; {report.caught_up} rows caught up" if report.switched else ""))
    return 0


def _refuse(report: RebuildReport) -> None:
    """List the loans the rebuild could not fold; it is then not switched live, and the command fails."""
    for reason in sorted(report.failures.values()):
        print(reason)
    raise ProjectionError(f"generation {report.generation} was not switched live: {len(report.failures):,} "
                          f"loans could not be folded (listed above); fix them and run again to resume")


def _verify(declared: Projection, client: DynamoDBClient, tables: Tables) -> int:
    differences = verify(client, Loan.default_table(), declared, tables)
    for line in differences:
        print(line)
    print(f"{tables.rows}: {len(differences)} differences from the loans' own state")
    return 1 if differences else 0


def _projector_for(declared: Projection, client: DynamoDBClient, tables: Tables) -> Projector:
    from core.dynamodb import DynamoDBEventStore
    from projections.projector import Projector

    return Projector(declared, client, DynamoDBEventStore(Loan.default_table(), client), lambda: tables,
                     shards=projection_setup.settings().shards)


def _progress_bar(progress: Progress) -> None:
    eta = progress.eta()
    total = f" / ~{progress.total:,}" if progress.total else ""
    print(f"\r{progress.events:,}{total} events, {progress.aggregates:,} aggregates, {progress.rate():,.0f} events/s, "
          f"ETA {'?' if eta is None else f'{eta:,.0f} s'}   ", end="", file=sys.stderr, flush=True)


def _positive(text: str) -> int:
    from handlers.cli import positive_int

    return positive_int(text)


def start_live_projector() -> Any:
    """Start the live projector in the background; returns the function that stops it."""
    context = live_projector()
    context.__enter__()
    return lambda: context.__exit__(None, None, None)


def show_demo_projections(portfolio: list[tuple[str, Loan]], long_loan: Loan) -> None:
    """Wait until the projector has caught up with every demo loan, then print the query tables."""
    loans = [loan for _, loan in portfolio] + [long_loan]
    started = time.perf_counter()
    if not wait_caught_up([loan.id for loan in loans], [loan.version for loan in loans]):
        raise EventSourcingError("the projector did not catch up within 60 s")
    print(f"\nprojector caught up with all {len(loans)} loans (waited {time.perf_counter() - started:.1f} s "
          "after hydrating); portfolio:")
    declared, client = projection_setup.projection(), config.dynamodb_client()
    tables = tables_for(declared, projection_setup.control().live(declared.name))
    print_view("portfolio", portfolio_view(read_counters(client, tables)))
    for loan in (portfolio[-1][1], long_loan):
        view = loan_view(loan.id, read_row(client, declared, tables, loan.id) or {})
        print(f"loan {view['id'][:8]}: status {view['status']}, balance {view['balance']}, "
              f"paid {view['total_paid']} in {view['payments']} payments, version {view['version']}")
