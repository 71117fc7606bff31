"""The event store's read-side contract (`read_backwards`, `scan`, `estimate`), run against every backend: the
in-memory fake, DynamoDB on moto with its own pages, and DynamoDB on moto with two-item pages (so every read
crosses many pages, and moto's last page, where `Limit` equals the items left, comes without a key)."""

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
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from core.dynamodb import DynamoDBEventStore, event_from_image, events_table_definition, to_item
from core.errors import InvalidReadError, MalformedItemError, StoreError
from core.events import RecordedEvent
from core.metering import RequestMeter
from core.store import MAX_SEGMENTS, InMemoryEventStore, segment_of

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

def test_read_backwards_gives_the_newest_first_and_skips_snapshot_items(backend):
    backend.write("a", 7)
    backend.write("b", 3)
    backend.plant_snapshot_item("a", 4)
    backend.plant_snapshot_item("a", 7)
    assert numbers(backend.store.read_backwards("a")) == [7, 6, 5, 4, 3, 2, 1]
    assert [event.data for event in backend.store.read_backwards("b")] == ['{"n":3}', '{"n":2}', '{"n":1}']
    assert list(backend.store.read_backwards("missing")) == []


@pytest.mark.parametrize(("before", "expected"), [
    (None, [5, 4, 3, 2, 1]), (6, [5, 4, 3, 2, 1]), (500, [5, 4, 3, 2, 1]), (5, [4, 3, 2, 1]), (3, [2, 1]),
    (2, [1]), (1, []), (0, []), (-4, []),
])
def test_read_backwards_before_is_exclusive(backend, before, expected):
    backend.write("a", 5)
    backend.plant_snapshot_item("a", 2)
    assert numbers(backend.store.read_backwards("a", before)) == expected


def test_read_backwards_equals_read_reversed_across_many_pages(backend):
    backend.write("a", 41)
    for version in (10, 20, 40, 41):
        backend.plant_snapshot_item("a", version)
    assert list(backend.store.read_backwards("a")) == list(reversed(list(backend.store.read("a"))))
    assert numbers(backend.store.read_backwards("a", 21)) == list(range(20, 0, -1))


def test_read_backwards_refuses_a_bound_that_is_not_a_whole_number(backend):
    for before in ("3", 2.0, True, [3]):
        with pytest.raises(InvalidReadError, match="`before` must be a whole event number") as raised:
            backend.store.read_backwards("a", before)
        assert raised.value.argument == "before"


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
    assert meter.requests == 1 + 3  # pages of 100, 200 and 400 items: it grows, so a full read stays cheap
    assert meter.bytes_received > 3 * small


# -- scan ----------------------------------------------------------------------------------------------------

HISTORIES = {"a": 5, "b": 1, "c": 12, "loan-\u00e9": 3, "d": 2, "e": 7, "f": 4, "g": 1}


def everything(histories: dict[str, int]) -> list[tuple[str, int]]:
    return sorted((aggregate_id, number) for aggregate_id, size in histories.items() for number in range(1, size + 1))


def fill(backend: Backend, histories: dict[str, int]) -> None:
    for aggregate_id, size in histories.items():
        backend.write(aggregate_id, size)
        backend.plant_snapshot_item(aggregate_id, size // 2)


def check_segment(listing: list[tuple[str, RecordedEvent]]) -> None:
    """Each aggregate's events come together, oldest first, with no gap."""
    seen: list[str] = []
    for position, (aggregate_id, event) in enumerate(listing):
        if position and listing[position - 1][0] == aggregate_id:
            assert event.number == listing[position - 1][1].number + 1
        else:
            assert aggregate_id not in seen, f"{aggregate_id!r} comes in two runs"
            assert event.number == 1
            seen.append(aggregate_id)


@pytest.mark.parametrize("of", [1, 2, 3, 7])
def test_the_segments_of_a_scan_hold_every_event_exactly_once(backend, of):
    fill(backend, HISTORIES)
    owners: dict[str, int] = {}
    found: list[tuple[str, int]] = []
    for segment in range(of):
        listing = list(backend.store.scan(segment, of))
        check_segment(listing)
        for aggregate_id, event in listing:
            assert owners.setdefault(aggregate_id, segment) == segment  # an aggregate lies in one segment
            assert event.data == f'{{"n":{event.number}}}'
        found += [(aggregate_id, event.number) for aggregate_id, event in listing]
    assert sorted(found) == everything(HISTORIES) and len(found) == len(set(found))


def test_a_scan_resumes_right_after_any_event_it_yielded(backend):
    fill(backend, {"a": 3, "b": 1, "c": 4, "loan-\u00e9": 2, "d": 2})
    for segment in range(2):
        listing = [(aggregate_id, event.number) for aggregate_id, event in backend.store.scan(segment, 2)]
        for position, checkpoint in enumerate(listing):
            rest = [(aggregate_id, event.number) for aggregate_id, event in
                    backend.store.scan(segment, 2, start_after=checkpoint)]
            assert rest == listing[position + 1:], f"resumed after {checkpoint}"


def test_a_scan_resumes_from_a_checkpoint_read_back_from_json(backend):
    fill(backend, {"a": 3})
    assert [event.number for _, event in backend.store.scan(start_after=json.loads('["a", 1]'))] == [2, 3]


def test_a_scan_of_an_empty_store_yields_nothing(backend):
    assert list(backend.store.scan()) == [] and list(backend.store.scan(3, 4)) == []


BAD_SCANS = [
    ({"of": 0}, "of"), ({"of": -2}, "of"), ({"of": MAX_SEGMENTS + 1}, "of"), ({"of": True}, "of"),
    ({"of": 2.0}, "of"), ({"segment": -1, "of": 3}, "segment"), ({"segment": 3, "of": 3}, "segment"),
    ({"segment": "0"}, "segment"), ({"start_after": ("a", 0)}, "start_after"),
    ({"start_after": ("", 1)}, "start_after"), ({"start_after": ("a",)}, "start_after"),
    ({"start_after": "a"}, "start_after"), ({"start_after": ("a", "1")}, "start_after"),
    ({"start_after": ("a", True)}, "start_after"), ({"start_after": (1, 1)}, "start_after"),
]


def test_a_scan_refuses_bad_arguments_naming_them_before_reading(backend):
    meter = RequestMeter()
    if backend.client is not None:
        meter.attach(backend.client)
    for arguments, argument in BAD_SCANS:
        with pytest.raises(InvalidReadError, match=f"`{argument}`") as raised:
            backend.store.scan(**arguments)
        assert raised.value.argument == argument, arguments
    assert meter.requests == 0


def test_the_largest_segment_count_dynamodb_allows_is_accepted(backend):
    fill(backend, {"a": 1})
    found = list(backend.store.scan(segment_of("a", MAX_SEGMENTS), MAX_SEGMENTS)) if backend.kind == "memory" \
        else [event for segment in (0, MAX_SEGMENTS - 1) for event in backend.store.scan(segment, MAX_SEGMENTS)]
    assert len(found) <= 1  # every argument in range is a valid request


def test_the_in_memory_scan_refuses_to_resume_a_segment_from_another_ones_position():
    store = InMemoryEventStore()
    write(store, "a", 2)
    elsewhere = 1 - segment_of("a", 2)
    with pytest.raises(InvalidReadError, match="not in segment") as raised:
        store.scan(elsewhere, 2, start_after=("a", 1))
    assert raised.value.argument == "start_after"


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
