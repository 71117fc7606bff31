"""The snapshot store contract, run against every backend: in-memory fake, DynamoDB and S3 on moto."""

from __future__ import annotations

import random
import threading
from dataclasses import replace

import pytest

from snapshots import SnapshotCorruptError, SnapshotTooLargeError, take
from snapshots.store import Stored
from tests.snapshot_support import BACKENDS, loan_events, make_backend, replayed


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, aws: None):
    return make_backend(request.param)


def snapshot_at(version: int, aggregate_id: str = "loan-1"):
    return take(replayed(aggregate_id, loan_events(version)[:version]))


def stored(backend, snapshot) -> Stored:
    """What a reader saw of the stored copy of `snapshot`: its version and token, from `get`."""
    seen = backend.snapshots.get(snapshot.aggregate_type, snapshot.aggregate_id)
    assert seen == snapshot
    return Stored(seen.version, seen.token)


def stale_at(version: int):
    """A snapshot of an older version of the code: another fingerprint, a valid checksum."""
    snapshot = replace(snapshot_at(version), fingerprint="f" * 32)
    return replace(snapshot, checksum=snapshot.computed_checksum())


def test_an_unusable_snapshot_is_replaced_at_its_own_version_only_when_named_exactly(backend):
    stale, fresh = stale_at(9), snapshot_at(9)
    backend.plant(stale)
    seen = stored(backend, stale)
    assert backend.snapshots.put(fresh) is False  # not named: the same version stays
    assert backend.snapshots.put(fresh, replaces=Stored(9, "some-other-copy")) is False
    assert backend.snapshots.get("Loan", "loan-1").fingerprint == "f" * 32
    assert backend.snapshots.put(fresh, replaces=seen) is True
    assert backend.snapshots.get("Loan", "loan-1") == fresh
    assert backend.snapshots.put(stale_at(9), replaces=seen) is False  # that copy is gone: nothing replaced
    assert backend.snapshots.get("Loan", "loan-1") == fresh


def test_an_unusable_snapshot_above_the_log_is_replaced_when_named(backend):
    impossible, fresh = stale_at(40), snapshot_at(9)
    backend.plant(impossible)
    seen = stored(backend, impossible)
    assert backend.snapshots.put(fresh, replaces=seen) is True
    assert backend.snapshots.get("Loan", "loan-1") == fresh


def test_racing_replacements_of_one_unusable_snapshot_write_exactly_one(backend):
    stale = stale_at(9)
    backend.plant(stale)
    seen = stored(backend, stale)
    candidates = [replace(snapshot_at(9), created=f"2026-01-01T00:00:{second:02d}.000000+00:00") for second in range(8)]
    candidates = [replace(snapshot, checksum=snapshot.computed_checksum()) for snapshot in candidates]
    start = threading.Barrier(len(candidates))
    results: list[bool] = []

    def write(snapshot):
        start.wait()
        results.append(backend.snapshots.put(snapshot, replaces=seen))

    threads = [threading.Thread(target=write, args=(snapshot,)) for snapshot in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False] * 7 + [True]
    assert backend.snapshots.get("Loan", "loan-1") in candidates


def test_nothing_stored_is_none(backend):
    assert backend.snapshots.get("Loan", "missing") is None


def test_reads_back_what_was_put(backend):
    snapshot = snapshot_at(5)
    assert backend.snapshots.put(snapshot) is True
    assert backend.snapshots.get("Loan", "loan-1") == snapshot


def test_newer_replaces_older_and_never_the_reverse(backend):
    old, new = snapshot_at(5), snapshot_at(9)
    assert backend.snapshots.put(old)
    assert backend.snapshots.put(new, replaces=stored(backend, old))
    backend.snapshots.put(old)
    assert backend.snapshots.get("Loan", "loan-1") == new
    assert backend.snapshots.put(new) is False  # the same version again: nothing written


def test_aggregates_are_separate(backend):
    backend.snapshots.put(snapshot_at(4, "a"))
    backend.snapshots.put(snapshot_at(6, "b"))
    assert backend.snapshots.get("Loan", "a").version == 4
    assert backend.snapshots.get("Loan", "b").version == 6


def test_racing_writers_leave_the_newest(backend):
    snapshots = [snapshot_at(version) for version in range(4, 24)]
    random.Random(7).shuffle(snapshots)
    start = threading.Barrier(len(snapshots))
    errors: list[BaseException] = []

    def write(snapshot):
        start.wait()
        try:
            backend.snapshots.put(snapshot)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(snapshot,)) for snapshot in snapshots]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert backend.snapshots.get("Loan", "loan-1").version == 23


def test_an_id_with_slashes_and_spaces_is_one_key(backend):
    snapshot = snapshot_at(4, "tenant/7 loan?x=1")
    backend.snapshots.put(snapshot)
    assert backend.snapshots.get("Loan", "tenant/7 loan?x=1") == snapshot
    assert backend.snapshots.get("Loan", "tenant") is None


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
