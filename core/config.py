"""Plain boto3 clients with the project's retry and timeout settings: the default of every store and reader
that is given no client (as powertools does). Configuration is read above the core, never here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

import boto3
from botocore.config import Config
from botocore.exceptions import NoRegionError

from core.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

#: The services the project builds clients for (each has its own overload, as the stubs' `Session.client`).
Service = Literal["dynamodb", "dynamodbstreams", "s3", "sqs", "kms"]

#: Standard retry mode: throttling and 5xx are retried with backoff; conditional failures are not.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


@overload
def default_client(
    service: Literal["dynamodb"], extra: Config | None = None, region: str | None = None, **options: Any
) -> DynamoDBClient: ...
@overload
def default_client(
    service: Literal["dynamodbstreams"], extra: Config | None = None, region: str | None = None, **options: Any
) -> DynamoDBStreamsClient: ...
@overload
def default_client(
    service: Literal["s3"], extra: Config | None = None, region: str | None = None, **options: Any
) -> S3Client: ...
@overload
def default_client(
    service: Literal["sqs"], extra: Config | None = None, region: str | None = None, **options: Any
) -> SQSClient: ...
@overload
def default_client(
    service: Literal["kms"], extra: Config | None = None, region: str | None = None, **options: Any
) -> Any: ...
def default_client(
    service: Service, extra: Config | None = None, region: str | None = None, **options: Any
) -> Any:
    """A new client with the project's retry and timeout settings (merged with `extra`).

    A missing region is one `ConfigurationError` that says what to set, for every service alike (S3 alone
    would quietly fall back to us-east-1, away from the tables).
    """
    session = boto3.session.Session(region_name=region)
    try:
        if session.region_name is None:
            raise NoRegionError
        return session.client(service, config=CLIENT_CONFIG.merge(extra) if extra else CLIENT_CONFIG, **options)
    except NoRegionError as exc:
        raise ConfigurationError(
            f"no AWS region for the {service} client: set AWS_DEFAULT_REGION (or AWS_REGION), "
            "or run `aws-es local` and use the exports it prints"
        ) from exc
