"""`aws-es snapshot [TYPE] [--all | ID ...]`: backfill snapshots of any registered aggregate, with a progress
bar on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from core.aggregate import Aggregate, check_id
from core.errors import ConfigurationError, EventSourcingError, InvalidIdError
from core.metering import RequestMeter
from handlers.app import App
from handlers.views import UsageError


def register_snapshot(commands: Any) -> None:
    command = commands.add_parser(
        "snapshot", help="write snapshots of aggregates now (backfill)",
        description="Write a snapshot of each named aggregate (or of every one in its events table with --all) "
        "unless its latest snapshot is current, so the next hydrate reads the snapshot and the tail only. TYPE "
        "(a registered class name) comes first; without it, the first module's first aggregate is meant (a first "
        "name spelt nearly like a type, with no aggregate of that id, is taken as a misspelt TYPE). A stale "
        "or corrupt snapshot is replaced, even at the aggregate's current version. Safe to interrupt and run "
        "again. The summary counts aggregates written, already current, failed and not found. The store comes "
        "from SNAPSHOT_STORE (dynamodb, s3 or off), SNAPSHOT_BUCKET and SNAPSHOT_PREFIX.",
    )
    command.add_argument("ids", nargs="*", metavar="[TYPE] ID", help="the aggregate type (optional), then ids")
    command.add_argument("--all", action="store_true", help="every aggregate in the events table")
    command.set_defaults(run=run_snapshot)


def type_and_ids(app: App, names: list[str], every: bool = False) -> tuple[type[Aggregate], list[str]]:
    """A leading registered type name picks the aggregate; the rest are ids, each checked.

    A first name that is no type may still be meant as one: with `--all` a lone name can only be a TYPE, and
    a name spelt nearly like a type (`Polcy` for `Policy`) is one unless an aggregate of that id exists. Such a
    name raises `UnknownAggregateError`, which lists the registered types.
    """
    registry = app.registry
    known = {cls.__name__.lower(): cls for cls in registry.aggregates}
    cls = registry.default_aggregate
    if names and names[0].lower() in known:
        cls, names = known[names[0].lower()], names[1:]
    elif names and ((every and len(names) == 1) or _misspelt_type(app, cls, names[0])):
        registry.aggregate(names[0])  # raises, naming the types
    try:
        return cls, [check_id(name) for name in dict.fromkeys(names)]
    except InvalidIdError as exc:
        raise UsageError(str(exc)) from exc


def _misspelt_type(app: App, cls: type[Aggregate], name: str) -> bool:
    """`name` reads like a type and no `cls` aggregate has that id (one read, only for such a name)."""
    if not app.registry.misspelt_type(name):
        return False
    try:
        check_id(name)
    except InvalidIdError:
        return True
    return next(iter(app.event_store(cls).read(name)), None) is None


def run_snapshot(app: App, args: argparse.Namespace) -> int:
    from snapshots.backfill import aggregate_ids, backfill
    from snapshots.policy import SnapshotPolicy
    from snapshots.repository import SnapshottingRepository

    cls, ids = type_and_ids(app, args.ids, args.all)
    kind = cls.__name__.lower()
    if args.all and ids:
        raise UsageError(f"give {kind} ids or --all, not both")
    if not args.all and not ids:
        raise UsageError(f"name the {kind} aggregates to snapshot (ID ...) or give --all")
    settings, table = app.settings.snapshots, app.table(cls)
    snapshots = app.snapshot_store(table)
    if snapshots is None:
        raise ConfigurationError("snapshots are off (SNAPSHOT_STORE=off): set it to dynamodb or s3 to write them")
    repository = SnapshottingRepository(app.event_store(cls), snapshots, SnapshotPolicy(every=settings.every))
    ids = ids or list(aggregate_ids(table, app.dynamodb))
    bar = ProgressBar(len(ids))
    try:
        outcome = backfill(cls, ids, repository, lambda state: bar.update(state.done))
    finally:
        bar.finish()
    replaced = f" ({outcome.replaced} replacing a stale or corrupt one)" if outcome.replaced else ""
    print(f"snapshots: {outcome.written} written{replaced}, {outcome.current} already current, "
          f"{len(outcome.failed)} failed, {len(outcome.missing)} not found, of {len(ids)} {kind} aggregates")
    for aggregate_id, reason in outcome.failed:
        print(f"  {aggregate_id}: {reason}", file=sys.stderr)
    if outcome.missing:
        names = ", ".join(repr(name) for name in outcome.missing[:5])
        more = f" and {len(outcome.missing) - 5} more" if len(outcome.missing) > 5 else ""
        raise EventSourcingError(f"no {kind} {names}{more} in table {table!r}")
    return 1 if outcome.failed else 0


def attach_snapshot_clients(app: App, meter: RequestMeter) -> None:
    """Count the snapshot store's requests too (`app`'s S3 client; DynamoDB's is the events client)."""
    if app.settings.snapshots.store == "s3":
        meter.attach(app.s3)


class ProgressBar:
    """`[#####.....] done/total  rate/s` on one stderr line, redrawn at most ten times a second."""

    WIDTH = 30

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.started = time.perf_counter()
        self._drawn = 0.0
        self._done = 0
        self._shown = -1

    def update(self, done: int) -> None:
        self._done = done
        now = time.perf_counter()
        if now - self._drawn >= 0.1 or done == self.total:
            self._drawn = now
            self._draw(now)

    def finish(self) -> None:
        if self._shown != self._done:
            self._draw(time.perf_counter())
        self.stream.write("\n")
        self.stream.flush()

    def _draw(self, now: float) -> None:
        filled = self.WIDTH * self._done // self.total if self.total else self.WIDTH
        rate = self._done / max(now - self.started, 1e-9)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        self._shown = self._done
        self.stream.write(f"\rsnapshot [{bar}] {self._done:,}/{self.total:,}  {rate:,.1f}/s")
        self.stream.flush()
