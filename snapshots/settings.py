"""Snapshot configuration, read once through `core.config.env`, and the default repository it builds.

`SNAPSHOT_STORE` (`dynamodb` default, `s3`, `off`), `SNAPSHOT_BUCKET` (S3 only), `SNAPSHOT_PREFIX`
(default `snapshots/`), `SNAPSHOT_EVERY` (default 100), `SNAPSHOT_CACHE_SIZE` (aggregates kept in memory,
default 1024, 0 for none). A bad value raises `ConfigurationError` naming the variable.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.config import Config

from core import config
from core.dynamodb import DynamoDBEventStore
from core.errors import ConfigurationError
from snapshots.cache import DEFAULT_SIZE, AggregateCache
from snapshots.dynamodb import DynamoDBSnapshotStore
from snapshots.policy import DEFAULT_EVERY, SnapshotPolicy
from snapshots.repository import SnapshottingRepository
from snapshots.s3 import S3SnapshotStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from core.aggregate import Aggregate
    from snapshots.store import SnapshotStore

STORES = ("dynamodb", "s3", "off")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class SnapshotSettings:
    store: str
    bucket: str | None
    prefix: str
    every: int
    cache_size: int


def settings() -> SnapshotSettings:
    """Read and check the snapshot variables; the first bad one raises `ConfigurationError`."""
    store = (config.env("SNAPSHOT_STORE", "dynamodb") or "dynamodb").lower()
    if store not in STORES:
        raise ConfigurationError(f"SNAPSHOT_STORE must be one of {', '.join(STORES)}, not {store!r}")
    bucket = config.env("SNAPSHOT_BUCKET")
    if store == "s3" and bucket is None:
        raise ConfigurationError("SNAPSHOT_STORE=s3 needs SNAPSHOT_BUCKET, the bucket to keep snapshots in")
    if bucket is not None and not _BUCKET.match(bucket):
        raise ConfigurationError(f"SNAPSHOT_BUCKET {bucket!r} is not a valid bucket name: 3-63 characters of "
                                 "lowercase letters, digits, dots and hyphens")
    prefix = config.env("SNAPSHOT_PREFIX", "snapshots/") or "snapshots/"
    if prefix.startswith("/"):
        raise ConfigurationError(f"SNAPSHOT_PREFIX {prefix!r} must not start with '/'")
    return SnapshotSettings(store, bucket, prefix, _count("SNAPSHOT_EVERY", DEFAULT_EVERY, 1),
                            _count("SNAPSHOT_CACHE_SIZE", DEFAULT_SIZE, 0))


def _count(name: str, default: int, minimum: int) -> int:
    text = config.env(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {text!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, not {value}")
    return value


@functools.cache
def s3_client() -> S3Client:
    """The S3 client: path-style addressing when an endpoint is configured (a local stack has no DNS)."""
    local = config.env("AWS_ENDPOINT_URL_S3") or config.env("AWS_ENDPOINT_URL")
    options = Config(s3={"addressing_style": "path" if local else "auto"})
    return config.build_client("s3", options)


def snapshot_store(table: str, current: SnapshotSettings | None = None) -> SnapshotStore | None:
    """The configured snapshot store for an events table, or None when snapshots are off."""
    current = current or settings()
    if current.store == "off":
        return None
    if current.store == "s3":
        return S3SnapshotStore(current.bucket or "", current.prefix)
    return DynamoDBSnapshotStore(table)


@functools.cache
def default_repository(cls: type[Aggregate], table: str) -> SnapshottingRepository:
    """What `Loan(id)` uses when nothing is injected (wired by `loans` through `repository_factory`)."""
    current = settings()
    return SnapshottingRepository(
        DynamoDBEventStore(table),
        snapshot_store(table, current),
        SnapshotPolicy(every=current.every, enabled=current.store != "off"),
        AggregateCache(current.cache_size),
    )


@config.on_reset
def reset() -> None:
    """Forget the default repositories (and their caches) and the S3 client: the environment changed."""
    default_repository.cache_clear()
    s3_client.cache_clear()
