"""`aws-es`: set up tables, run the demo, keep a local stack up, and inspect the aggregates and projections
that the modules named in `AWS_ES_MODULES` declare.

Every command has `--help`. A user mistake, an unreachable endpoint or missing credentials prints one
line on stderr and exits non-zero; never a traceback. `main` builds one `App` from the environment, binds it as
the aggregates' provider, and passes it to the subcommand: each `run_*` takes `(app, args)`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

from core import EventSourcingError, InvalidIdError, check_id
from core.metering import RequestMeter
from core.personal import reveal_fields
from core.repository import Until
from handlers import cli_parking, cli_projections
from handlers.app import App
from handlers.cli_archive import register_archive
from handlers.cli_forget import register_forget
from handlers.cli_snapshots import register_snapshot
from handlers.cli_template import register_template
from handlers.registry import UnknownAggregateError
from handlers.views import UsageError, state_view
from projections.errors import UnknownProjectionError

if TYPE_CHECKING:
    from handlers.local import LocalStack

#: Exit codes: 1 for an error the command reports, 2 for a usage mistake (argparse's own).
FAILED = 1


def main(argv: Sequence[str] | None = None, app: App | None = None) -> int:
    """Run one command on `app` (default: the one the environment configures, built here)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_ids(parser, args)
    try:
        app = app or App.from_env()
        with app.bound():
            return int(args.run(app, args) or 0)
    except (UsageError, UnknownAggregateError, UnknownProjectionError, InvalidIdError) as exc:
        parser.exit(2, f"aws-es {args.command}: {exc}\n")  # a usage mistake: exit 2, as argparse's own
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
        description="Event sourcing on DynamoDB for the aggregates and projections of the modules in "
        "AWS_ES_MODULES (comma-separated; default: the worked example): tables, demo, local stack, inspection.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in COMMANDS:
        register(commands)
    return parser


# -- init ---------------------------------------------------------------------------------------------------

def register_init(commands: Any) -> None:
    command = commands.add_parser(
        "init", help="create every registered table (idempotent)",
        description="Create the events table of every aggregate and the tables of every projection the modules in "
        "AWS_ES_MODULES declare, the control table and the parking table (ParkedEvents), if missing, and wait "
        "until they are active; with SNAPSHOT_STORE=s3, create the SNAPSHOT_BUCKET too.",
    )
    command.set_defaults(run=run_init)


def run_init(app: App, args: argparse.Namespace) -> int:
    from handlers.tables import ensure_buckets, ensure_tables

    for name, created in [*ensure_tables(app), *ensure_buckets(app)]:
        print(f"{name}: {'created' if created else 'exists'}")
    return 0


# -- demo ---------------------------------------------------------------------------------------------------

def register_demo(commands: Any) -> None:
    command = commands.add_parser(
        "demo", help="run the first module's worked example end to end",
        description="Run the `demo` of the first module in AWS_ES_MODULES that declares one (the default module's "
        "runs a portfolio through every path of its workflow and one long-lived aggregate of 5,000 events, then "
        "hydrates it three ways and prints what that cost); the stream projector runs alongside. With no endpoint "
        "and no AWS credentials configured it starts moto's server on 127.0.0.1 first.",
    )
    command.add_argument("--repayments", type=positive_int, default=5_000,
                         help="events on the long-lived aggregate (default: 5000)")
    command.add_argument("--loans", type=positive_int, default=None, metavar="N",
                         help="first seed a portfolio of N loans through the loan commands, one command per event "
                         "(the projector follows), and print how long it took and how soon the dashboard showed "
                         "the last commit (10,000 take a few minutes locally); the module's demo must take `loans`")
    command.add_argument("--serve", action="store_true",
                         help="then serve the APIs and the dashboard on 127.0.0.1, print the dashboard's URL and "
                         "keep serving until interrupted (Ctrl-C)")
    command.add_argument("--http-port", type=port_number, default=None,
                         help="with --serve: the APIs' port, 1-65535 (default: a free one)")
    command.set_defaults(run=run_demo)


def run_demo(app: App, args: argparse.Namespace) -> int:
    from handlers.local import LocalStack, is_configured

    stack = None
    if not is_configured():
        stack = LocalStack().start()
        print(f"local stack: moto's server at {stack.endpoint}")
        app = on_stack(app, stack)
    try:
        with app.bound():
            run_demo_on(app, args)
    finally:
        if stack is not None:
            stack.stop()
    return 0


def on_stack(app: App, stack: LocalStack) -> App:
    """`app`'s modules served on the local stack: an App of its own, with the stack's endpoint and credentials."""
    return app.with_settings(stack.settings(app.settings))


def run_demo_on(app: App, args: argparse.Namespace) -> None:
    from handlers.tables import ensure_tables

    demo = app.registry.demo
    ensure_tables(app)
    stop_projector = cli_projections.start_live_projector(app)  # projections update live
    try:
        meter = RequestMeter.for_this_thread()  # the stream runner shares the client
        meter.attach(app.dynamodb)
        demo(app, args.repayments, meter, **({"loans": args.loans} if args.loans else {}))
        if args.serve:
            serve_until_interrupted(app, args.http_port)
    finally:
        stop_projector()


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


def run_local(app: App, args: argparse.Namespace) -> int:
    from handlers.local import LocalStack
    from handlers.tables import ensure_tables

    with LocalStack(args.port) as stack, on_stack(app, stack).bound() as local:
        ensure_tables(local)
        stop_projector = cli_projections.start_live_projector(local)  # projections update live
        print(f"local stack: moto's server at {stack.endpoint}")
        print("in another shell:")
        for name, value in stack.environment().items():
            print(f"  export {name}={value}")
        try:
            serve_until_interrupted(local, args.http_port)
        finally:
            stop_projector()
    return 0


def serve_until_interrupted(app: App, port: int | None) -> None:
    """Serve `app`'s APIs and the dashboard (`handlers.http_local`) and print where, until Ctrl-C."""
    from handlers.http_local import ApiServer, default_handlers

    server = ApiServer(port or 0, handlers=default_handlers(app)).start()
    print(f"APIs: {server.url}  (the routes of {', '.join(app.settings.modules)})")
    for page, path in app.registry.pages.items():
        print(f"{page}: {server.url}{path}")
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
        "hydrate", help="load an aggregate and print its state and what loading it cost",
        description="Load an aggregate from its events table and print its state, with the events read, requests "
        "sent, bytes received and milliseconds it took, and the snapshot metrics the load caused (a snapshot "
        "used, or skipped and why: stale, corrupt, impossible, unavailable). `hydrate TYPE ID` names the "
        "aggregate type (a registered class name); `hydrate ID` means the first module's first aggregate. "
        "`--version N` or `--as-of ISO` load it as it was then, reading only up to that point.",
    )
    command.add_argument("type", nargs="?", metavar="TYPE", help="a registered aggregate class (default: the first)")
    command.add_argument("id", help="the aggregate's id")
    command.add_argument("--json", action="store_true", help="print one JSON object (with snapshot_version, "
                         "tail_events, snapshot_skipped: why a stored snapshot was not used, and "
                         "snapshot_metrics: the snapshot metrics this hydrate would publish, e.g. "
                         "SnapshotSkippedStale)")
    point = command.add_mutually_exclusive_group()
    point.add_argument("--version", type=positive_int, default=None, metavar="N", dest="until_version",
                       help="the state as it was at event N (read only up to there)")
    point.add_argument("--as-of", default=None, metavar="ISO", dest="as_of",
                       help="the state as it was at that date and time (ISO-8601 with its offset, e.g. "
                       "2026-03-31T23:59:59Z): the events created up to then")
    command.set_defaults(run=run_hydrate)


def run_hydrate(app: App, args: argparse.Namespace) -> int:
    from handlers.cli_snapshots import attach_snapshot_clients
    from handlers.measure import measure_hydrate
    from snapshots.metrics import counting, metric_values

    registry = app.registry
    cls = registry.aggregate(args.type) if args.type is not None else registry.default_aggregate
    aggregate_id = args.id
    meter = RequestMeter()
    meter.attach(app.dynamodb)
    attach_snapshot_clients(app, meter)
    table = app.table(cls)
    until = None
    if args.until_version is not None or args.as_of is not None:
        as_of = Until.parse_as_of(args.as_of, "--as-of") if args.as_of is not None else None
        until = Until(args.until_version, as_of)
    with counting() as counts:
        aggregate, cost = measure_hydrate(lambda key: cls(key, table, repository=app.repository(cls, table)),
                                          aggregate_id, meter, until)
    kind = cls.__name__
    if aggregate.version == 0 and args.type is None and registry.misspelt_type(aggregate_id):
        registry.aggregate(aggregate_id)  # `hydrate Polcy`: a misspelt TYPE, not a missing id; lists the types
    if aggregate.version == 0:
        when = "" if until is None else " up to that point"
        raise EventSourcingError(f"no {kind.lower()} {aggregate_id!r} in table {aggregate.table!r}{when}")
    metrics = {name: value for name, value in metric_values(counts).items() if value}
    folded = aggregate.state()
    if cls.personal:  # sealed in the state as in the log: shown as the plaintext, or <forgotten>
        folded = reveal_fields(app.sealer, cls.personal, folded)
    state = state_view(registry, kind, folded)
    report = {"id": aggregate.id, "version": aggregate.version, "state": state, **cost, "snapshot_metrics": metrics}
    if args.json:
        print(json.dumps(report, default=str))
        return 0
    print(f"{kind} {aggregate.id} at version {aggregate.version}")
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
    register_template, cli_parking.register_parked, cli_parking.register_redrive, register_forget,
    register_archive,
]


if __name__ == "__main__":
    sys.exit(main())
