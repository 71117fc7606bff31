"""Snapshot configuration: `SNAPSHOT_STORE` (`dynamodb` default, `s3`, `off`), `SNAPSHOT_BUCKET` (S3 only),
`SNAPSHOT_PREFIX` (default `snapshots/`), `SNAPSHOT_EVERY` (default 100), `SNAPSHOT_CACHE_SIZE` (aggregates
kept in memory, default 1024, 0 for none). A bad value raises `ConfigurationError` naming the variable.

The values come from the application's settings, which read the environment once; this module only checks
them and builds the configured snapshot store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import ConfigurationError
from snapshots.cache import DEFAULT_SIZE
from snapshots.dynamodb import DynamoDBSnapshotStore
from snapshots.policy import DEFAULT_EVERY
from snapshots.s3 import S3SnapshotStore

if TYPE_CHECKING:
    from snapshots.store import SnapshotStore

STORES = ("dynamodb", "s3", "off")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class SnapshotSettings:
    store: str = "dynamodb"
    bucket: str | None = None
    prefix: str = "snapshots/"
    every: int = DEFAULT_EVERY
    cache_size: int = DEFAULT_SIZE


def parse_snapshot_settings(values: Mapping[str, str]) -> SnapshotSettings:
    """Check the snapshot variables among `values`; the first bad one raises `ConfigurationError`."""
    store = (values.get("SNAPSHOT_STORE") or "dynamodb").lower()
    if store not in STORES:
        raise ConfigurationError(f"SNAPSHOT_STORE must be one of {', '.join(STORES)}, not {store!r}")
    bucket = values.get("SNAPSHOT_BUCKET") or None
    if store == "s3" and bucket is None:
        raise ConfigurationError("SNAPSHOT_STORE=s3 needs SNAPSHOT_BUCKET, the bucket to keep snapshots in")
    if bucket is not None and not _BUCKET.match(bucket):
        raise ConfigurationError(f"SNAPSHOT_BUCKET {bucket!r} is not a valid bucket name: 3-63 characters of "
                                 "lowercase letters, digits, dots and hyphens")
    prefix = values.get("SNAPSHOT_PREFIX") or "snapshots/"
    if prefix.startswith("/"):
        raise ConfigurationError(f"SNAPSHOT_PREFIX {prefix!r} must not start with '/'")
    return SnapshotSettings(store, bucket, prefix, _count(values, "SNAPSHOT_EVERY", DEFAULT_EVERY, 1),
                            _count(values, "SNAPSHOT_CACHE_SIZE", DEFAULT_SIZE, 0))


def _count(values: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    text = values.get(name)
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {text!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be at least {minimum}, not {value}")
    return value


def snapshot_store(table: str, current: SnapshotSettings, dynamodb: Any = None,
                   s3: Any = None) -> SnapshotStore | None:
    """The configured snapshot store for an events table, on the given clients; None when snapshots are off."""
    if current.store == "off":
        return None
    if current.store == "s3":
        return S3SnapshotStore(current.bucket or "", current.prefix, client=s3)
    return DynamoDBSnapshotStore(table, client=dynamodb)
