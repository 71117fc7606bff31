"""The stored fold decodes a repeated payload once and still checks, numbers, times and names every event; the
DynamoDB store turns a page of items into the same records `from_item` makes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from core import StoredEventError
from core.aggregate import Aggregate
from core.codec import encode
from core.dynamodb import from_item, is_event_item, page_records, records, to_item
from core.errors import StoreUnavailableError
from core.events import RecordedEvent
from core.repository import apply_stored
from core.upcasting import Upcaster, Upcasting
from loans import Loan

WHEN = "2026-01-01T00:00:00.000000+00:00"


def stored(number: int, event_type: str, version: int = 1, created: str = WHEN, meta: str | None = None,
           **data: Any) -> RecordedEvent:
    return RecordedEvent(number, event_type, created, encode(data), meta, version)


def opened(amount: str = "1000.00") -> list[RecordedEvent]:
    return [stored(1, "LoanCreated", requested_amount=Decimal(amount), interest=Decimal(0)),
            stored(2, "LoanApproved"), stored(3, "LoanDisbursed")]


def counting_upcasting(calls: list[dict[str, Any]]) -> Upcasting:
    def to_v2(data: dict[str, Any]) -> dict[str, Any]:
        calls.append(dict(data))
        return {**data, "unit": "piece"}

    return Upcasting(versions={"Counted": 2}, upcasters=(Upcaster("Counted", 1, to_v2),))


class Tally(Aggregate):
    """Sums counts and keeps each event's unit, number and time, as a plain model of the log would."""

    upcasting = Upcasting(versions={"Counted": 2})

    def __init__(self, id: str | None = None, **kwargs: Any) -> None:  # noqa: A002
        super().__init__(id, **kwargs)
        self.seen: list[tuple[int, int, str, datetime | None, Any]] = []

    def on_counted(self, event: Any) -> None:
        self.seen.append((event.number, event.count, event.unit, event.created, event.meta))


def test_an_upcaster_runs_once_per_distinct_payload_and_every_event_keeps_its_own_number_and_time(monkeypatch):
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(Tally, "upcasting", counting_upcasting(calls))
    log = [stored(number, "Counted", created=f"2026-01-01T00:00:{number:02d}.000000+00:00", count=number % 3)
           for number in range(1, 31)]
    tally = Tally("t")
    assert apply_stored(tally, iter(log)) == 30
    assert sorted(call["count"] for call in calls) == [0, 1, 2]  # three distinct payloads, each upcast once
    assert tally.seen == [(number, number % 3, "piece", datetime(2026, 1, 1, 0, 0, number, tzinfo=UTC), None)
                          for number in range(1, 31)]


def test_replacing_the_upcasting_is_honoured_by_the_next_fold(monkeypatch):
    log = [stored(1, "Counted", count=4)]
    monkeypatch.setattr(Tally, "upcasting", counting_upcasting([]))
    first = Tally("t")
    apply_stored(first, iter(log))
    boxes = Upcasting(versions={"Counted": 2},
                      upcasters=(Upcaster("Counted", 1, lambda data: {**data, "unit": "box"}),))
    monkeypatch.setattr(Tally, "upcasting", boxes)
    second = Tally("t")
    apply_stored(second, iter(log))
    assert (first.seen[0][2], second.seen[0][2]) == ("piece", "box")


def test_a_refused_payload_is_refused_again_for_every_aggregate_that_stored_it():
    log = [*opened(), stored(4, "LoanPaid", amount="10.00")]
    for loan_id in ("a", "b"):
        loan = Loan(loan_id)
        with pytest.raises(StoredEventError, match=rf"LoanPaid#4 of '{loan_id}'.*'amount' must be Decimal, not str"):
            apply_stored(loan, iter(log))
        assert (loan.version, loan.status) == (3, "DISBURSED")


def test_a_repeated_payload_is_still_checked_against_the_state_each_time():
    log = [*opened("10.00"), *(stored(number, "LoanPaid", amount=Decimal("4.00")) for number in (4, 5, 6))]
    loan = Loan("l")
    with pytest.raises(StoredEventError, match=r"LoanPaid#6 .*amount 4.00 is above the balance 2.00"):
        apply_stored(loan, iter(log))
    assert (loan.version, loan.balance) == (5, Decimal("2.00"))


def test_a_damaged_time_or_meta_beside_a_known_payload_names_the_event():
    for damaged, says in ((stored(5, "LoanPaid", created="tuesday", amount=Decimal("1.00")), "Invalid isoformat"),
                          (stored(5, "LoanPaid", meta="{not json", amount=Decimal("1.00")), "not valid JSON")):
        log = [*opened(), stored(4, "LoanPaid", amount=Decimal("1.00")), damaged]
        loan = Loan("l")
        with pytest.raises(StoredEventError, match=rf"LoanPaid#5 of 'l'.*cannot be decoded.*{says}"):
            apply_stored(loan, iter(log))
        assert loan.version == 4


def test_each_event_gets_its_own_meta_and_a_payload_holding_a_list_is_not_shared():
    class Noted(Aggregate):
        def __init__(self, id: str | None = None, **kwargs: Any) -> None:  # noqa: A002
            super().__init__(id, **kwargs)
            self.tags: list[Any] = []

        def on_noted(self, event: Any) -> None:
            self.tags.append((event.tags, dict(event.meta or {})))

    log = [stored(1, "Noted", meta=encode({"actor": "a"}), tags=["x"]), stored(2, "Noted", tags=["x"])]
    noted = Noted("n")
    apply_stored(noted, iter(log))
    (first, first_meta), (second, second_meta) = noted.tags
    assert (first, first_meta, second, second_meta) == (["x"], {"actor": "a"}, ["x"], {})
    first.append("y")
    assert second == ["x"]


def test_a_store_failure_while_reading_is_raised_as_it_is_after_the_events_before_it():
    def failing() -> Iterator[RecordedEvent]:
        yield from opened()
        raise StoreUnavailableError("store unavailable: throttled")

    loan = Loan("l")
    with pytest.raises(StoreUnavailableError, match="throttled"):
        apply_stored(loan, failing())
    assert (loan.version, loan.status) == (3, "DISBURSED")


def test_a_page_of_items_becomes_the_records_from_item_makes_without_its_snapshot_items():
    events = [stored(1, "Counted", count=1), stored(2, "Counted", 2, count=2, unit="box"),
              stored(3, "Counted", meta=encode({"actor": "ops"}), count=3),
              stored(4, "Counted", 2, meta=encode({"actor": "api"}), count=4, unit="box")]
    items = [to_item("t", event) for event in events]
    items.insert(2, {"id": {"S": "t"}, "number": {"N": "2.5"}, "kind": {"S": "snapshot"}, "state": {"S": "{}"}})
    expected = [from_item(item) for item in items if is_event_item(item)]
    assert expected == events
    assert page_records(items) == expected
    assert list(records(items)) == expected
    assert all(type(record) is RecordedEvent for record in page_records(items))
