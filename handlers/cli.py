"""`aws-es`: set up tables, run the loan demo, keep a local stack up, and inspect aggregates.

Every command has `--help`. A user mistake, an unreachable endpoint or missing credentials prints one
line on stderr and exits non-zero; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from core import EventSourcingError, InvalidIdError, check_id, config
from core.metering import RequestMeter
from handlers import cli_projections
from handlers.cli_snapshots import register_snapshot

#: Exit codes: 1 for an error the command reports, 2 for a usage mistake (argparse's own).
FAILED = 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_ids(parser, args)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("aws-es: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line, never a traceback
        print(f"aws-es {args.command}: {describe(exc)}", file=sys.stderr)
        return FAILED


def check_ids(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Every aggregate id a command takes (`ID` or `ID ...`) is checked before any request: a bad one is a
    usage mistake (exit 2) named in one line."""
    given = getattr(args, "id", None)
    for value in [given] if isinstance(given, str) else getattr(args, "ids", None) or []:
        try:
            check_id(value)
        except InvalidIdError as exc:
            parser.exit(2, f"aws-es {args.command}: {exc}\n")


def describe(exc: BaseException) -> str:
    """One line naming what went wrong and, where it helps, what to do."""
    if isinstance(exc, EventSourcingError):
        return str(exc)
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run `aws-es local`"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}: is it running? (AWS_ENDPOINT_URL)"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', exc)}"
    if isinstance(exc, BotoCoreError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aws-es",
        description="Event-sourced loans on DynamoDB: tables, demo, local stack, inspection.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser


# -- init ---------------------------------------------------------------------------------------------------

def register_init(commands: Any) -> None:
    command = commands.add_parser(
        "init", help="create the configured tables (idempotent)",
        description="Create the tables the configuration names, if missing, and wait until they are active; "
        "with SNAPSHOT_STORE=s3, create the SNAPSHOT_BUCKET too.",
    )
    command.set_defaults(run=run_init)


def run_init(args: argparse.Namespace) -> int:
    from handlers.tables import ensure_buckets, ensure_tables

    for name, created in [*ensure_tables(), *ensure_buckets()]:
        print(f"{name}: {'created' if created else 'exists'}")
    return 0


# -- demo ---------------------------------------------------------------------------------------------------

def register_demo(commands: Any) -> None:
    command = commands.add_parser(
        "demo", help="run the loan example end to end",
        description="Run a portfolio of loans through every path of the workflow, and one long-lived loan of "
        "5,000 repayments, then hydrate it and print what that cost; the stream projector runs alongside, and the "
        "demo waits until it has caught up and prints the portfolio and two loan rows. With no endpoint and no "
        "AWS credentials configured it starts moto's server on 127.0.0.1 first.",
    )
    command.add_argument("--repayments", type=positive_int, default=5_000,
                         help="repayments on the long-lived loan (default: 5000)")
    command.add_argument("--serve", action="store_true",
                         help="then serve the APIs and the dashboard on 127.0.0.1, print the dashboard's URL and "
                         "keep serving until interrupted (Ctrl-C)")
    command.add_argument("--http-port", type=port_number, default=None,
                         help="with --serve: the APIs' port, 1-65535 (default: a free one)")
    command.set_defaults(run=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    from handlers import demo
    from handlers.local import LocalStack, is_configured
    from handlers.tables import ensure_tables

    stack = stop_projector = None
    if not is_configured():
        stack = LocalStack().start()
        print(f"local stack: moto's server at {stack.endpoint}")
    try:
        ensure_tables()
        stop_projector = cli_projections.start_live_projector()  # projections update live
        meter = RequestMeter.for_this_thread()  # the stream runner shares the client
        meter.attach(config.dynamodb_client())
        started = time.perf_counter()
        portfolio = demo.run_portfolio()
        print(f"\n{'path':<30} {'loan':<10} {'status':<12} {'balance':>10} {'version':>8}")
        for path, loan in portfolio:
            print(f"{path:<30} {loan.id[:8]:<10} {loan.status:<12} {loan.balance:>10} {loan.version:>8}")
        long_started = time.perf_counter()
        long_loan = demo.run_long_loan(repayments=args.repayments)
        commit_seconds = time.perf_counter() - long_started
        print(f"\nlong-lived loan {long_loan.id[:8]}: {long_loan.version:,} events committed in "
              f"{commit_seconds:.1f} s; status {long_loan.status}, balance {long_loan.balance}")
        print(f"hydrating loan {long_loan.id[:8]} ({long_loan.version:,} events):")
        for mode, loaded, cost in demo.hydrate_three_ways(long_loan.id, meter):
            source = f"  (snapshot at version {cost['snapshot_version']:,})" if cost["snapshot_version"] else ""
            print(f"  {mode:<16} {cost['events_read']:>6,} events read {cost['requests']:>3} requests "
                  f"{cost['bytes']:>10,} bytes {cost['ms']:>10,.1f} ms{source}")
            if (loaded.version, loaded.state()) != (long_loan.version, long_loan.state()):
                raise EventSourcingError(f"hydrated state ({mode}) differs from the committed one")
        cli_projections.show_demo_projections(portfolio, long_loan)
        print(f"\ndemo done in {time.perf_counter() - started:.1f} s")
        if args.serve:
            serve_until_interrupted(args.http_port)
    finally:
        if stop_projector is not None:
            stop_projector()
        if stack is not None:
            stack.stop()
    return 0


# -- local --------------------------------------------------------------------------------------------------

def register_local(commands: Any) -> None:
    command = commands.add_parser(
        "local", help="keep the embedded local stack up",
        description="Start moto's server on 127.0.0.1, create the tables, print the endpoint and the "
        "environment another shell needs, and keep it up until interrupted (Ctrl-C). The stream projector runs "
        "alongside, so the query tables follow every commit. The commands API, the queries API and the dashboard "
        "are served on 127.0.0.1 through the same Lambda handlers (HTTP requests become API Gateway events); "
        "the dashboard's URL is printed.",
    )
    command.add_argument("--port", type=port_number, default=None,
                         help="moto's port, 1-65535 (default: a free one)")
    command.add_argument("--http-port", type=port_number, default=None,
                         help="the APIs' and the dashboard's port, 1-65535 (default: a free one)")
    command.set_defaults(run=run_local)


def run_local(args: argparse.Namespace) -> int:
    from handlers.local import LocalStack
    from handlers.tables import ensure_tables

    with LocalStack(args.port) as stack:
        ensure_tables()
        stop_projector = cli_projections.start_live_projector()  # projections update live
        print(f"local stack: moto's server at {stack.endpoint}")
        print("in another shell:")
        for name, value in stack.environment().items():
            print(f"  export {name}={value}")
        try:
            serve_until_interrupted(args.http_port)
        finally:
            stop_projector()
    return 0


def serve_until_interrupted(port: int | None) -> None:
    """Serve the APIs and the dashboard (`handlers.http_local`) and print where, until Ctrl-C."""
    from handlers.http_local import ApiServer

    server = ApiServer(port or 0).start()
    print(f"APIs: {server.url}  (POST /loans, POST /loans/{{id}}/events, GET /loans?status=S, GET /portfolio)")
    print(f"dashboard: {server.url}/dashboard")
    print("Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopped")
    finally:
        server.stop()


# -- hydrate ------------------------------------------------------------------------------------------------

def register_hydrate(commands: Any) -> None:
    command = commands.add_parser(
        "hydrate", help="load a loan and print its state and what loading it cost",
        description="Load a loan from the events table and print its state, with the events read, requests "
        "sent, bytes received and milliseconds it took, and the snapshot metrics the load caused (a snapshot "
        "used, or skipped and why: stale, corrupt, impossible, unavailable).",
    )
    command.add_argument("id", help="the loan's id")
    command.add_argument("--json", action="store_true", help="print one JSON object (with snapshot_version, "
                         "tail_events, snapshot_skipped: why a stored snapshot was not used, and "
                         "snapshot_metrics: the snapshot metrics this hydrate would publish, e.g. "
                         "SnapshotSkippedStale)")
    command.set_defaults(run=run_hydrate)


def run_hydrate(args: argparse.Namespace) -> int:
    from handlers.cli_snapshots import attach_snapshot_clients
    from handlers.demo import measure_hydrate
    from loans.views import state_view
    from snapshots.metrics import counting, metric_values

    meter = RequestMeter()
    meter.attach(config.dynamodb_client())
    attach_snapshot_clients(meter)
    with counting() as counts:
        loan, cost = measure_hydrate(args.id, meter)
    if loan.version == 0:
        raise EventSourcingError(f"no loan {args.id!r} in table {loan.table!r}")
    metrics = {name: value for name, value in metric_values(counts).items() if value}
    state = state_view(loan.state())
    report = {"id": loan.id, "version": loan.version, "state": state, **cost, "snapshot_metrics": metrics}
    if args.json:
        print(json.dumps(report, default=str))
        return 0
    print(f"loan {loan.id} at version {loan.version}")
    for name, value in state.items():
        print(f"  {name:<17} {value}")
    print(f"loaded in {cost['ms']:,.1f} ms: {cost['events_read']:,} events read, {cost['requests']} requests, "
          f"{cost['bytes']:,} bytes received")
    if cost["snapshot_version"] is not None:
        print(f"from the snapshot at version {cost['snapshot_version']}, then {cost['tail_events']:,} events")
    if cost["snapshot_skipped"]:
        print(f"snapshot skipped: {cost['snapshot_skipped']}")
    print("snapshot metrics: " + (", ".join(f"{name} {value}" for name, value in metrics.items()) or "none"))
    return 0


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def port_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: give one from 1 to 65535")
    return value


#: Each entry adds one subcommand; the snapshot and projection commands add theirs here.
COMMANDS: list[Callable[[Any], None]] = [
    register_init, register_demo, register_local, register_hydrate, register_snapshot,
    cli_projections.register_project, cli_projections.register_query, cli_projections.register_rebuild,
]


if __name__ == "__main__":
    sys.exit(main())
