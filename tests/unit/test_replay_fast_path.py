"""The replay hot path keeps its behaviour: exact decoding, refused payloads, no shared mutable data."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import boto3
import pytest

from core import IllegalEventError, StoredEventError, codec
from core.events import Event, RecordedEvent, from_record, to_record
from core.metering import RequestMeter
from loans import Loan

WHEN = datetime(2026, 1, 1, tzinfo=UTC)


def test_nested_tags_decode_in_lists_and_maps():
    payload = {"items": [{"amount": Decimal("1.50")}, [Decimal("2"), {"$d": "literal"}]], "at": WHEN, "n": 2**70}
    assert codec.decode(codec.encode(payload)) == payload


def test_events_with_lists_do_not_share_their_payload():
    record = to_record(Event("Noted", {"tags": ["a"]}, 1, WHEN))
    first, second = from_record(record), from_record(record)
    first.data["tags"].append("b")
    assert second.data["tags"] == ["a"]


def test_events_with_flat_payloads_are_equal_and_read_only():
    record = to_record(Event("LoanPaid", {"amount": Decimal("10.00")}, 4, WHEN))
    first, second = from_record(record), from_record(record)
    assert first == second and first.amount == Decimal("10.00")
    with pytest.raises(TypeError):
        first.data["amount"] = Decimal("0")  # type: ignore[index]


@pytest.mark.parametrize("data, message", [
    ({}, "missing field 'amount'"),
    ({"amount": "10.00"}, "must be Decimal, not str"),
    ({"amount": True}, "must be Decimal, not bool"),
])
def test_requires_still_refuses_on_the_fast_path(data, message):
    loan = Loan("l").apply([
        Event("LoanCreated", {"requested_amount": Decimal(100), "interest": Decimal(0)}, 1, WHEN),
        Event("LoanApproved", {}, 2, WHEN), Event("LoanDisbursed", {}, 3, WHEN),
    ])
    with pytest.raises(IllegalEventError, match=message):
        loan.apply(Event("LoanPaid", data, 4, WHEN))


def test_metering_a_streamed_body_leaves_it_readable(aws):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="metered")
    s3.put_object(Bucket="metered", Key="k", Body=b"x" * 1000)
    meter = RequestMeter()
    meter.attach(s3)
    assert s3.get_object(Bucket="metered", Key="k")["Body"].read() == b"x" * 1000
    assert (meter.requests, meter.bytes_received) == (1, 1000)


def stored(*events: Event):
    return [to_record(event) for event in events]


CREATED = Event("LoanCreated", {"requested_amount": Decimal(100), "interest": Decimal(0)}, 1, WHEN)


def test_apply_stored_names_the_stored_event_it_cannot_apply():
    from core.repository import apply_stored

    bad = stored(CREATED, Event("LoanApproved", {}, 3, WHEN))
    with pytest.raises(StoredEventError, match=r"stored event LoanApproved#3 of 'l'.*must be number 2"):
        apply_stored(Loan("l"), iter(bad))
    mistyped = stored(CREATED, Event("LoanApproved", {}, 2, WHEN), Event("LoanDisbursed", {}, 3, WHEN),
                      Event("LoanPaid", {"amount": "1"}, 4, WHEN))
    with pytest.raises(StoredEventError, match=r"LoanPaid#4 .*'amount' must be Decimal, not str") as caught:
        apply_stored(Loan("l"), iter(mistyped))
    assert (caught.value.aggregate_id, caught.value.number, caught.value.event_type) == ("l", 4, "LoanPaid")


class Counting(Loan):
    """Overrides `_apply_one`, so `apply_events` takes its general path instead of the inlined one."""

    applied = 0

    def _apply_one(self, event):
        type(self).applied += 1
        super()._apply_one(event)


@pytest.mark.parametrize("kind", [Loan, Counting])
@pytest.mark.parametrize("spelling", ["loan_approved", "LOAN_APPROVED", "Loan_Approved", "loanApproved"])
def test_a_stored_event_under_a_foreign_spelling_fails_loudly_naming_the_canonical_type(kind, spelling):
    from core.repository import apply_stored

    # Written straight to the log, as a writer before the exact-spelling rule could have.
    log = [*stored(CREATED), RecordedEvent(2, spelling, "2026-01-01T00:00:00.000000+00:00", "{}")]
    loan = kind("l")
    with pytest.raises(StoredEventError, match=rf"stored event {spelling}#2 of 'l'.*did you mean LoanApproved\?"):
        apply_stored(loan, iter(log))
    assert (loan.version, loan.status) == (1, "CREATED")  # folded up to the event before it, never past it


def test_apply_stored_honours_an_overridden_apply_one():
    from core.repository import apply_stored

    loan = Counting("l")
    before = Counting.applied
    assert apply_stored(loan, iter(stored(CREATED, Event("LoanApproved", {}, 2, WHEN)))) == 2
    assert (Counting.applied - before, loan.status, loan.version) == (2, "APPROVED", 2)
