"""Snapshot errors: each says what was wrong and what to do."""

from __future__ import annotations

from core.errors import EventSourcingError


class SnapshotError(EventSourcingError):
    """Raised when a snapshot cannot be taken, written or read; never raised out of `commit`."""


class SnapshotCorruptError(SnapshotError):
    """Raised when a stored snapshot cannot be decoded (truncated, edited, missing fields).

    Hydrate catches it, logs it and replays the log instead; `version` is the stored version when known,
    `token` what names exactly the stored copy (`snapshots.store.Stored`), so a writer can replace it.
    """

    def __init__(self, message: str, *, version: int | None = None, token: str | None = None) -> None:
        super().__init__(message)
        self.version = version
        self.token = token


class SnapshotTooLargeError(SnapshotError):
    """Raised before anything is sent when a snapshot would exceed DynamoDB's 400 KB item limit."""

    def __init__(self, aggregate_type: str, aggregate_id: str, size: int, limit: int) -> None:
        super().__init__(
            f"snapshot of {aggregate_type} {aggregate_id!r} is {size:,} bytes as a DynamoDB item, over the "
            f"{limit:,}-byte limit; keep large states in S3 instead (SNAPSHOT_STORE=s3 with SNAPSHOT_BUCKET)"
        )
        self.aggregate_type = aggregate_type
        self.aggregate_id = aggregate_id
        self.size = size
        self.limit = limit
