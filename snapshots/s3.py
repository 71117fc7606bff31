"""Snapshots in S3: one object per aggregate, `<prefix><AggregateType>/<id>.json`, encrypted at rest.

For states too large for a DynamoDB item (400 KB). Hydrate costs two requests: GetObject, then the Query
for the tail (`SeparateSnapshotStore.load`). Writes are conditional puts (`IfNoneMatch="*"` for the first,
`IfMatch=<etag>` to replace), and a writer replaces only an older version (kept in the object's metadata),
so an older snapshot never replaces a newer one whatever order racing writers land in; or the very object a
reader found unusable (named by its ETag), whatever its version.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import quote

from botocore.exceptions import ClientError

from core.errors import StoreError, error_code
from snapshots.envelope import Snapshot
from snapshots.errors import SnapshotCorruptError, SnapshotError
from snapshots.store import SeparateSnapshotStore, Stored

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

#: Conditional puts that lose a race re-read and try again this many times before giving up.
ATTEMPTS = 5
_PRECONDITION_FAILED = ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


class _Condition(TypedDict, total=False):
    """A conditional put's precondition: the key must be free, or hold the object with this ETag."""

    IfNoneMatch: str
    IfMatch: str


class S3SnapshotStore(SeparateSnapshotStore):
    """Snapshot store on one bucket; `client` is a boto3 S3 client (path-style against a local endpoint)."""

    def __init__(self, bucket: str, prefix: str = "snapshots/", client: S3Client | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self._client = client

    @property
    def client(self) -> S3Client:
        if self._client is None:
            from core.config import default_client

            self._client = default_client("s3")
        return self._client

    def key(self, aggregate_type: str, aggregate_id: str) -> str:
        return f"{self.prefix}{aggregate_type}/{quote(aggregate_id, safe='')}.json"

    def get(self, aggregate_type: str, aggregate_id: str) -> Snapshot | None:
        key = self.key(aggregate_type, aggregate_id)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404"):
                return None
            raise self._translate(exc) from exc
        try:
            snapshot = Snapshot.from_document(response["Body"].read(), f"s3://{self.bucket}/{key}")
        except SnapshotCorruptError as exc:
            exc.token = response.get("ETag")
            raise
        return replace(snapshot, token=response.get("ETag"))

    def put(self, snapshot: Snapshot, replaces: Stored | None = None) -> bool:
        key = self.key(snapshot.aggregate_type, snapshot.aggregate_id)
        for _ in range(ATTEMPTS):
            current = self._current(key)
            named = current is not None and replaces is not None and replaces.token == current[0]
            if current is not None and not named and current[1] >= snapshot.version:
                return False
            condition: _Condition = {"IfNoneMatch": "*"} if current is None else {"IfMatch": current[0]}
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=snapshot.to_document(),
                    ContentType="application/json",
                    ServerSideEncryption="AES256",
                    Metadata={"version": str(snapshot.version)},
                    **condition,
                )
                return True
            except ClientError as exc:
                if error_code(exc) not in _PRECONDITION_FAILED:
                    raise self._translate(exc) from exc
        raise SnapshotError(f"snapshot of {snapshot.aggregate_type} {snapshot.aggregate_id!r} lost the race to "
                            f"s3://{self.bucket}/{key} {ATTEMPTS} times in a row; another writer keeps replacing it")

    def _current(self, key: str) -> tuple[str, int] | None:
        """The stored object's ETag and version (-1 when its metadata is damaged: any snapshot may replace it)."""
        try:
            response = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise self._translate(exc) from exc
        try:
            version = int(response.get("Metadata", {}).get("version", "-1"))
        except ValueError:
            version = -1
        return response["ETag"], version

    def _translate(self, exc: ClientError) -> Exception:
        if error_code(exc) in ("NoSuchBucket",):
            return StoreError(f"snapshot bucket {self.bucket!r} does not exist: run `aws-es init` with "
                              "SNAPSHOT_STORE=s3 and SNAPSHOT_BUCKET set")
        return exc
