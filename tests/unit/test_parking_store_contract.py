"""The parking store contract, run against both backends: in memory, and the `ParkedEvents` table on moto."""

from __future__ import annotations

from typing import Any

import pytest

from core.events import RecordedEvent
from projections.errors import ProjectionError
from projections.parking import DynamoDBParkingStore, InMemoryParkingStore, parking_table_definition


@pytest.fixture(params=["memory", "dynamodb"])
def parking(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return InMemoryParkingStore()
    client = request.getfixturevalue("dynamodb")
    client.create_table(**parking_table_definition("ParkedEvents"))
    return DynamoDBParkingStore("ParkedEvents", client)


def event(number: int, data: str = '{"amount": "1"}') -> RecordedEvent:
    return RecordedEvent(number, "PaymentMade", "2026-12-02T08:00:00+00:00", data, '{"correlation_id": "c"}')


def test_nothing_is_parked_at_first(parking: Any) -> None:
    assert parking.parked() == []
    assert parking.parked_among("summary", ["a", "b"]) == {}
    assert parking.events("summary", "a") == []


def test_parked_events_keep_their_full_payloads_in_order(parking: Any) -> None:
    parking.park("summary", "loan-1", [event(3, '{"amount": "3.50"}'), event(4)], "cannot fold PaymentMade#3")
    assert parking.events("summary", "loan-1") == [event(3, '{"amount": "3.50"}'), event(4)]
    (marker,) = parking.parked()
    assert (marker.projection, marker.aggregate_id) == ("summary", "loan-1")
    assert (marker.first, marker.last, marker.count) == (3, 4, 2)
    assert marker.reason == "cannot fold PaymentMade#3"
    assert marker.since.startswith("20")
    assert set(parking.parked_among("summary", ["loan-1", "loan-2"])) == {"loan-1"}


def test_parking_is_per_projection(parking: Any) -> None:
    parking.park("summary", "loan-1", [event(1)], "why")
    assert parking.parked_among("history", ["loan-1"]) == {}
    assert parking.events("history", "loan-1") == []
    assert [m.projection for m in parking.parked("summary")] == ["summary"]
    assert parking.parked("history") == []


def test_parking_behind_extends_the_run_and_keeps_the_first_reason(parking: Any) -> None:
    parking.park("summary", "loan-1", [event(2)], "first reason")
    parking.park("summary", "loan-1", [event(3), event(4)], "second reason")
    parking.park("summary", "loan-1", [event(2), event(3)], "a redelivery")  # idempotent, last stays 4
    (marker,) = parking.parked()
    assert (marker.first, marker.last, marker.count, marker.reason) == (2, 4, 3, "first reason")
    assert [e.number for e in parking.events("summary", "loan-1")] == [2, 3, 4]


def test_release_removes_the_marker_and_its_events(parking: Any) -> None:
    parking.park("summary", "loan-1", [event(1), event(2)], "why")
    parking.park("summary", "loan-2", [event(5)], "why")
    (marker, _) = parking.parked()
    assert parking.release(marker) is True
    assert parking.events("summary", "loan-1") == []
    assert [m.aggregate_id for m in parking.parked()] == ["loan-2"]
    assert parking.release(marker) is True  # a second release (an interrupted redrive run again) is harmless
    assert parking.events("summary", "loan-2") == [event(5)]


def test_release_refuses_when_more_was_parked_behind(parking: Any) -> None:
    parking.park("summary", "loan-1", [event(1)], "why")
    (seen,) = parking.parked()
    parking.park("summary", "loan-1", [event(2)], "why")
    assert parking.release(seen) is False
    assert [e.number for e in parking.events("summary", "loan-1")] == [1, 2]
    assert parking.parked()[0].last == 2


def test_an_event_parked_after_a_release_starts_a_new_run(parking: Any) -> None:
    parking.park("summary", "loan-1", [event(1)], "old")
    (seen,) = parking.parked()
    assert parking.release(seen)
    parking.park("summary", "loan-1", [event(2)], "new")
    (marker,) = parking.parked()
    assert (marker.first, marker.last, marker.reason) == (2, 2, "new")


def test_many_aggregates_are_asked_about_at_once(parking: Any) -> None:
    ids = [f"loan-{i}" for i in range(250)]
    for i in ids[::50]:
        parking.park("summary", i, [event(1)], "why")
    assert set(parking.parked_among("summary", ids + ids[:3])) == set(ids[::50])


def test_long_reasons_are_cut(parking: Any) -> None:
    parking.park("summary", "loan-1", [event(1)], "x" * 5000)
    assert len(parking.parked()[0].reason) == 1000


def test_a_missing_table_is_named() -> None:
    import boto3
    from moto import mock_aws

    with mock_aws():
        store = DynamoDBParkingStore("NoSuchTable", boto3.client("dynamodb", region_name="us-east-1"))
        with pytest.raises(ProjectionError, match="NoSuchTable"):
            store.parked()
