"""Create the tables (and buckets) the configuration names, idempotently, and wait until they are usable."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from core import config
from core.dynamodb import events_table_definition
from loans import Loan

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

#: Each entry returns CreateTable arguments for one table; other parts of the service add theirs.
TABLE_DEFINITIONS: list[Callable[[], dict[str, Any]]] = [
    lambda: events_table_definition(Loan.default_table()),
]


# -- projections: the live generation's tables and the control table naming it ----------------------
def _projection_definitions() -> list[Callable[[], dict[str, Any]]]:
    from handlers import projection_setup
    from projections.tables import generation_definitions

    def generation(index: int) -> Callable[[], dict[str, Any]]:
        return lambda: generation_definitions(projection_setup.projection(), 0)[index]

    return [generation(0), generation(1), projection_setup.control_definition]


TABLE_DEFINITIONS.extend(_projection_definitions())


def ensure_table(client: DynamoDBClient, definition: dict[str, Any]) -> bool:
    """Create one table unless it exists; wait until it is active. True when it was created now."""
    name = definition["TableName"]
    try:
        client.create_table(**definition)
        created = True
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
        created = False
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    return created


def ensure_definitions(definitions: Iterable[dict[str, Any]]) -> None:
    """Create each of these tables that is missing: a rebuild's generation tables, known only at run time."""
    client = config.dynamodb_client()
    for definition in definitions:
        ensure_table(client, definition)


def ensure_tables(definitions: Iterable[Callable[[], dict[str, Any]]] | None = None) -> list[tuple[str, bool]]:
    client = config.dynamodb_client()
    results = []
    for make in definitions if definitions is not None else TABLE_DEFINITIONS:
        definition = make()
        results.append((definition["TableName"], ensure_table(client, definition)))
    return results


def ensure_bucket(client: S3Client, bucket: str) -> bool:
    """Create one bucket unless it exists already. True when it was created now.

    Asks first: in us-east-1 creating a bucket you own succeeds again, so the create cannot tell.
    """
    try:
        client.head_bucket(Bucket=bucket)
        return False
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("404", "NoSuchBucket", "NotFound"):
            raise
    region = client.meta.region_name
    options: dict[str, Any] = (
        {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    try:
        client.create_bucket(Bucket=bucket, **options)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
        return False
    return True


def ensure_buckets() -> list[tuple[str, bool]]:
    """The snapshot bucket, when the S3 snapshot store is configured."""
    from snapshots.settings import s3_client, settings

    current = settings()
    if current.store != "s3" or current.bucket is None:
        return []
    return [(f"s3://{current.bucket}", ensure_bucket(s3_client(), current.bucket))]
