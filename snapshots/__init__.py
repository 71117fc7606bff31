"""Snapshots: hydrate reads the latest valid snapshot plus the events after it, never the whole history."""

from snapshots.cache import AggregateCache
from snapshots.dynamodb import DynamoDBSnapshotStore
from snapshots.envelope import Snapshot, take
from snapshots.errors import SnapshotCorruptError, SnapshotError, SnapshotTooLargeError
from snapshots.fingerprint import fingerprint
from snapshots.policy import SnapshotPolicy
from snapshots.repository import COUNTERS, SnapshottingRepository
from snapshots.s3 import S3SnapshotStore
from snapshots.store import Head, InMemorySnapshotStore, Seen, SeparateSnapshotStore, SnapshotStore, Stored

__all__ = [
    "COUNTERS",
    "AggregateCache",
    "DynamoDBSnapshotStore",
    "Head",
    "InMemorySnapshotStore",
    "S3SnapshotStore",
    "Seen",
    "SeparateSnapshotStore",
    "Snapshot",
    "SnapshotCorruptError",
    "SnapshotError",
    "SnapshotPolicy",
    "SnapshotStore",
    "SnapshotTooLargeError",
    "SnapshottingRepository",
    "Stored",
    "fingerprint",
    "take",
]
