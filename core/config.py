"""The composition root: the one place that reads the environment and builds AWS clients.

Clients are built lazily and once (`functools.cache`), never at import time, so tests and the local stack
can point them anywhere before first use; `reset()` forgets them when the environment changes.
Boto3 itself reads the standard AWS variables (`AWS_ENDPOINT_URL`, `AWS_DEFAULT_REGION`, credentials).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError

from core.errors import ConfigurationError

if TYPE_CHECKING:
    from botocore.client import BaseClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

#: The services the project builds clients for; the boto3 stubs type each one's client.
Service = Literal["dynamodb", "dynamodbstreams", "s3", "sqs"]

#: Standard retry mode: throttling and 5xx are retried with backoff; conditional failures are not.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def table_name(default: str) -> str:
    """The events table for an aggregate whose class names `default`: `LOANS_TABLE` overrides `Loans`."""
    return env(f"{default.upper()}_TABLE", default) or default


@functools.cache
def session() -> boto3.session.Session:
    """The boto3 session; `AWS_REGION` (what Lambda and the other SDKs set) counts when `AWS_DEFAULT_REGION`
    is unset, since botocore reads only the latter."""
    return boto3.session.Session(region_name=None if env("AWS_DEFAULT_REGION") else env("AWS_REGION"))


@overload
def build_client(service: Literal["dynamodb"], extra: Config | None = None, **options: Any) -> DynamoDBClient: ...
@overload
def build_client(
    service: Literal["dynamodbstreams"], extra: Config | None = None, **options: Any
) -> DynamoDBStreamsClient: ...
@overload
def build_client(service: Literal["s3"], extra: Config | None = None, **options: Any) -> S3Client: ...
@overload
def build_client(service: Literal["sqs"], extra: Config | None = None, **options: Any) -> SQSClient: ...
def build_client(service: Service, extra: Config | None = None, **options: Any) -> BaseClient:
    """A new client with the project's retry and timeout settings (merged with `extra`).

    Every client is built here, so a missing region is one `ConfigurationError` that says what to set, for
    every service alike (S3 alone would quietly fall back to us-east-1, away from the tables).
    """
    try:
        if options.get("region_name") is None and session().region_name is None:
            raise NoRegionError
        made: BaseClient = session().client(
            service, config=CLIENT_CONFIG.merge(extra) if extra else CLIENT_CONFIG, **options
        )
        return made
    except NoRegionError as exc:
        raise ConfigurationError(
            f"no AWS region for the {service} client: set AWS_DEFAULT_REGION (or AWS_REGION), "
            "or run `aws-es local` and use the exports it prints"
        ) from exc


@functools.cache
def dynamodb_client() -> DynamoDBClient:
    return build_client("dynamodb")


@overload
def client(service: Literal["dynamodb"], **options: Any) -> DynamoDBClient: ...
@overload
def client(service: Literal["dynamodbstreams"], **options: Any) -> DynamoDBStreamsClient: ...
@overload
def client(service: Literal["s3"], **options: Any) -> S3Client: ...
@overload
def client(service: Literal["sqs"], **options: Any) -> SQSClient: ...
def client(service: Service, **options: Any) -> BaseClient:
    """Any other client (s3, dynamodbstreams, sqs), built once per service and options."""
    return _cached_client(service, **options)


@functools.cache
def _cached_client(service: Service, **options: Any) -> BaseClient:
    return build_client(service, **options)


#: Functions `reset()` also calls: packages that cache by configuration (snapshots) register theirs.
_RESET_HOOKS: list[Callable[[], None]] = []


def on_reset(hook: Callable[[], None]) -> Callable[[], None]:
    """Have `reset()` call `hook` too; returns it, so it can decorate."""
    if hook not in _RESET_HOOKS:
        _RESET_HOOKS.append(hook)
    return hook


def reset() -> None:
    """Forget every client and default store (after the environment changed)."""
    session.cache_clear()
    dynamodb_client.cache_clear()
    _cached_client.cache_clear()
    from core import repository

    repository.reset_defaults()
    for hook in _RESET_HOOKS:
        hook()
