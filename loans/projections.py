"""The loan read side: `loan-summary` (one row per loan) and `portfolio` (its counters, per status).

The portfolio is declared as what each summary row contributes under its status, and the projector moves
it in the same transaction as the row, so the portfolio always equals the sum over the summaries. The two
names therefore share one projection: rebuilding either rebuilds both.

The projection is strict: it folds every event type the Loan has a handler for, and any other type in the
log is an error naming the event, never silently skipped. `rebuild --verify` checks each row against the
Loan's own state (`check_summary`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from core.events import Event
from loans.loan import APPROVED, ARREARS, CENT, COLLECTIONS, CREATED, DISBURSED, PAID, REJECTED, SETTLED, Loan
from projections.definition import Counters, Projection, Row
from projections.errors import UnknownProjectionError

#: Statuses each event type moves a loan to (LoanPaid also moves the money).
STATUS_AFTER = {
    "LoanCreated": CREATED, "LoanApproved": APPROVED, "LoanRejected": REJECTED, "LoanDisbursed": DISBURSED,
    "LoanPaid": PAID, "LoanArrears": ARREARS, "LoanSettled": SETTLED, "LoanCollections": COLLECTIONS,
}
#: The GSI that lists loans by status, most recently updated last (query it with ScanIndexForward=False).
BY_STATUS = "by-status"


def fold_summary(row: Row | None, event: Event) -> Row:
    """A loan's summary after `event`; the write side has already checked the transition is legal."""
    row = dict(row or {})
    data = event.data
    if event.type == "LoanCreated":
        row.update(requested_amount=data["requested_amount"], interest=data["interest"], balance=Decimal("0.00"),
                   total_paid=Decimal("0.00"), payments=0, created=_iso(event))
    elif event.type == "LoanDisbursed":
        row["balance"] = (row["requested_amount"] * (1 + row["interest"])).quantize(CENT, ROUND_HALF_UP)
    elif event.type == "LoanPaid":
        row["balance"] = row["balance"] - data["amount"]
        row["total_paid"] = row["total_paid"] + data["amount"]
        row["payments"] = row["payments"] + 1
        row["last_paid"] = _iso(event)  # the dashboard's "days since last payment"
    row["status"] = STATUS_AFTER[event.type]
    row["last_updated"] = _iso(event)
    return row


def portfolio_share(row: Row) -> Counters:
    """One loan's share of the portfolio: counted once, under its current status."""
    if "status" not in row:
        return {}
    return {row["status"]: {"loans": 1, "principal": row["requested_amount"], "outstanding": row["balance"]}}


def check_summary(row: Row, loan: Loan) -> list[str]:
    """Where a summary row disagrees with the loan's own state, on each field both hold."""
    shared = {"status": loan.status, "balance": loan.balance, "version": loan.version,
              "requested_amount": loan.requested_amount, "interest": loan.interest,
              "last_updated": _utc(loan.last_updated) if loan.last_updated else None}
    return [f"{name}: the row says {row.get(name)}, the loan says {value}"
            for name, value in shared.items() if row.get(name) != value]


def _iso(event: Event) -> str:
    assert event.created is not None
    return _utc(event.created)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def loan_summary(table: str = "LoanSummary", portfolio_table: str = "Portfolio") -> Projection:
    return Projection(
        name="loan-summary",
        table=table,
        event_types=frozenset(STATUS_AFTER),
        fold=fold_summary,
        counters=portfolio_share,
        counters_name="portfolio",
        counters_table=portfolio_table,
        strict=True,
        aggregate=Loan,
        check=check_summary,
        indexes=({
            "IndexName": BY_STATUS,
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"},
                          {"AttributeName": "last_updated", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        },),
    )


#: Names accepted on the command line; `portfolio` is the counters of `loan-summary`.
NAMES = ("loan-summary", "portfolio")


def resolve(name: str, projection: Projection) -> Projection:
    """The projection a command-line name denotes, or `UnknownProjectionError` naming the choices."""
    if name not in NAMES:
        raise UnknownProjectionError(name, list(NAMES))
    return projection
