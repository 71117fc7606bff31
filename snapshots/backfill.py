"""Backfill: write a snapshot of each named aggregate now, skipping those whose latest snapshot is current.

Each snapshot is one independent conditional write, so a backfill is safe to interrupt and run again:
the second run finds the finished ones current and carries on with the rest. A stored snapshot that
cannot be used (stale after a code change, corrupt, impossible) is replaced, even at the aggregate's
current version, on condition that it is still exactly the copy hydrate rejected.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from core.dynamodb_calls import paged_items
from core.errors import StoreError
from snapshots.errors import SnapshotError
from snapshots.store import describe

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from core.aggregate import Aggregate
    from snapshots.repository import SnapshottingRepository


@dataclass
class Outcome:
    """Counts that never overlap: each aggregate is written, already current, missing or failed."""

    written: int = 0
    #: Of `written`: those that replaced an unusable snapshot (stale, corrupt, impossible).
    replaced: int = 0
    current: int = 0
    missing: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)

    @property
    def done(self) -> int:
        return self.written + self.current + len(self.missing) + len(self.failed)


def backfill(
    cls: type[Aggregate],
    ids: Iterable[str],
    repository: SnapshottingRepository,
    progress: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """Hydrate each aggregate (from its latest snapshot) and snapshot it unless that one is current."""
    outcome = Outcome()
    for aggregate_id in ids:
        _one(cls, aggregate_id, repository, outcome)
        if progress is not None:
            progress(outcome)
    return outcome


def _one(cls: type[Aggregate], aggregate_id: str, repository: SnapshottingRepository, outcome: Outcome) -> None:
    aggregate = cls(aggregate_id, repository=repository)
    loaded = repository.hydrate(aggregate)
    if aggregate.version == 0:
        outcome.missing.append(aggregate_id)
        return
    if loaded.snapshot_version == aggregate.version:
        outcome.current += 1
        return
    try:
        written = repository.save(aggregate)
    except (SnapshotError, StoreError, ClientError, BotoCoreError) as exc:  # one failure must not stop the rest
        outcome.failed.append((aggregate_id, describe(exc)))
        return
    if written:
        outcome.written += 1
        outcome.replaced += loaded.snapshot_skipped is not None
        return
    # Refused: another writer changed the stored snapshot since this hydrate. Current now, or not?
    again = cls(aggregate_id, repository=repository)
    if repository.hydrate(again).snapshot_version == again.version:
        outcome.current += 1
    else:
        why = loaded.snapshot_skipped or "none was stored"
        outcome.failed.append((aggregate_id, f"the snapshot at version {aggregate.version} was not written ({why}): "
                                             "the stored one changed meanwhile; run the backfill again"))


def aggregate_ids(table: str, client: DynamoDBClient) -> Iterator[str]:
    """Every aggregate id in an events table: one Scan (page by page) for the items numbered 1, and for the
    archive markers (numbered 0.25) of aggregates whose first events moved to S3 (`core.archive`)."""
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "#id",
        # Every aggregate has exactly one first event; snapshot items never have number 1.
        "FilterExpression": "#n = :one OR #n = :archived",
        "ExpressionAttributeNames": {"#id": "id", "#n": "number"},
        "ExpressionAttributeValues": {":one": {"N": "1"}, ":archived": {"N": "0.25"}},
    }
    last = None
    for item in paged_items(lambda page_request: client.scan(**page_request), request):
        # a partition's items come together, in key order: both items of one aggregate (while an archive is
        # under way) come one after the other, so the id is given once
        if item["id"]["S"] != last:
            last = item["id"]["S"]
            yield last
