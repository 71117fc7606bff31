"""Create the tables (and buckets) the configuration names, idempotently, and wait until they are usable."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from core.kms_keys import keys_table_definition
from handlers import idempotency
from handlers.settings import Settings

#: The personal data keys' table, as declared (`PERSONAL_KEYS_TABLE` overrides it).
KEYS_TABLE = "PersonalKeys"

if TYPE_CHECKING:
    from handlers.app import App

#: Tables beyond the registry's (each entry returns CreateTable arguments for the given settings): the commands'
#: idempotency table and the personal data keys' table.
TABLE_DEFINITIONS: list[Callable[[Settings], dict[str, Any]]] = [
    idempotency.table_definition,
    lambda settings: keys_table_definition(settings.table_name(KEYS_TABLE)),
]


def ensure_table(client: Any, definition: dict[str, Any]) -> bool:
    """Create one table unless it exists; wait until it is active. True when it was created now.
    A `TimeToLiveSpecification` (not a CreateTable argument) is applied once the table is active."""
    definition = dict(definition)
    ttl = definition.pop("TimeToLiveSpecification", None)
    name = definition["TableName"]
    try:
        client.create_table(**definition)
        created = True
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceInUseException":
            raise
        created = False
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    if ttl is not None:
        current = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    return created


def ensure_tables(app: App, definitions: Iterable[dict[str, Any]] | None = None) -> list[tuple[str, bool]]:
    """Every table `app`'s registry needs (`App.table_definitions`), or just `definitions`, with `app`'s client."""
    if definitions is None:
        definitions = [*app.table_definitions(), *(make(app.settings) for make in TABLE_DEFINITIONS)]
    return [(definition["TableName"], ensure_table(app.dynamodb, definition)) for definition in definitions]


def ensure_bucket(client: Any, bucket: str) -> bool:
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
    options = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    try:
        client.create_bucket(Bucket=bucket, **options)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
        return False
    return True


def ensure_buckets(app: App) -> list[tuple[str, bool]]:
    """The snapshot bucket, when `app`'s settings configure the S3 snapshot store, and the archive's bucket,
    when `ARCHIVE_BUCKET` names one."""
    snapshots = app.settings.snapshots
    buckets = [snapshots.bucket] if snapshots.store == "s3" and snapshots.bucket is not None else []
    if app.settings.archive_bucket and app.settings.archive_bucket not in buckets:
        buckets.append(app.settings.archive_bucket)
    return [(f"s3://{bucket}", ensure_bucket(app.s3, bucket)) for bucket in buckets]
