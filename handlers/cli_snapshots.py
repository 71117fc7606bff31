"""`aws-es snapshot [--all | ID ...]`: backfill snapshots of loans, with a progress bar on stderr."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from core import config
from core.dynamodb import DynamoDBEventStore
from core.errors import ConfigurationError, EventSourcingError
from core.metering import RequestMeter
from loans import Loan


def register_snapshot(commands: Any) -> None:
    command = commands.add_parser(
        "snapshot", help="write snapshots of loans now (backfill)",
        description="Write a snapshot of each named loan (or of every loan with --all) unless its latest "
        "snapshot is current, so the next hydrate reads the snapshot and the tail only. A stale or corrupt "
        "snapshot is replaced, even at the loan's current version. Safe to interrupt and run again. The "
        "summary counts loans written, already current, failed and not found. The store comes from "
        "SNAPSHOT_STORE (dynamodb, s3 or off), SNAPSHOT_BUCKET and SNAPSHOT_PREFIX.",
    )
    command.add_argument("ids", nargs="*", metavar="ID", help="the loans to snapshot")
    command.add_argument("--all", action="store_true", help="every loan in the events table")
    command.set_defaults(run=run_snapshot)


def run_snapshot(args: argparse.Namespace) -> int:
    from snapshots.backfill import aggregate_ids, backfill
    from snapshots.policy import SnapshotPolicy
    from snapshots.repository import SnapshottingRepository
    from snapshots.settings import settings, snapshot_store

    if args.all and args.ids:
        raise ConfigurationError("give loan ids or --all, not both")
    if not args.all and not args.ids:
        raise ConfigurationError("name the loans to snapshot (ID ...) or give --all")
    current = settings()
    table = Loan.default_table()
    snapshots = snapshot_store(table, current)
    if snapshots is None:
        raise ConfigurationError("snapshots are off (SNAPSHOT_STORE=off): set it to dynamodb or s3 to write them")
    repository = SnapshottingRepository(DynamoDBEventStore(table), snapshots, SnapshotPolicy(every=current.every))
    ids = list(dict.fromkeys(args.ids)) if args.ids else list(aggregate_ids(table, config.dynamodb_client()))
    bar = Progress(len(ids))
    try:
        outcome = backfill(Loan, ids, repository, lambda state: bar.update(state.done))
    finally:
        bar.finish()
    replaced = f" ({outcome.replaced} replacing a stale or corrupt one)" if outcome.replaced else ""
    print(f"snapshots: {outcome.written} written{replaced}, {outcome.current} already current, "
          f"{len(outcome.failed)} failed, {len(outcome.missing)} not found, of {len(ids)} loans")
    for aggregate_id, reason in outcome.failed:
        print(f"  {aggregate_id}: {reason}", file=sys.stderr)
    if outcome.missing:
        names = ", ".join(repr(name) for name in outcome.missing[:5])
        more = f" and {len(outcome.missing) - 5} more" if len(outcome.missing) > 5 else ""
        raise EventSourcingError(f"no loan {names}{more} in table {table!r}")
    return 1 if outcome.failed else 0


def attach_snapshot_clients(meter: RequestMeter) -> None:
    """Count the snapshot store's requests too (the S3 client; DynamoDB's is the events client)."""
    from snapshots.settings import s3_client, settings

    if settings().store == "s3":
        meter.attach(s3_client())


class Progress:
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
