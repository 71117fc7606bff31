"""The one reader of the environment: every variable the service knows, read once into frozen `Settings`.

A bad value raises `ConfigurationError` naming the variable and what it must be. The region is read here so
that `AWS_REGION` (what Lambda sets) counts when `AWS_DEFAULT_REGION` is unset; the endpoint
(`AWS_ENDPOINT_URL`, and `AWS_ENDPOINT_URL_S3` for S3) so that the App passes it to every client explicitly,
and a local stack can hand its own to an App without touching the environment. Credentials are boto3's to
find, unless given (the local stack's).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import ConfigurationError
from projections.runner import RunnerSettings
from snapshots.settings import SnapshotSettings, parse_snapshot_settings

DEFAULT_MODULES = ("loans",)
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def variable_for(table: str) -> str:
    """The variable overriding a declared table name: `AccountBalance` -> `ACCOUNT_BALANCE_TABLE`."""
    words = _WORD_BOUNDARY.sub("_", table).replace("-", "_").upper()
    return f"{words}_TABLE"


@dataclass(frozen=True)
class ProjectionSettings:
    control_table: str = "ProjectionControl"
    on_failure_queue: str = "aws-es-projector-failures"
    shards: int = 8
    control_ttl: float = 5.0
    #: seconds a query given `min_version` waits for the row to reach it (`QUERY_CONSISTENCY_WAIT`)
    consistency_wait: float = 2.0
    runner: RunnerSettings = field(default_factory=RunnerSettings)


@dataclass(frozen=True)
class Settings:
    """Everything configurable, checked; built by `from_env` (or directly, in tests)."""

    modules: tuple[str, ...] = DEFAULT_MODULES
    region: str | None = None
    #: Every client's endpoint (None: boto3's default for the region).
    endpoint: str | None = None
    #: S3's endpoint when it differs; also switches S3 to path-style addressing.
    s3_endpoint: str | None = None
    #: An access key id and secret every client uses (None: boto3 finds them); not read from the environment.
    credentials: tuple[str, str] | None = field(default=None, repr=False)
    snapshots: SnapshotSettings = field(default_factory=SnapshotSettings)
    projections: ProjectionSettings = field(default_factory=ProjectionSettings)
    tables: Mapping[str, str] = field(default_factory=dict)
    #: The KMS key (id, alias or ARN) that wraps each subject's data key; None: the local key store, which keeps
    #: the data keys unwrapped in the key table (the embedded stack and tests, never an account with real people).
    personal_kms_key: str | None = None
    #: The ISO 4217 code the dashboard shows every amount in (`CURRENCY`, default USD).
    currency: str = "USD"
    #: The bucket cold events are archived to (`aws-es archive`); None: archiving is off, and every event store
    #: is the table's alone. `archive_prefix` heads every archive object's key.
    archive_bucket: str | None = None
    archive_prefix: str = "archive/"

    def table_name(self, declared: str) -> str:
        """The physical name of a declared table: `<UPPER_SNAKE>_TABLE` overrides it when set."""
        return self.tables.get(variable_for(declared), declared)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        values = {name: value for name, value in (os.environ if environ is None else environ).items() if value}
        return cls(
            modules=_modules(values.get("AWS_ES_MODULES")),
            region=values.get("AWS_DEFAULT_REGION") or values.get("AWS_REGION"),
            endpoint=values.get("AWS_ENDPOINT_URL"),
            s3_endpoint=values.get("AWS_ENDPOINT_URL_S3") or values.get("AWS_ENDPOINT_URL"),
            snapshots=parse_snapshot_settings(values),
            projections=_projection_settings(values),
            tables={name: value for name, value in values.items() if name.endswith("_TABLE")},
            personal_kms_key=values.get("PERSONAL_KMS_KEY"),
            currency=_currency(values.get("CURRENCY", "USD")),
            archive_bucket=values.get("ARCHIVE_BUCKET"),
            archive_prefix=_prefix(values.get("ARCHIVE_PREFIX", "archive/")),
        )


def _currency(text: str) -> str:
    if not re.fullmatch(r"[A-Z]{3}", text):
        raise ConfigurationError(f"CURRENCY must be a three-letter ISO 4217 code such as USD or EUR, not {text!r}")
    return text


def _prefix(text: str) -> str:
    if not text.endswith("/") or text.startswith("/") or "//" in text:
        raise ConfigurationError(f"ARCHIVE_PREFIX={text!r} must be a key prefix ending in '/' (archive/)")
    return text


def _modules(text: str | None) -> tuple[str, ...]:
    if text is None:
        return DEFAULT_MODULES
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise ConfigurationError(f"AWS_ES_MODULES={text!r} must be comma-separated module names, none empty")
    return tuple(dict.fromkeys(names))


def _projection_settings(values: Mapping[str, str]) -> ProjectionSettings:
    return ProjectionSettings(
        control_table=values.get("PROJECTION_CONTROL_TABLE", "ProjectionControl"),
        on_failure_queue=values.get("ON_FAILURE_QUEUE", "aws-es-projector-failures"),
        shards=_number(values, "PROJECTION_COUNTER_SHARDS", "8", int, 1, 1000),
        control_ttl=_number(values, "PROJECTION_CONTROL_TTL", "5", float, 0, 3600),
        consistency_wait=_number(values, "QUERY_CONSISTENCY_WAIT", "2", float, 0, 15),
        runner=RunnerSettings(
            batch_size=_number(values, "PROJECTOR_BATCH_SIZE", "100", int, 1, 10_000),
            window=_number(values, "PROJECTOR_BATCH_WINDOW", "0.5", float, 0, 300),
            max_retries=_number(values, "PROJECTOR_MAX_RETRIES", "2", int, 0, 10_000),
            bisect=_flag(values, "PROJECTOR_BISECT", "true"),
        ),
    )


def _number(values: Mapping[str, str], name: str, default: str, kind: type, low: float, high: float) -> Any:
    text = values.get(name, default)
    try:
        value = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ConfigurationError(f"{name}={text!r} must be {what}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name}={text!r} must be between {low} and {high}")
    return value


def _flag(values: Mapping[str, str], name: str, default: str) -> bool:
    text = values.get(name, default).lower()
    if text not in ("true", "false", "1", "0"):
        raise ConfigurationError(f"{name}={text!r} must be true or false")
    return text in ("true", "1")
