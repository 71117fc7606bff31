"""The headline tiles and their changes over the day and the month, against a plain model of the loans: the
book at a moment is reckoned here by replaying each loan's events up to that moment, never from the counters."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from core.events import Event
from loans.dashboard_tiles import tiles_view
from loans.projections import daily_share, fold_summary, loan_summary
from projections.definition import add_counts, counter_totals

CENT = Decimal("0.01")
NOW = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)
LENT = ("DISBURSED", "PAID", "ARREARS", "SETTLED", "COLLECTIONS")


def history(rng: random.Random) -> list[Event]:
    """One loan's legal life, its events spread over the days around the turn of the month."""
    at = datetime(2026, 11, 27, tzinfo=UTC) + timedelta(hours=rng.randrange(0, 140))
    amount = Decimal(rng.randrange(100, 10**6)) / 100
    interest = Decimal(rng.choice(("0", "0.05", "0.125")))
    events = [Event("LoanCreated", {"requested_amount": amount, "interest": interest}, created=at)]
    status, balance = "CREATED", Decimal(0)
    while at < NOW:
        at += timedelta(hours=rng.randrange(1, 30))
        if status == "CREATED":
            kind = rng.choice(("LoanApproved", "LoanApproved", "LoanRejected"))
        elif status == "APPROVED":
            kind = "LoanDisbursed"
        elif status in ("DISBURSED", "PAID"):
            kind = "LoanSettled" if balance == 0 else rng.choice(("LoanPaid", "LoanPaid", "LoanArrears"))
        elif status == "ARREARS":
            kind = rng.choice(("LoanPaid", "LoanCollections"))
        else:
            break
        data = {}
        if kind == "LoanDisbursed":
            balance = (amount * (1 + interest)).quantize(CENT, ROUND_HALF_UP)
        if kind == "LoanPaid":
            paid = balance if rng.random() < 0.3 else (balance * Decimal(rng.random())).quantize(CENT, ROUND_HALF_UP)
            paid = max(paid, Decimal("0.01"))
            balance -= paid
            data = {"amount": paid}
        status = {"LoanApproved": "APPROVED", "LoanRejected": "REJECTED", "LoanDisbursed": "DISBURSED",
                  "LoanPaid": "PAID", "LoanArrears": "ARREARS", "LoanSettled": "SETTLED",
                  "LoanCollections": "COLLECTIONS"}[kind]
        events.append(Event(kind, data, created=at))
    return [event for event in events if event.created is not None and event.created <= NOW]


def book_at(loans: list[list[Event]], moment: datetime) -> dict[str, Decimal]:
    """The book at `moment`, each loan replayed by hand up to it."""
    book = dict.fromkeys(("outstanding", "principal", "active", "behind_outstanding"), Decimal(0))
    for events in loans:
        status, balance, principal, interest = None, Decimal(0), Decimal(0), Decimal(0)
        for event in events:
            if event.created is None or event.created >= moment:
                break
            if event.type == "LoanCreated":
                status, principal, interest = "CREATED", event.data["requested_amount"], event.data["interest"]
            elif event.type == "LoanDisbursed":
                status, balance = "DISBURSED", (principal * (1 + interest)).quantize(CENT, ROUND_HALF_UP)
            elif event.type == "LoanPaid":
                status, balance = "PAID", balance - event.data["amount"]
            else:
                status = event.type.removeprefix("Loan").upper()
        if status in LENT:
            book["outstanding"] += balance
            book["principal"] += principal
            book["active"] += status != "SETTLED"
            book["behind_outstanding"] += balance if status in ("ARREARS", "COLLECTIONS") else 0
    return book


@pytest.mark.parametrize("seed", range(4))
def test_tiles_and_their_changes_equal_the_loans_replayed(seed):
    rng = random.Random(seed)
    loans = [history(rng) for _ in range(40)]
    rows, collected_by = [], {}
    for events in loans:
        row = None
        for event in events:
            row = fold_summary(row, event)
            add_counts(collected_by, daily_share(event))
        rows.append(row)
    totals = counter_totals(loan_summary(), rows)
    collected = {group: values.get("collected", Decimal(0)) for group, values in collected_by.items()}
    view = tiles_view(totals, NOW.date(), collected)
    tiles = {tile["name"]: tile for tile in view["book"]}

    later = NOW + timedelta(seconds=1)
    now, day, month = (book_at(loans, later), book_at(loans, datetime(2026, 12, 2, tzinfo=UTC)),
                       book_at(loans, datetime(2026, 12, 1, tzinfo=UTC)))
    for name, figure in (("Outstanding book", "outstanding"), ("Disbursed principal", "principal"),
                         ("Active loans", "active")):
        assert (tiles[name]["value"], tiles[name]["day"], tiles[name]["month"]) == (
            now[figure], now[figure] - day[figure], now[figure] - month[figure]), name

    def share(book: dict[str, Decimal]) -> Decimal:
        return book["behind_outstanding"] / book["outstanding"]

    arrears = tiles["Arrears share"]
    assert arrears["value"] == share(now)
    assert arrears["day"] == share(now) - share(day) and arrears["month"] == share(now) - share(month)

    paid = [(event.created, event.data["amount"]) for events in loans for event in events if event.type == "LoanPaid"]
    this_month = sum((amount for at, amount in paid if at >= datetime(2026, 12, 1, tzinfo=UTC)), Decimal(0))
    last_month = sum((amount for at, amount in paid if at < datetime(2026, 12, 1, tzinfo=UTC)), Decimal(0))
    today = sum((amount for at, amount in paid if at.date() == date(2026, 12, 2)), Decimal(0))
    money = tiles["Collected this month"]
    assert (money["value"], money["day"], money["month"]) == (this_month, today, this_month - last_month)

    applications = [events[0].data["requested_amount"] for events in loans
                    if events[-1].type in ("LoanCreated", "LoanApproved")]
    assert view["pipeline"] == {"loans": len(applications), "requested": sum(applications, Decimal(0))}


def test_with_no_book_the_share_and_its_changes_are_not_figures():
    view = tiles_view({}, NOW.date(), {})
    arrears = next(tile for tile in view["book"] if tile["name"] == "Arrears share")
    assert (arrears["value"], arrears["day"], arrears["month"]) == (None, None, None)
    assert view["pipeline"] == {"loans": 0, "requested": Decimal(0)}
