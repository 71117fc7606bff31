"""The snapshot store contract (testkit's suite, the one users run on their own stores), run against every
backend: in-memory fake, DynamoDB and S3 on moto; then what only one backend can get wrong."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from core.dynamodb import DynamoDBEventStore
from snapshots import SnapshotCorruptError, SnapshotTooLargeError, take
from snapshots.store import Stored
from testkit import SnapshotStoreContract
from tests.snapshot_support import loan_events, make_backend, replayed


class TestInMemorySnapshotStore(SnapshotStoreContract):
    def create_store(self):
        return make_backend("memory").snapshots


@pytest.mark.usefixtures("aws")
class TestDynamoDBSnapshotStore(SnapshotStoreContract):
    def create_store(self):
        return make_backend("dynamodb").snapshots

    def events_for(self, store):  # its snapshots live in the events table's partitions
        return DynamoDBEventStore(store.table, client=store.client)


class OneRequestAtATime:
    """An S3 client whose requests take turns: S3 decides a conditional put atomically, in-process moto checks the
    condition and writes without a lock, so racing threads could both pass it there."""

    def __init__(self, client: Any) -> None:
        self._client, self._lock = client, threading.Lock()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return found(*args, **kwargs)

        return call


@pytest.mark.usefixtures("aws")
class TestS3SnapshotStore(SnapshotStoreContract):
    def create_store(self):
        store = make_backend("s3").snapshots
        store._client = OneRequestAtATime(store.client)
        return store


def snapshot_at(version: int, aggregate_id: str = "loan-1"):
    return take(replayed(aggregate_id, loan_events(version)[:version]))


def test_dynamodb_keeps_one_snapshot_item_and_events_readers_skip_it(aws):
    backend = make_backend("dynamodb")
    backend.write_events("loan-1", loan_events(9))
    first = snapshot_at(5)
    backend.snapshots.put(first)
    backend.snapshots.put(snapshot_at(7))  # a writer that did not know of the one at 5: swept all the same
    backend.snapshots.put(snapshot_at(9), replaces=Stored(5, first.checksum))
    items = backend.dynamodb.query(TableName="Loans", KeyConditionExpression="id = :id",
                                   ExpressionAttributeValues={":id": {"S": "loan-1"}})["Items"]
    assert [item["number"]["N"] for item in items if "kind" in item] == ["9.5"]
    assert [item["kind"]["S"] for item in items if "kind" in item] == ["snapshot"]
    assert [record.number for record in backend.events.read("loan-1")] == list(range(1, 13))


def test_dynamodb_refuses_a_state_too_large_and_names_s3(aws):
    backend = make_backend("dynamodb")
    loan = replayed("big", loan_events(3))
    loan.notes = "x" * 420_000
    with pytest.raises(SnapshotTooLargeError, match=r"big.*4\d\d,\d{3} bytes.*409,600.*SNAPSHOT_STORE=s3"):
        backend.snapshots.put(take(loan))
    assert backend.snapshots.get("Loan", "big") is None


def test_s3_requests_encryption_and_keeps_one_object(aws):
    backend = make_backend("s3")
    backend.snapshots.put(snapshot_at(5))
    backend.snapshots.put(snapshot_at(9))
    listed = backend.s3.list_objects_v2(Bucket="loan-snapshots")["Contents"]
    assert [item["Key"] for item in listed] == ["snapshots/Loan/loan-1.json"]
    head = backend.s3.head_object(Bucket="loan-snapshots", Key="snapshots/Loan/loan-1.json")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["Metadata"] == {"version": "9"}


@pytest.mark.parametrize("body, message", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"aggregate_type": "Loan"}', "field 'aggregate_id' is missing"),
    (b'{"aggregate_type": "Loan", "aggregate_id": "loan-1", "version": "9"}', "'version' must be int"),
])
def test_s3_damaged_object_is_a_corrupt_error(aws, body, message):
    backend = make_backend("s3")
    backend.plant_bytes("loan-1", body)
    with pytest.raises(SnapshotCorruptError, match=message):
        backend.snapshots.get("Loan", "loan-1")


def test_a_damaged_object_at_a_version_is_replaced_when_named(aws):
    backend = make_backend("s3")
    backend.s3.put_object(Bucket="loan-snapshots", Key=backend.snapshots.key("Loan", "loan-1"), Body=b"{trunc",
                          Metadata={"version": "9"})
    with pytest.raises(SnapshotCorruptError) as caught:
        backend.snapshots.get("Loan", "loan-1")
    fresh = snapshot_at(9)
    assert backend.snapshots.put(fresh) is False
    assert backend.snapshots.put(fresh, replaces=Stored(caught.value.version, caught.value.token))
    assert backend.snapshots.get("Loan", "loan-1") == fresh


def test_dynamodb_damaged_item_is_replaced_when_named(aws):
    backend = make_backend("dynamodb")
    backend.dynamodb.put_item(TableName="Loans", Item={
        "id": {"S": "loan-1"}, "number": {"N": "9.5"}, "kind": {"S": "snapshot"}, "version": {"N": "9"},
    })
    with pytest.raises(SnapshotCorruptError) as caught:
        backend.snapshots.get("Loan", "loan-1")
    fresh = snapshot_at(9)
    assert backend.snapshots.put(fresh) is False
    assert backend.snapshots.put(fresh, replaces=Stored(9, caught.value.token))
    assert backend.snapshots.get("Loan", "loan-1") == fresh


def test_s3_damaged_object_is_replaced_by_the_next_put(aws):
    backend = make_backend("s3")
    backend.plant_bytes("loan-1", b"garbage")
    assert backend.snapshots.put(snapshot_at(5))
    assert backend.snapshots.get("Loan", "loan-1").version == 5


def test_dynamodb_damaged_item_is_a_corrupt_error(aws):
    backend = make_backend("dynamodb")
    backend.dynamodb.put_item(TableName="Loans", Item={
        "id": {"S": "loan-1"}, "number": {"N": "5.5"}, "kind": {"S": "snapshot"}, "version": {"N": "5"},
    })
    with pytest.raises(SnapshotCorruptError, match="'aggregate_type' is missing"):
        backend.snapshots.get("Loan", "loan-1")


def test_a_missing_bucket_says_what_to_do(aws):
    import boto3

    from core.errors import StoreError
    from snapshots import S3SnapshotStore

    store = S3SnapshotStore("no-such-bucket", client=boto3.client("s3", region_name="us-east-1"))
    with pytest.raises(StoreError, match="aws-es init"):
        store.put(snapshot_at(5))
