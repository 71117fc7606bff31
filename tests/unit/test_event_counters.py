"""Event-level counters: the loan module's `daily` (collections and new loans per UTC day).

Expected totals are reckoned here from the steps the test commits (their amounts and dates), not from
`daily_share` or the projector.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from core.dynamodb import DynamoDBEventStore
from loans.projections import Day, loan_summary, read_daily
from projections.dynamodb_store import DynamoDBProjectionStore
from projections.errors import ProjectionError, UnfoldableEventError
from projections.rebuild import Rebuild
from projections.tables import generation_definitions, tables_for
from projections.verify import verify
from tests.projection_support import PROJECTION, commit_history, control, create_tables, log_events, projector

MONDAY = datetime(2026, 11, 23, 22, 30, tzinfo=UTC)
#: 01:00 on Nov 24 at UTC+05:00 is 20:00 UTC on Nov 23: the UTC day counts.
EAST = timezone(timedelta(hours=5))


def steps() -> list[list[dict[str, Any]]]:
    """Two loans: one created Monday, repaid Monday (by UTC) and Tuesday; one created Tuesday, rejected."""
    first = [{"type": "LoanCreated", "requested_amount": Decimal("1000.00"), "interest": Decimal("0.10"),
              "created": MONDAY},
             {"type": "LoanApproved", "created": MONDAY + timedelta(minutes=5)},
             {"type": "LoanDisbursed", "created": MONDAY + timedelta(minutes=6)},
             {"type": "LoanPaid", "amount": Decimal("100.00"), "created": datetime(2026, 11, 24, 1, 0, tzinfo=EAST)},
             {"type": "LoanPaid", "amount": Decimal("250.50"), "created": MONDAY + timedelta(hours=2)}]
    second = [{"type": "LoanCreated", "requested_amount": Decimal("300.00"), "interest": Decimal("0.00"),
               "created": MONDAY + timedelta(hours=3)},
              {"type": "LoanRejected", "created": MONDAY + timedelta(hours=4)}]
    return [first, second]


WANT = [Day(date(2026, 11, 22)),
        Day(date(2026, 11, 23), Decimal("100.00"), 1, 1, Decimal("1000.00")),
        Day(date(2026, 11, 24), Decimal("250.50"), 1, 1, Decimal("300.00")),
        Day(date(2026, 11, 25))]


@pytest.fixture
def projected(dynamodb: Any) -> Any:
    tables = create_tables(dynamodb)
    loans = [commit_history(dynamodb, history) for history in steps()]
    events = log_events(dynamodb, [loan.id for loan in loans])
    projector(dynamodb).apply(events)
    return dynamodb, tables, events


def test_daily_counts_each_event_once_under_redelivery_with_zeros_filled(projected: Any) -> None:
    client, tables, events = projected
    again = projector(client).apply(events + events[::-1])  # redelivered, reordered
    assert again.duplicates == 2 * len(events) and again.writes == 0
    assert read_daily(client, tables, 4, today=date(2026, 11, 25)) == WANT
    assert tables.event_counters == "LoanDaily"


def test_reading_the_days_is_by_key_never_a_scan(projected: Any) -> None:
    client, tables, _ = projected
    seen: list[str] = []
    client.meta.events.register("before-call.dynamodb", lambda model, **_: seen.append(model.name))
    read_daily(client, tables, 30, today=date(2026, 11, 25))
    assert seen == ["Query"] * 30


@pytest.mark.parametrize("days", [0, -1, 367, "7", 2.5, True])
def test_a_bad_number_of_days_is_refused_naming_it(projected: Any, days: Any) -> None:
    client, tables, _ = projected
    with pytest.raises(ProjectionError, match=f"days={days!r} must be a whole number from 1 to 366"):
        read_daily(client, tables, days, today=date(2026, 11, 25))


def test_a_rebuild_recounts_the_days_from_the_log_and_verify_agrees(projected: Any) -> None:
    client, _, _ = projected
    rebuild = Rebuild(PROJECTION, DynamoDBEventStore("Loans", client), DynamoDBProjectionStore(PROJECTION, client),
                      control(client), segments=3)
    report = rebuild.run()
    assert report.switched and report.generation == 1
    rebuilt = tables_for(PROJECTION, 1)
    assert rebuilt.event_counters == "LoanDaily-g1"
    assert read_daily(client, rebuilt, 4, today=date(2026, 11, 25)) == WANT
    assert verify(PROJECTION, DynamoDBEventStore("Loans", client), DynamoDBProjectionStore(PROJECTION, client),
                  rebuilt).differences == []


def test_verify_names_a_day_that_differs_from_the_log(projected: Any) -> None:
    client, tables, _ = projected
    client.put_item(TableName="LoanDaily", Item={"group": {"S": "2026-11-24"}, "part": {"S": "stray"},
                                                 "collected": {"N": "5"}})
    assert verify(PROJECTION, DynamoDBEventStore("Loans", client), DynamoDBProjectionStore(PROJECTION, client),
                  tables).differences == [
        "daily 2026-11-24.collected: the log adds up to 250.50, LoanDaily holds 255.50"]


def test_init_definitions_include_the_daily_table() -> None:
    names = [definition["TableName"] for definition in generation_definitions(loan_summary(daily_table="Days"), 2)]
    assert names == ["LoanSummary-g2", "Portfolio-g2", "Days-g2"]


def test_an_event_counter_that_raises_fails_that_aggregate_naming_the_event(dynamodb: Any) -> None:
    def broken(event: Any) -> Any:
        raise KeyError("amount")

    create_tables(dynamodb)
    loan = commit_history(dynamodb, steps()[0])
    outcome = projector(dynamodb, projection=replace(PROJECTION, event_counters=broken)).apply(
        log_events(dynamodb, [loan.id]))
    assert outcome.writes == 0 and len(outcome.failed) == 5
    assert any("LoanCreated#1" in error and "its event counters raised KeyError" in error for error in outcome.errors)
    assert issubclass(UnfoldableEventError, ProjectionError)
