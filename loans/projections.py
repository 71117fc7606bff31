"""The loan read side: `loan-summary` (one row per loan), `portfolio` (its counters, per status) and `daily`
(event counters per UTC day and month: money collected and repayments from `LoanPaid`, new loans and the amount
requested from `LoanCreated`, loans settled).

The book is the lent loans (`LENT`: disbursed, whatever became of them since); applications not yet lent
(CREATED, APPROVED) are the pipeline, and REJECTED is neither. Beside its status, each row adds its book
figures (`book_figures`) to `day#<its last event's UTC day>` and `month#<that month>`, and the figures it had
when that day or month began to `day-start#...` and `month-start#...`; rows not touched since are unchanged, so
`day#D` minus `day-start#D` is exactly how the book moved on day D (and the same for a month).

The portfolio is declared as what each summary row contributes under its status, and the projector moves
it in the same transaction as the row, so the portfolio always equals the sum over the summaries. The two
names therefore share one projection: rebuilding either rebuilds both.

The projection is strict: it folds every event type the Loan has a handler for, and any other type in the
log is an error naming the event, never silently skipped. `rebuild --verify` checks each row against the
Loan's own state (`compare_summary`), and the daily counters against the log counted once.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.events import Event
from loans.loan import APPROVED, ARREARS, CENT, COLLECTIONS, CREATED, DISBURSED, PAID, REJECTED, SETTLED, Loan
from projections.definition import Counters, Projection, Row
from projections.errors import ProjectionError, UnknownProjectionError
from projections.query import read_event_counters
from projections.store import ProjectionStore
from projections.tables import Tables

#: Statuses each event type moves a loan to (LoanPaid also moves the money).
STATUS_AFTER = {
    "LoanCreated": CREATED, "LoanApproved": APPROVED, "LoanRejected": REJECTED, "LoanDisbursed": DISBURSED,
    "LoanPaid": PAID, "LoanArrears": ARREARS, "LoanSettled": SETTLED, "LoanCollections": COLLECTIONS,
}
#: The book: loans that were lent (their principal counts as disbursed for life, settled ones included).
LENT = frozenset((DISBURSED, PAID, ARREARS, SETTLED, COLLECTIONS))
#: Lent loans still owing or being chased: the active loans.
ACTIVE = LENT - {SETTLED}
#: Lent loans behind on their payments: the arrears share is their outstanding over the book's.
BEHIND = frozenset((ARREARS, COLLECTIONS))
#: Row fields that keep how the row's last day and month began (`fold_summary`), for the book's changes; the
#: read side's bookkeeping, left out of the summary the APIs show (`loans.views.loan_view`).
PERIOD_FIELDS = frozenset(f"{period}_{name}" for period in ("day", "month")
                          for name in ("of_last_event", "start_status", "start_balance"))
#: The longest span `read_daily` reads (one Query per day).
MAX_DAYS = 366
#: The GSI that lists loans by status, most recently updated last (query it with ScanIndexForward=False). Its
#: partition key is `status_shard`, `<status>#<shard>`: every update rewrites the row's sort key, so one partition
#: per status would take every write of that status (a partition takes about 1,000 writes/s).
BY_STATUS = "by-status"
#: The by-status index's partitions per status. A loan's shard is a digest of its creation time (`created`, fixed
#: for its life; the fold never sees the loan's id), so it keeps its shard as its status changes. Changing this
#: needs a rebuild of loan-summary.
STATUS_SHARDS = 8
#: The GSI that lists every loan, most recently updated last, whatever its status (the dashboard's recent loans:
#: one Query per shard, `UPDATED_SHARDS` in all, however many loans and statuses there are). Its partition key is
#: `updated_shard`, the same digest of `created` as the by-status shard, so every update lands in one of
#: `UPDATED_SHARDS` partitions. Rows written before the index existed join it at their next event or a rebuild.
BY_UPDATED = "by-updated"
UPDATED_SHARDS = STATUS_SHARDS


def fold_summary(row: Row | None, event: Event) -> Row:
    """A loan's summary after `event`; the write side has already checked the transition is legal."""
    row = dict(row or {})
    data = event.data
    day = _day(event)
    for period, key in (("day", day), ("month", day[:7])):
        if row.get(f"{period}_of_last_event") != key:  # the first event of its day (month): keep how it began
            row[f"{period}_of_last_event"] = key
            row[f"{period}_start_balance"] = row.get("balance", Decimal("0.00"))
            if "status" in row:
                row[f"{period}_start_status"] = row["status"]
    if event.type == "LoanCreated":
        row.update(requested_amount=data["requested_amount"], interest=data["interest"], balance=Decimal("0.00"),
                   total_paid=Decimal("0.00"), payments=0, created=_iso(event))
        if "borrower_name" in data:  # sealed in the log, so sealed here: a reader reveals it (`Sealer.reveal`)
            row["borrower_name"] = data["borrower_name"]
    elif event.type == "LoanDisbursed":
        row["balance"] = (row["requested_amount"] * (1 + row["interest"])).quantize(CENT, ROUND_HALF_UP)
    elif event.type == "LoanPaid":
        row["balance"] = row["balance"] - data["amount"]
        row["total_paid"] = row["total_paid"] + data["amount"]
        row["payments"] = row["payments"] + 1
        row["last_paid"] = _iso(event)  # the dashboard's "days since last payment"
    row["status"] = STATUS_AFTER[event.type]
    row["status_shard"] = status_shard(row["status"], row.get("created", ""))
    row["updated_shard"] = updated_shard(row.get("created", ""))
    row["last_updated"] = _iso(event)
    return row


def status_shard(status: str, created: str) -> str:
    """The by-status index partition of a loan in `status` created at `created` (its ISO time)."""
    return f"{status}#{zlib.crc32(created.encode()) % STATUS_SHARDS}"


def updated_shard(created: str) -> str:
    """The by-updated index partition of a loan created at `created` (its ISO time)."""
    return str(zlib.crc32(created.encode()) % UPDATED_SHARDS)


def updated_partitions() -> list[str]:
    """Every by-updated index partition, shard 0 first."""
    return [str(shard) for shard in range(UPDATED_SHARDS)]


def status_partitions(status: str) -> list[str]:
    """Every by-status index partition of `status`, shard 0 first."""
    return [f"{status}#{shard}" for shard in range(STATUS_SHARDS)]


def portfolio_share(row: Row) -> Counters:
    """One loan's share of the portfolio: counted once, under its current status."""
    if "status" not in row:
        return {}
    share = {row["status"]: {"loans": 1, "principal": row["requested_amount"], "outstanding": row["balance"]}}
    for period in ("day", "month"):
        key = row.get(f"{period}_of_last_event")
        if key:
            share[f"{period}#{key}"] = book_figures(row["status"], row["balance"], row["requested_amount"])
            share[f"{period}-start#{key}"] = book_figures(row.get(f"{period}_start_status"),
                                                          row[f"{period}_start_balance"], row["requested_amount"])
    return share


def book_figures(status: str | None, balance: Decimal, principal: Decimal) -> dict[str, Decimal | int]:
    """What a loan in `status` adds to the book: outstanding, disbursed principal, active and behind loans, and
    the outstanding of those behind; zeros for an application (not lent)."""
    lent = status in LENT
    return {"outstanding": balance if lent else Decimal(0), "principal": principal if lent else Decimal(0),
            "active": int(status in ACTIVE), "behind": int(status in BEHIND),
            "behind_outstanding": balance if status in BEHIND else Decimal(0)}


def compare_summary(row: Row, loan: Loan) -> list[str]:
    """Where a summary row disagrees with the loan's own state, on each field both hold."""
    shared = {"status": loan.status, "balance": loan.balance, "version": loan.version,
              "requested_amount": loan.requested_amount, "interest": loan.interest,
              "last_updated": _utc(loan.last_updated) if loan.last_updated else None}
    return [f"{name}: the row says {row.get(name)}, the loan says {value}"
            for name, value in shared.items() if row.get(name) != value]


def daily_share(event: Event) -> Counters:
    """What one event adds to its UTC day and its month (`YYYY-MM`): a repayment's amount, a new loan and its
    requested amount, or a settled loan."""
    if event.type == "LoanPaid":
        figures: dict[str, Decimal | int] = {"collected": event.data["amount"], "repayments": 1}
    elif event.type == "LoanCreated":
        figures = {"new_loans": 1, "requested": event.data["requested_amount"]}
    elif event.type == "LoanSettled":
        figures = {"settled": 1}
    else:
        return {}
    day = _day(event)
    return {day: figures, day[:7]: dict(figures)}


@dataclass(frozen=True)
class Day:
    """One UTC day of the `daily` counters; a day nothing happened on holds zeros."""

    day: date
    collected: Decimal = Decimal("0.00")
    repayments: int = 0
    new_loans: int = 0
    requested: Decimal = Decimal("0.00")
    settled: int = 0


def day_keys(days: int, today: date) -> list[str]:
    """The groups of the `days` days ending with `today`, oldest first (ISO dates)."""
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise ProjectionError(f"days={days!r} must be a whole number from 1 to {MAX_DAYS}")
    return [(today - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]


def daily_from(counts: Mapping[str, Mapping[str, Decimal]], days: int, today: date) -> list[Day]:
    """`Day`s for the `days` days ending with `today`, oldest first, zeros where `counts` has nothing."""
    out = []
    for key in day_keys(days, today):
        held = counts.get(key, {})
        out.append(Day(date.fromisoformat(key), Decimal(held.get("collected", 0)).quantize(CENT),
                       int(held.get("repayments", 0)), int(held.get("new_loans", 0)),
                       Decimal(held.get("requested", 0)).quantize(CENT), int(held.get("settled", 0))))
    return out


def read_daily(client: Any, tables: Tables, days: int, today: date | None = None,
               store: ProjectionStore | None = None) -> list[Day]:
    """The last `days` UTC days of the `daily` counters (ending today), oldest first, zeros filled.

    Read by key, one day per Query, all shards and rebuild segments included: never a Scan. `tables` is
    the live generation of `loan_summary()` (its `event_counters` table); `store` reads through another
    projection store instead of `client`.
    """
    until = today or datetime.now(UTC).date()
    keys = day_keys(days, until)
    counts = (store.event_counters(tables, keys) if store is not None
              else read_event_counters(client, tables, keys))
    return daily_from(counts, days, until)


def _day(event: Event) -> str:
    assert event.created is not None
    return event.created.astimezone(UTC).date().isoformat()


def _iso(event: Event) -> str:
    assert event.created is not None
    return _utc(event.created)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def loan_summary(table: str = "LoanSummary", portfolio_table: str = "Portfolio",
                 daily_table: str = "LoanDaily") -> Projection:
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
        compare=compare_summary,
        event_counters=daily_share,
        event_counters_name="daily",
        event_counters_table=daily_table,
        counts=frozenset(("payments", "loans", "repayments", "new_loans", "settled", "active", "behind")),
        indexes=({
            "IndexName": BY_STATUS,
            "KeySchema": [{"AttributeName": "status_shard", "KeyType": "HASH"},
                          {"AttributeName": "last_updated", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }, {
            "IndexName": BY_UPDATED,
            "KeySchema": [{"AttributeName": "updated_shard", "KeyType": "HASH"},
                          {"AttributeName": "last_updated", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }),
    )


#: Names accepted on the command line; `portfolio` and `daily` are the counters of `loan-summary`.
NAMES = ("loan-summary", "portfolio", "daily")


def resolve(name: str, projection: Projection) -> Projection:
    """The projection a command-line name denotes, or `UnknownProjectionError` naming the choices."""
    if name not in NAMES:
        raise UnknownProjectionError(name, list(NAMES))
    return projection
