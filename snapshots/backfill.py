"""Backfill: write a snapshot of each named aggregate now, skipping those whose latest snapshot is current.

Each snapshot is one independent conditional write, so a backfill is safe to interrupt and run again:
the second run finds the finished ones current and carries on with the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from snapshots.errors import SnapshotError

if TYPE_CHECKING:
    from core.aggregate import Aggregate
    from snapshots.repository import SnapshottingRepository


@dataclass
class Outcome:
    written: int = 0
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
        aggregate = cls(aggregate_id, repository=repository)  # type: ignore[call-arg]
        loaded = repository.hydrate(aggregate)
        if aggregate.version == 0:
            outcome.missing.append(aggregate_id)
        elif loaded.snapshot_version == aggregate.version:
            outcome.current += 1
        else:
            try:
                written = repository.save(aggregate)
            except SnapshotError as exc:  # one aggregate's failure (a state too large) must not stop the rest
                outcome.failed.append((aggregate_id, str(exc)))
            else:
                outcome.written += written
                outcome.current += not written
        if progress is not None:
            progress(outcome)
    return outcome


def aggregate_ids(table: str, client: Any) -> Iterator[str]:
    """Every aggregate id in an events table: one Scan (page by page) for the items numbered 1."""
    request: dict[str, Any] = {
        "TableName": table,
        "ProjectionExpression": "#id",
        # Every aggregate has exactly one first event; snapshot items never have number 1.
        "FilterExpression": "#n = :one",
        "ExpressionAttributeNames": {"#id": "id", "#n": "number"},
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
    while True:
        page = client.scan(**request)
        for item in page.get("Items", ()):
            yield item["id"]["S"]
        if "LastEvaluatedKey" not in page:
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
