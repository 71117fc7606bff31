"""Archiving cold events to S3 (opt-in), and `ArchivingEventStore`, which reads archive + table as one log.

`archive(table_store, archive, aggregate_id, through)` moves the aggregate's events numbered up to `through` out
of the DynamoDB events table into one S3 object (gzip-compressed JSON lines, one record a line) and never loses
one, whatever step it is interrupted at:

1. the events `archived_through + 1 .. through` are read from the table and written as one object, whose key
   names the range and whose metadata holds the SHA-256 of its uncompressed text;
2. the object is read back and checked (checksum, count, numbers) before anything else happens;
3. the aggregate's marker item (in its own partition, `number = 0.25`, `kind = "archive"`: every event reader
   skips it) is updated conditionally to record the range, so two archivers never both move the same events;
4. only then are the events deleted from the table.

Stopped after 1 or 2, the table is untouched and the next run writes the object again; after 3, readers take
the range from the archive and ignore what is left of it in the table, which the next run deletes.

`ArchivingEventStore` keeps the event store contract (`read`, `read_backwards`, `scan`, `estimate`, `append`)
over both, so rebuild, verify, hydrate, snapshot backfill and every other full replay read the whole history
with no change. A damaged object raises `ArchiveDamagedError` naming its key.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from botocore.exceptions import ClientError

from core.dynamodb import DynamoDBEventStore
from core.errors import EventSourcingError, error_code
from core.events import RecordedEvent
from core.store import KeyMarker

#: The marker's sort key: below event 1, fractional so no event reader takes it.
MARKER_NUMBER = "0.25"
KIND = "archive"


class ArchiveError(EventSourcingError):
    """An archive request that cannot be done as asked; the message says why."""


class ArchiveDamagedError(ArchiveError):
    """An archive object whose content is not what was written: `key` names it."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"archive object {key} is damaged: {reason}")
        self.key = key


@dataclass(frozen=True)
class Range:
    """One archived range: events `first .. last` in the object `key`, whose text hashes to `sha256`."""

    first: int
    last: int
    key: str
    sha256: str


@dataclass(frozen=True)
class Marker:
    """What is archived of one aggregate: every event up to `through`, in `ranges` (oldest first)."""

    through: int
    ranges: tuple[Range, ...]


class S3Archive:
    """Archive objects in `bucket` under `prefix` and the markers in the events table they came from."""

    def __init__(self, s3: Any, bucket: str, prefix: str = "archive/") -> None:
        if not bucket:
            raise ArchiveError("an archive needs a bucket (ARCHIVE_BUCKET)")
        self.s3, self.bucket, self.prefix = s3, bucket, prefix

    def key(self, table: str, aggregate_id: str, first: int, last: int) -> str:
        return f"{self.prefix}{quote(table, safe='')}/{quote(aggregate_id, safe='')}/{first:012d}-{last:012d}.jsonl.gz"

    def write(self, key: str, records: Sequence[RecordedEvent]) -> str:
        """Write one object and read it back; its SHA-256 (of the uncompressed text) once it checks out."""
        text = encode(records)
        digest = hashlib.sha256(text).hexdigest()
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(text, mtime=0),
                           ContentType="application/x-ndjson", ContentEncoding="gzip",
                           Metadata={"sha256": digest, "events": str(len(records))})
        back = list(self.read(Range(records[0].number, records[-1].number, key, digest)))
        if back != list(records):
            raise ArchiveDamagedError(key, "what was read back differs from what was written")
        return digest

    def count(self, table: str) -> int | None:
        """How many events of `table` the archive holds, from the objects' names alone (`<first>-<last>`; one
        ListObjectsV2 per 1,000 objects); None when the caller may not list the bucket. An object a stopped run
        left without its marker counts too: an estimate."""
        total = 0
        try:
            for page in self.s3.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=f"{self.prefix}{quote(table, safe='')}/"):
                for item in page.get("Contents", ()):
                    first, _, last = item["Key"].rsplit("/", 1)[-1].removesuffix(".jsonl.gz").partition("-")
                    if first.isdigit() and last.isdigit():
                        total += int(last) - int(first) + 1
        except ClientError as exc:
            if error_code(exc) in ("AccessDenied", "AccessDeniedException"):
                return None
            raise
        return total

    def read(self, archived: Range) -> Iterator[RecordedEvent]:
        """The records of one range, checked: checksum, then numbers `first .. last` in order."""
        body = self.s3.get_object(Bucket=self.bucket, Key=archived.key)["Body"].read()
        try:
            text = gzip.decompress(body)
        except (OSError, EOFError) as exc:
            raise ArchiveDamagedError(archived.key, f"not gzip: {exc}") from exc
        if hashlib.sha256(text).hexdigest() != archived.sha256:
            raise ArchiveDamagedError(archived.key, "its SHA-256 is not the one recorded when it was archived")
        records = decode(text, archived.key)
        if [r.number for r in records] != list(range(archived.first, archived.last + 1)):
            raise ArchiveDamagedError(archived.key, f"it does not hold events {archived.first}..{archived.last}")
        yield from records


def encode(records: Sequence[RecordedEvent]) -> bytes:
    """One stored event a line: `[number, type, created, data, meta]`, then its schema version when above 1."""
    return b"".join(orjson.dumps(list(record) if record.version > 1 else list(record)[:5]) + b"\n"
                    for record in records)


def decode(text: bytes, key: str) -> list[RecordedEvent]:
    out = []
    for line in text.splitlines():
        try:
            number, type_, created, data, meta, *version = orjson.loads(line)
            if len(version) > 1 or not all(type(value) is int and value > 1 for value in version):
                raise ValueError(f"its fields after meta are {version!r}, not one schema version above 1")
        except (orjson.JSONDecodeError, ValueError, TypeError) as exc:
            raise ArchiveDamagedError(key, f"a line is not an archived event: {exc}") from exc
        out.append(RecordedEvent(number, type_, created, data, meta, *version))
    return out


# -- the marker ----------------------------------------------------------------------------------------------------

def read_marker(table: DynamoDBEventStore, aggregate_id: str) -> Marker | None:
    item = table.client.get_item(TableName=table.table, ConsistentRead=True,
                                 Key={"id": {"S": aggregate_id}, "number": {"N": MARKER_NUMBER}}).get("Item")
    if item is None:
        return None
    ranges = tuple(Range(int(r["M"]["first"]["N"]), int(r["M"]["last"]["N"]), r["M"]["key"]["S"],
                         r["M"]["sha256"]["S"]) for r in item["ranges"]["L"])
    return Marker(int(item["through"]["N"]), ranges)


def _write_marker(table: DynamoDBEventStore, aggregate_id: str, before: Marker | None, after: Marker) -> None:
    item = {"id": {"S": aggregate_id}, "number": {"N": MARKER_NUMBER}, "kind": {"S": KIND},
            "through": {"N": str(after.through)},
            "ranges": {"L": [{"M": {"first": {"N": str(r.first)}, "last": {"N": str(r.last)}, "key": {"S": r.key},
                                    "sha256": {"S": r.sha256}}} for r in after.ranges]}}
    if before is None:
        condition = {"ConditionExpression": "attribute_not_exists(#id)", "ExpressionAttributeNames": {"#id": "id"}}
    else:
        condition = {"ConditionExpression": "#t = :t", "ExpressionAttributeNames": {"#t": "through"},
                     "ExpressionAttributeValues": {":t": {"N": str(before.through)}}}
    try:
        table.client.put_item(TableName=table.table, Item=item, **condition)  # type: ignore[arg-type]
    except table.client.exceptions.ConditionalCheckFailedException as exc:
        raise ArchiveError(f"{aggregate_id!r} was archived by someone else meanwhile: run again") from exc


# -- archiving -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Archived:
    """What one `archive` call did: events moved (0: nothing to do), the object written, bytes in it."""

    aggregate_id: str
    moved: int
    key: str | None = None
    bytes: int = 0


def archive(table: DynamoDBEventStore, store: S3Archive, aggregate_id: str, through: int,
            step: Any = None) -> Archived:
    """Move events up to `through` (those not archived yet) to one object; see the module's steps. `step(name)`
    is called after each step ("written", "verified", "marked", "deleted"), for tests that stop there."""
    if isinstance(through, bool) or not isinstance(through, int) or through < 0:
        raise ArchiveError(f"through={through!r} must be a whole number of events, 0 or more")
    marker = read_marker(table, aggregate_id)
    done = marker.through if marker else 0
    if through <= done:
        _delete(table, aggregate_id, done)  # what an interrupted run left behind
        return Archived(aggregate_id, 0)
    records = [r for r in table.read(aggregate_id, done) if r.number <= through]
    if not records or records[-1].number != through or records[0].number != done + 1:
        raise ArchiveError(f"{aggregate_id!r} does not hold events {done + 1}..{through} in table {table.table!r}")
    key = store.key(table.table, aggregate_id, done + 1, through)
    _call(step, "reading")
    digest = store.write(key, records)
    _call(step, "verified")
    ranges = (marker.ranges if marker else ()) + (Range(done + 1, through, key, digest),)
    _write_marker(table, aggregate_id, marker, Marker(through, ranges))
    _call(step, "marked")
    _delete(table, aggregate_id, through, step)
    _call(step, "deleted")
    size = store.s3.head_object(Bucket=store.bucket, Key=key)["ContentLength"]
    return Archived(aggregate_id, len(records), key, int(size))


def _call(step: Any, name: str) -> None:
    if step is not None:
        step(name)


def _delete(table: DynamoDBEventStore, aggregate_id: str, through: int, step: Any = None) -> None:
    """Delete the table's events numbered up to `through`, 25 a request (each batch is whole or retried)."""
    numbers = [r.number for r in table.read(aggregate_id, 0) if r.number <= through] if through else []
    for start in range(0, len(numbers), 25):
        requests = [{"DeleteRequest": {"Key": {"id": {"S": aggregate_id}, "number": {"N": str(n)}}}}
                    for n in numbers[start:start + 25]]
        pending: dict[str, Any] = {table.table: requests}
        while pending:
            pending = table.client.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        _call(step, "deleting")


# -- reading archive + table ---------------------------------------------------------------------------------------

class ArchivingEventStore:
    """The event store contract over a DynamoDB events table and its S3 archive: the whole history, in order."""

    def __init__(self, table: DynamoDBEventStore, store: S3Archive) -> None:
        self.events, self.archive = table, store

    def __getattr__(self, name: str) -> Any:  # find_marker, table, client ...: the table store's own
        return getattr(self.events, name)

    def read(self, aggregate_id: str, after: int = 0, until: int | None = None) -> Iterator[RecordedEvent]:
        tail = self.events.read(aggregate_id, after, until)  # checks the arguments now, as the table store does
        return self._read(aggregate_id, after, until, tail)

    def _read(self, aggregate_id: str, after: int, until: int | None, tail: Iterator[RecordedEvent]
              ) -> Iterator[RecordedEvent]:
        marker = read_marker(self.events, aggregate_id)
        if marker is None or after >= marker.through:
            yield from tail
            return
        for archived in marker.ranges:
            if archived.last > after and (until is None or archived.first <= until):
                yield from (r for r in self.archive.read(archived)
                            if r.number > after and (until is None or r.number <= until))
        if until is None or until > marker.through:
            yield from self.events.read(aggregate_id, marker.through, until)

    def read_backwards(self, aggregate_id: str, before: int | None = None) -> Iterator[RecordedEvent]:
        newest = self.events.read_backwards(aggregate_id, before)  # checks `before` now
        return self._backwards(aggregate_id, before, newest)

    def _backwards(self, aggregate_id: str, before: int | None, newest: Iterator[RecordedEvent]
                   ) -> Iterator[RecordedEvent]:
        marker = read_marker(self.events, aggregate_id)
        through = marker.through if marker else 0
        for record in newest:
            if record.number <= through:
                break
            yield record
        if marker is not None:
            for archived in reversed(marker.ranges):
                if before is None or archived.first < before:
                    yield from (r for r in reversed(list(self.archive.read(archived)))
                                if before is None or r.number < before)

    def scan(self, segment: int = 0, of: int = 1, start_after: tuple[str, int] | None = None
             ) -> Iterator[tuple[str, RecordedEvent]]:
        """The table's scan, each aggregate's archived events first (an archived aggregate keeps at least its
        newest event in the table, so every aggregate is met)."""
        return self._scan(self.events.scan(segment, of, start_after), start_after)  # arguments checked now

    def _scan(self, table: Iterator[tuple[str, RecordedEvent]], start_after: tuple[str, int] | None
              ) -> Iterator[tuple[str, RecordedEvent]]:
        current: str | None = None
        through = 0
        resume_id, resume_number = start_after if start_after else (None, 0)
        for aggregate_id, record in table:
            if aggregate_id != current:
                current = aggregate_id
                marker = read_marker(self.events, aggregate_id)
                through = marker.through if marker else 0
                skip = resume_number if aggregate_id == resume_id else 0  # a checkpoint inside the archive
                if marker is not None and skip < through:
                    for archived in marker.ranges:
                        if archived.last > skip:
                            for old in self.archive.read(archived):
                                if old.number > skip:
                                    yield aggregate_id, old
            if record.number <= through:
                continue
            yield aggregate_id, record

    def estimate(self) -> int | None:
        """The table's estimate (DescribeTable's ItemCount) plus the events archived from it (`S3Archive.count`),
        so a rebuild's progress counts what it folds; the table's alone when the archive cannot be listed."""
        table = self.events.estimate()
        if table is None:
            return None
        archived = self.archive.count(self.events.table)
        return table + (archived or 0)

    def append(self, aggregate_id: str, expected_version: int, events: Sequence[RecordedEvent], *,
               version_from_store: bool = False, marker: KeyMarker | None = None) -> None:
        """The table's append; an `expected_version` the archive holds is proven there (the table no longer has
        that event), so a stale writer gets the table's `ConcurrencyError`, never a false gap."""
        if not version_from_store and expected_version > 0:
            archived = read_marker(self.events, aggregate_id)
            version_from_store = archived is not None and expected_version <= archived.through
        self.events.append(aggregate_id, expected_version, events, version_from_store=version_from_store,
                           marker=marker)


def archivable_through(snapshot_version: int | None, margin: int) -> int:
    """The newest event to archive: the latest snapshot's version minus `margin` (at least 1, so the newest
    event stays in the table), 0 when there is no snapshot."""
    if isinstance(margin, bool) or not isinstance(margin, int) or margin < 1:
        raise ArchiveError(f"margin={margin!r} must be a whole number, 1 or more")
    return max(0, (snapshot_version or 0) - margin)

