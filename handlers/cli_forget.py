"""`aws-es forget SUBJECT [--scan]`: destroy a person's data key, so every personal value sealed under it
(in the events, the snapshots, the query tables, the archive and the failure queue) is unreadable for good,
and, with `--scan`, count what is left readable of it everywhere the App stores anything."""

from __future__ import annotations

import argparse
import gzip
import json
from collections.abc import Iterator
from typing import Any

from core.personal import PersonalDataError, Sealer, check_subject, sealed_values, subject_of
from handlers.app import App
from handlers.idempotency import table_name as idempotency_table
from handlers.views import UsageError

#: How many failure-queue messages `--scan` peeks at, at most (ten per request, left visible).
MAX_QUEUE_MESSAGES = 1000


def register_forget(commands: Any) -> None:
    command = commands.add_parser(
        "forget", help="forget a person: destroy their data key (crypto-shredding)",
        description="Destroy SUBJECT's data key in the personal key table (KMS-wrapped with PERSONAL_KMS_KEY, "
        "else the local key store). Every personal field sealed for SUBJECT (the borrower's name of a loan, for "
        "one) then reads as <forgotten> wherever it is kept: events, snapshots, query tables, the archive and "
        "the failure queue; nothing is rewritten, and folds that read no personal field give what they gave. "
        "With --scan, every events table (and the snapshots kept in it), the S3 snapshots, every projection "
        "table, the parking and idempotency tables, the failure queue and the archive (ARCHIVE_BUCKET) are read "
        "and the sealed values of SUBJECT counted, with how many are still readable (0 after a forget). "
        "Forgetting a subject with no key says so "
        "and exits 0.",
    )
    command.add_argument("subject", metavar="SUBJECT", help="whose data to forget (a borrower id, or a loan id "
                         "for a loan opened without one)")
    command.add_argument("--scan", action="store_true", help="then count the subject's sealed values left "
                         "anywhere, and how many are readable")
    command.add_argument("--json", action="store_true", help="print one JSON object")
    command.set_defaults(run=run_forget)


def run_forget(app: App, args: argparse.Namespace) -> int:
    try:
        subject = check_subject(args.subject)
    except PersonalDataError as exc:
        raise UsageError(str(exc)) from exc
    had_key = app.sealer.forget(subject)
    report: dict[str, Any] = {"subject": subject, "key_destroyed": had_key}
    if args.scan:
        report["places"] = {place: {"sealed": found, "readable": readable}
                            for place, (found, readable) in scan_subject(app, app.sealer, subject).items()}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"forgot {subject!r}: " + ("its data key is destroyed" if had_key else "it had no data key"))
    for place, counts in report.get("places", {}).items():
        print(f"  {place:<40} {counts['sealed']:>6} sealed values, {counts['readable']} readable")
    return 0


def scan_subject(app: App, sealer: Sealer, subject: str) -> dict[str, tuple[int, int]]:
    """Per place (a table, the snapshot bucket, the failure queue): (sealed values of `subject`, readable)."""
    out: dict[str, tuple[int, int]] = {}
    for place, values in places(app):
        found = readable = 0
        for token in sealed_values(values):
            if _subject(token) == subject:
                found += 1
                readable += sealer.readable(token)
        out[place] = (found, readable)
    return out


def _subject(token: str) -> str | None:
    try:
        return subject_of(token)
    except PersonalDataError:
        return None


def places(app: App) -> Iterator[tuple[str, Any]]:
    """Everything the App stores, place by place, as raw items (read lazily)."""
    for table in app.events_tables():
        yield f"events+snapshots table {table}", _scan(app, table)
    for declared in app.projections():
        _, live = app.live_tables(declared)
        for name in (live.rows, live.counters, live.event_counters):
            if name:
                yield f"query table {name}", _scan(app, name)
    yield f"parking table {app.parking_table()}", _scan(app, app.parking_table())
    yield f"idempotency table {idempotency_table(app.settings)}", _scan(app, idempotency_table(app.settings))
    snapshots = app.settings.snapshots
    if snapshots.store == "s3" and snapshots.bucket:
        yield f"s3://{snapshots.bucket}", _objects(app, snapshots.bucket, snapshots.prefix or "")
    if app.settings.archive_bucket:
        yield f"archive s3://{app.settings.archive_bucket}", (
            gzip.decompress(body) for body in _objects(app, app.settings.archive_bucket, app.settings.archive_prefix))
    yield f"queue {app.settings.projections.on_failure_queue}", _messages(app)


def _scan(app: App, table: str) -> Iterator[dict[str, Any]]:
    try:
        for page in app.dynamodb.get_paginator("scan").paginate(TableName=table):
            yield from page.get("Items", [])
    except app.dynamodb.exceptions.ResourceNotFoundException:
        return  # a table this deployment never made holds nothing


def _objects(app: App, bucket: str, prefix: str) -> Iterator[bytes]:
    for page in app.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield app.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()


def _messages(app: App) -> Iterator[str]:
    sqs = app.sqs
    try:
        url = sqs.get_queue_url(QueueName=app.settings.projections.on_failure_queue)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return
    seen: set[str] = set()
    while len(seen) < MAX_QUEUE_MESSAGES:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", [])
        fresh = [message for message in got if message["MessageId"] not in seen]
        if not fresh:
            return
        for message in fresh:
            seen.add(message["MessageId"])
            yield message["Body"]
