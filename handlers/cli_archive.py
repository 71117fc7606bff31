"""`aws-es archive [TYPE] [ID ... | --all] [--margin N]`: move each aggregate's events below its latest snapshot
minus a margin from the events table to the S3 archive (`core.archive`)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.archive import ArchiveError, ArchivingEventStore, archivable_through, archive
from core.dynamodb import DynamoDBEventStore
from core.errors import ConfigurationError, EventSourcingError
from handlers.app import App
from handlers.cli_snapshots import type_and_ids
from handlers.views import UsageError


def register_archive(commands: Any) -> None:
    command = commands.add_parser(
        "archive", help="move cold events to S3 (below the latest snapshot minus a margin)",
        description="For each named aggregate (or every one in its events table with --all), move the events "
        "numbered up to its latest snapshot's version minus --margin out of the events table into one "
        "compressed, checksummed object in ARCHIVE_BUCKET (under ARCHIVE_PREFIX). The object is written and read "
        "back, then a marker in the aggregate's partition records it, and only then are the events deleted: "
        "stopped at any step, nothing is lost, and running again finishes the move. Every reader (hydrate, "
        "rebuild, verify, snapshot backfill, history) reads archive and table as one log. An aggregate with no "
        "snapshot, or none above the margin, is left as it is. TYPE (a registered class name) comes first; "
        "without it, the first module's first aggregate is meant.",
    )
    command.add_argument("ids", nargs="*", metavar="[TYPE] ID", help="the aggregate type (optional), then ids")
    command.add_argument("--all", action="store_true", help="every aggregate in the events table")
    command.add_argument("--margin", type=int, default=100, metavar="N",
                         help="events below the latest snapshot kept in the table (at least 1; default 100)")
    command.add_argument("--json", action="store_true", help="print one JSON object per aggregate")
    command.set_defaults(run=run_archive)


def run_archive(app: App, args: argparse.Namespace) -> int:
    from snapshots.backfill import aggregate_ids

    if args.margin < 1:
        raise UsageError(f"--margin {args.margin} must be 1 or more: the newest event always stays in the table")
    if not app.settings.archive_bucket:
        raise ConfigurationError("archiving is off: set ARCHIVE_BUCKET to the bucket cold events move to")
    cls, ids = type_and_ids(app, args.ids, args.all)
    kind = cls.__name__.lower()
    if args.all == bool(ids):
        raise UsageError(f"name the {kind} aggregates to archive (ID ...) or give --all, not both")
    table = app.table(cls)
    snapshots = app.snapshot_store(table)
    if snapshots is None:
        raise ConfigurationError("snapshots are off (SNAPSHOT_STORE=off): archiving keeps what is below a snapshot")
    store = app.event_store(cls)
    events = store.events if isinstance(store, ArchivingEventStore) else DynamoDBEventStore(table, app.dynamodb)
    ids = ids or list(aggregate_ids(table, app.dynamodb))
    moved = objects = size = failed = 0
    for aggregate_id in ids:
        snapshot = snapshots.get(cls.__name__, aggregate_id)
        through = archivable_through(snapshot.version if snapshot else None, args.margin)
        try:
            done = archive(events, app.cold_archive, aggregate_id, through) if through else None
        except ArchiveError as exc:
            failed += 1
            print(f"  {aggregate_id}: {exc}")
            continue
        if done is not None and done.moved:
            moved, objects, size = moved + done.moved, objects + 1, size + done.bytes
        if args.json:
            print(json.dumps({"id": aggregate_id, "through": through, "moved": done.moved if done else 0,
                              "key": done.key if done else None, "bytes": done.bytes if done else 0}))
    if not args.json:
        print(f"archive: {moved:,} events moved in {objects} objects ({size:,} bytes) from {len(ids)} {kind} "
              f"aggregates, {failed} failed")
    if failed:
        raise EventSourcingError(f"{failed} {kind} aggregates could not be archived")
    return 0
