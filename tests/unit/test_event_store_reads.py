"""The event store's reads (`read_backwards`, `scan`, `estimate`) beyond the contract every store passes
(testkit's `EventStoreContract`, run by tests/unit/test_store_contract.py): what each backend keeps beside its
events, what a read costs, how segments are assigned, stream images, and properties over any histories. The
backends: the in-memory fake, DynamoDB on moto with its own pages, and DynamoDB on moto with two-item pages (so
every read crosses many pages, and moto's last page, where `Limit` equals the items left, comes without a
key)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from itertools import count, islice
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from core.dynamodb import DynamoDBEventStore, event_from_image, events_table_definition, to_item
from core.errors import InvalidReadError, MalformedItemError, StoreError
from core.events import RecordedEvent
from core.metering import RequestMeter
from core.store import InMemoryEventStore, segment_of
from testkit.contracts.event_store import in_runs

BACKENDS = ("memory", "dynamodb", "dynamodb-paged")
ROOT = Path(__file__).resolve().parents[2]


def record(number: int, data: str = "{}") -> RecordedEvent:
    return RecordedEvent(number, "Happened", "2026-01-01T00:00:00.000000+00:00", data)


def events(first: int, last: int) -> list[RecordedEvent]:
    return [record(number, f'{{"n":{number}}}') for number in range(first, last + 1)]


def write(store: InMemoryEventStore, aggregate_id: str, size: int) -> None:
    """Append events 1..`size`, a hundred at a time (the most one atomic append holds)."""
    for start in range(0, size, 100):
        store.append(aggregate_id, start, events(start + 1, min(size, start + 100)))


class Backend:
    """A store, and a way to put beside its events what the backend keeps in a partition besides them."""

    def __init__(self, kind: str, client: Any = None, table: str = "Loans") -> None:
        self.kind, self.client, self.table = kind, client, table
        if kind == "memory":
            self.store: Any = InMemoryEventStore()
            return
        client.create_table(**events_table_definition(table))
        self.store = DynamoDBEventStore(table, client, page_size=2 if kind == "dynamodb-paged" else None)

    def write(self, aggregate_id: str, size: int) -> None:
        """Setup, not the code under test: batch writes on moto (its transactions copy the whole table)."""
        if self.kind == "memory":
            write(self.store, aggregate_id, size)
            return
        items = [to_item(aggregate_id, event) for event in events(1, size)]
        for start in range(0, len(items), 25):
            self.client.batch_write_item(RequestItems={self.table: [{"PutRequest": {"Item": item}}
                                                                    for item in items[start:start + 25]]})

    def plant_snapshot_item(self, aggregate_id: str, version: int) -> None:
        """A snapshot item kept in the partition, numbered just above its event (DynamoDB only)."""
        if self.kind != "memory":
            self.client.put_item(TableName=self.table, Item={
                "id": {"S": aggregate_id}, "number": {"N": f"{version}.5"}, "kind": {"S": "snapshot"},
                "state": {"S": "{}"}, "version": {"N": str(version)}})


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return Backend("memory")
    request.getfixturevalue("aws")
    return Backend(request.param, boto3.client("dynamodb", region_name="us-east-1"))


def numbers(events: Iterator[RecordedEvent]) -> list[int]:
    return [event.number for event in events]


# -- read_backwards ------------------------------------------------------------------------------------------

def test_reading_the_newest_few_costs_one_small_request(aws):
    client = boto3.client("dynamodb", region_name="us-east-1")
    backend = Backend("dynamodb", client)
    backend.write("a", 450)
    store = backend.store
    meter = RequestMeter()
    meter.attach(client)
    assert numbers(islice(store.read_backwards("a"), 50)) == list(range(450, 400, -1))
    assert meter.requests == 1
    small = meter.bytes_received
    assert numbers(store.read_backwards("a", 401)) == list(range(400, 0, -1))
    assert meter.requests == 1 + 3  # pages of 64, 128 and 256 items: they grow, so a full read stays cheap
    assert meter.bytes_received > 3 * small


# -- scan ----------------------------------------------------------------------------------------------------

HISTORIES = {"a": 5, "b": 1, "c": 12, "loan-\u00e9": 3, "d": 2, "e": 7, "f": 4, "g": 1}


def everything(histories: dict[str, int]) -> list[tuple[str, int]]:
    return sorted((aggregate_id, number) for aggregate_id, size in histories.items() for number in range(1, size + 1))


def fill(backend: Backend, histories: dict[str, int]) -> None:
    for aggregate_id, size in histories.items():
        backend.write(aggregate_id, size)
        backend.plant_snapshot_item(aggregate_id, size // 2)


@pytest.mark.parametrize("kind", ["dynamodb", "dynamodb-paged"])
def test_snapshot_items_in_a_partition_are_not_read_as_events(aws, kind):
    backend = Backend(kind, boto3.client("dynamodb", region_name="us-east-1"))
    fill(backend, HISTORIES)
    backend.plant_snapshot_item("c", 12)
    assert numbers(backend.store.read_backwards("c")) == list(range(12, 0, -1))
    assert numbers(backend.store.read_backwards("c", 7)) == list(range(6, 0, -1))
    for of in (1, 3):
        found = []
        for segment in range(of):
            listing = list(backend.store.scan(segment, of))
            in_runs(listing)
            found += [(aggregate_id, event.number) for aggregate_id, event in listing]
        assert sorted(found) == everything(HISTORIES)


def test_a_scan_with_bad_arguments_sends_no_request(aws):
    backend = Backend("dynamodb", boto3.client("dynamodb", region_name="us-east-1"))
    meter = RequestMeter()
    meter.attach(backend.client)
    for arguments in ({"of": 0}, {"segment": 3, "of": 3}, {"start_after": ("a", 0)}):
        with pytest.raises(InvalidReadError):
            backend.store.scan(**arguments)
    assert meter.requests == 0


def test_the_in_memory_scan_refuses_to_resume_a_segment_from_another_ones_position():
    store = InMemoryEventStore()
    write(store, "a", 2)
    elsewhere = 1 - segment_of("a", 2)
    with pytest.raises(InvalidReadError, match="not in segment") as raised:
        store.scan(elsewhere, 2, start_after=("a", 1))
    assert raised.value.argument == "start_after"


def test_dynamodb_refusing_a_resume_key_is_a_bad_start_after(aws):
    """DynamoDB answers a ValidationException to a key outside the segment (moto does not check: planted)."""
    client = boto3.client("dynamodb", region_name="us-east-1")
    store = Backend("dynamodb", client).store

    def refuse(request: Any, **_: Any) -> AWSResponse:
        body = b'{"__type": "ValidationException", "message": "The provided starting key is invalid"}'
        return AWSResponse(request.url, 400, {}, _Raw(body))

    client.meta.events.register("before-send.dynamodb.Scan", refuse)
    with pytest.raises(InvalidReadError, match="`start_after` \\('a', 3\\) was refused by DynamoDB") as raised:
        list(store.scan(1, 4, start_after=("a", 3)))
    assert raised.value.argument == "start_after"
    with pytest.raises(ClientError, match="ValidationException"):  # without a key, nothing to blame on it
        list(store.scan(1, 4))


class _Raw:
    """A raw HTTP body botocore can read."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body

    def read(self, *_: Any) -> bytes:
        return self.body


def test_in_memory_segments_are_the_same_in_every_process():
    """A rebuild's workers are separate processes: each must agree on which aggregates are its own."""
    ids = [f"loan-{n}" for n in range(40)] + ["\u00e9t\u00e9", "a" * 200]
    program = ("import json, sys; from core.store import segment_of; "
               "print(json.dumps([segment_of(i, 7) for i in json.loads(sys.argv[1])]))")
    outputs = set()
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", program, json.dumps(ids)], env=env, capture_output=True,
                              text=True, check=True, timeout=60, cwd=ROOT)
        outputs.add(done.stdout)
    assert outputs == {json.dumps([segment_of(i, 7) for i in ids]) + "\n"}
    assert len(set(json.loads(outputs.pop()))) == 7  # and they spread over every segment


def test_reads_of_a_missing_table_say_to_run_init(aws):
    store = DynamoDBEventStore("Nope", boto3.client("dynamodb", region_name="us-east-1"))
    for read in (lambda: list(store.scan()), lambda: list(store.read_backwards("a")), store.estimate):
        with pytest.raises(StoreError, match="'Nope' does not exist: run `aws-es init`"):
            read()


# -- estimate ------------------------------------------------------------------------------------------------

def test_estimate_counts_what_the_store_holds(backend):
    assert backend.store.estimate() == 0
    fill(backend, {"a": 5, "b": 2})
    snapshot_items = 0 if backend.kind == "memory" else 2  # DynamoDB's ItemCount counts every item
    assert backend.store.estimate() == 7 + snapshot_items


# -- stream images -------------------------------------------------------------------------------------------

IMAGE = {"id": {"S": "l-1"}, "number": {"N": "3"}, "type": {"S": "LoanPaid"},
         "created": {"S": "2026-01-01T00:00:00+00:00"}, "data": {"S": '{"amount":1}'}}


def test_an_event_image_decodes_to_its_aggregate_and_event():
    assert event_from_image(IMAGE) == ("l-1", RecordedEvent(3, "LoanPaid", IMAGE["created"]["S"], '{"amount":1}'))
    assert event_from_image({**IMAGE, "meta": {"S": '{"actor":"x"}'}})[1].meta == '{"actor":"x"}'


def test_snapshot_images_are_not_events():
    assert event_from_image({**IMAGE, "number": {"N": "3.5"}}) is None
    assert event_from_image({"id": {"S": "l-1"}, "number": {"N": "4"}, "kind": {"S": "snapshot"}}) is None


@pytest.mark.parametrize(("change", "message"), [
    ({"number": None}, "has no numeric 'number'"), ({"number": {"S": "3"}}, "has no numeric 'number'"),
    ({"type": None}, "'type' is missing or not of type S"), ({"id": {"N": "1"}}, "'id' is missing"),
    ({"data": {"S": ""}}, "'data' is missing"), ({"created": "x"}, "'created' is missing"),
    ({"number": {"N": "x1"}}, "'x1' is not a whole number"), ({"number": {"N": "0"}}, "0 is below 1"),
    ({"meta": {"N": "1"}}, "'meta' is not of type S"),
])
def test_a_damaged_image_names_what_is_wrong(change, message):
    image = {name: value for name, value in {**IMAGE, **change}.items() if value is not None}
    with pytest.raises(MalformedItemError, match=message):
        event_from_image(image)


# -- properties ----------------------------------------------------------------------------------------------

histories = st.dictionaries(st.text("abz-\u00e9", min_size=1, max_size=5), st.integers(1, 12), max_size=8)
#: Smaller on moto, where every two-item page is a request.
small_histories = st.dictionaries(st.text("abz-\u00e9", min_size=1, max_size=5), st.integers(1, 8), max_size=5)


def check_store(store: Any, chosen: dict[str, int], of: int, before: int) -> None:
    found = [(aggregate_id, event.number) for segment in range(of) for aggregate_id, event in store.scan(segment, of)]
    assert sorted(found) == everything(chosen) and len(found) == len(set(found))
    for aggregate_id in chosen:
        assert list(store.read_backwards(aggregate_id)) == list(reversed(list(store.read(aggregate_id))))
        assert numbers(store.read_backwards(aggregate_id, before)) == \
            [number for number in range(chosen[aggregate_id], 0, -1) if number < before]


@settings(max_examples=80, deadline=None)
@given(histories, st.integers(1, 9), st.integers(0, 14))
def test_in_memory_segments_partition_any_histories_and_backwards_is_read_reversed(chosen, of, before):
    store = InMemoryEventStore()
    for aggregate_id, size in chosen.items():
        write(store, aggregate_id, size)
    check_store(store, chosen, of, before)


_tables = count()


def test_dynamodb_segments_partition_any_histories_and_backwards_is_read_reversed():
    with mock_aws():  # one moto for every example; each example gets a table of its own
        client = boto3.client("dynamodb", region_name="us-east-1")

        @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(small_histories, st.integers(1, 6), st.integers(0, 10), st.sampled_from(["dynamodb", "dynamodb-paged"]))
        def check(chosen: dict[str, int], of: int, before: int, kind: str) -> None:
            backend = Backend(kind, client, f"Events{next(_tables)}")
            try:
                fill(backend, chosen)
                check_store(backend.store, chosen, of, before)
            finally:
                client.delete_table(TableName=backend.table)

        check()
