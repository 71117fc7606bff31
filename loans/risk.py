"""The loan risk read side: `loan-risk` (one row per loan: its balance and due date) and its counters `risk`
(per due day: the loans in the book due that day and what they owe; per watched status: loans and balance).

Days past due change with the clock, not with events, so nothing stored holds them: a loan's due date
(`loans.loan.next_due`) moves only when an event moves it, and the counters hold, per due DAY, the loans due
then. Today's buckets are sums over due days: 1-30 days past due are the loans due from today-30 to today-1,
and so on; `buckets` computes them from the counters for any day.

The watched statuses (ARREARS, COLLECTIONS) are listed worst first through the `by-severity` index (most days
past due, then the largest balance) and searched by id prefix through the `by-id` index, each sharded like the
summary's by-status index (`STATUS_SHARDS`), so no partition takes every write. `rebuild --verify` checks each
row against the Loan's own state (`compare_risk`).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.events import Event
from loans.loan import ARREARS, BOOK, CENT, COLLECTIONS, Loan, days_past_due, next_due
from loans.projections import STATUS_AFTER, STATUS_SHARDS
from projections.definition import Counters, Projection, Row

RISK = "loan-risk"
#: The lists the dashboard shows and exports, by the name in their URL (`/dashboard/lists/{name}.csv`).
LISTS = {"arrears": ARREARS, "collections": COLLECTIONS}
#: The index that lists a watched status worst first: partition `list_shard` (`<status>#<shard>`), sort
#: `severity` (descending: the earliest due date, then the largest balance).
BY_SEVERITY = "by-severity"
#: The index that finds a watched status's loans by id prefix: partition `list_shard`, sort `id`.
BY_ID = "by-id"
#: Days-past-due buckets: (label, fewest days, most days); the last is open-ended.
BUCKETS = (("1-30", 1, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("90+", 91, None))
DUE = "due#"
LISTED = "list#"
#: `severity` inverts the due date's ordinal so the earliest due date sorts highest.
_LAST_ORDINAL = date.max.toordinal()


def fold_risk(row: Row | None, event: Event) -> Row:
    """A loan's risk row after `event`: status, balance, when it was last paid, and its due date while in the book."""
    row = dict(row or {})
    data = event.data
    assert event.created is not None
    moment = _utc_iso(event.created)
    if event.type == "LoanCreated":
        row.update(requested_amount=data["requested_amount"], interest=data["interest"], balance=Decimal("0.00"),
                   created=moment)
    elif event.type == "LoanDisbursed":
        row["balance"] = (row["requested_amount"] * (1 + row["interest"])).quantize(CENT, ROUND_HALF_UP)
        row["due_from"] = moment
    elif event.type == "LoanPaid":
        row["balance"] = row["balance"] - data["amount"]
        row["last_paid"] = moment
        row["due_from"] = moment
    row["status"] = STATUS_AFTER[event.type]
    due = due_of(row)
    if due is None:
        row.pop("due", None)
    else:
        row["due"] = due.isoformat()
    if row["status"] in LISTS.values():
        row["list_shard"] = f"{row['status']}#{zlib.crc32(row['created'].encode()) % STATUS_SHARDS}"
        row["severity"] = severity(due, row["balance"])
    else:
        row.pop("list_shard", None)
        row.pop("severity", None)
    return row


def due_of(row: Row) -> date | None:
    """The row's due date, by the Loan's own rule (`Loan.due`): in the book, owing something, dated."""
    if row.get("status") not in BOOK or not row.get("balance") or "due_from" not in row:
        return None
    return next_due(datetime.fromisoformat(row["due_from"]))


def severity(due: date | None, balance: Decimal) -> str:
    """The `by-severity` sort key: descending order is the earliest due date first (nothing due last), then the
    largest balance. Fixed width, so string order is numeric order."""
    days = _LAST_ORDINAL - due.toordinal() if due is not None else 0
    return f"{days:07d}#{int(balance * 100):013d}"


def risk_share(row: Row) -> Counters:
    """One loan's share of the risk counters: under its due day while it owes something, and under its status
    while that status is listed."""
    share: dict[str, dict[str, Any]] = {}
    if "due" in row:
        share[DUE + row["due"]] = {"loans": 1, "outstanding": row["balance"]}
    if row.get("status") in LISTS.values():
        share[LISTED + row["status"]] = {"loans": 1, "outstanding": row["balance"]}
    return share


def compare_risk(row: Row, loan: Loan) -> list[str]:
    """Where a risk row disagrees with the loan's own state."""
    shared = {"status": loan.status, "balance": loan.balance, "version": loan.version,
              "due": loan.due.isoformat() if loan.due else None}
    return [f"{name}: the row says {row.get(name)}, the loan says {value}"
            for name, value in shared.items() if row.get(name) != value]


@dataclass(frozen=True)
class Bucket:
    """Loans past due by `label` days on a day, and what they owe."""

    label: str
    loans: int
    outstanding: Decimal


def buckets(counters: Mapping[str, Mapping[str, Decimal | int]], today: date) -> dict[str, Any]:
    """The book on `today` from the `risk` counters: current (not past due), the days-past-due buckets, PAR30 and
    PAR90 (the balance more than 30 and 90 days past due over the whole outstanding book, None for an empty
    book), and each watched status's loans and balance."""
    loans = {label: 0 for label in ("current", *(label for label, _, _ in BUCKETS))}
    owed = {label: Decimal(0) for label in loans}
    for group, values in counters.items():
        if not group.startswith(DUE):
            continue
        late = days_past_due(date.fromisoformat(group[len(DUE):]), today)
        label = "current" if late == 0 else next(label for label, low, high in BUCKETS
                                                  if low <= late and (high is None or late <= high))
        loans[label] += int(values.get("loans", 0))
        owed[label] += Decimal(values.get("outstanding", 0))
    book = sum(owed.values(), Decimal(0))
    over30 = owed["31-60"] + owed["61-90"] + owed["90+"]
    listed = {name: counters.get(LISTED + status, {}) for name, status in LISTS.items()}
    return {
        "today": today.isoformat(),
        "book": {"loans": sum(loans.values()), "outstanding": _cents(book)},
        "current": {"loans": loans["current"], "outstanding": _cents(owed["current"])},
        "buckets": [{"days": label, "loans": loans[label], "outstanding": _cents(owed[label])}
                    for label, _, _ in BUCKETS],
        "par30": _ratio(over30, book),
        "par90": _ratio(owed["90+"], book),
        "lists": {name: {"loans": int(values.get("loans", 0)),
                         "outstanding": _cents(Decimal(values.get("outstanding", 0)))}
                  for name, values in listed.items()},
    }


def risk_view(counters: Mapping[str, Mapping[str, Decimal | int]], today: date | None = None) -> dict[str, Any]:
    """`aws-es query risk`: the `buckets` of today (UTC) as rows of the command line's counters table: current,
    each bucket, the book, PAR30 and PAR90 (a `share` of the book), and each list. Amounts as strings with cents."""
    held = buckets(counters, today or datetime.now(UTC).date())
    rows: dict[str, Any] = {"current": _shown(held["current"])}
    rows.update((bucket["days"], _shown(bucket)) for bucket in held["buckets"])
    rows["book"] = _shown(held["book"])
    for name in ("par30", "par90"):
        rows[name.upper()] = {"share": None if held[name] is None else format(held[name], "f")}
    rows.update((name, _shown(values)) for name, values in held["lists"].items())
    rows["on"] = {"day": held["today"]}
    return rows


def _shown(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"loans": values["loans"], "outstanding": format(values["outstanding"], "f")}


def _cents(amount: Decimal) -> Decimal:
    return Decimal(amount).quantize(CENT)


def _ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    """`part / whole` to four decimal places (a share, 0.1234 is 12.34%), None when `whole` is zero."""
    return (part / whole).quantize(Decimal("0.0001"), ROUND_HALF_UP) if whole else None


def _utc_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def loan_risk(table: str = "LoanRisk", counters_table: str = "LoanRiskCounters") -> Projection:
    return Projection(
        name=RISK,
        table=table,
        event_types=frozenset(STATUS_AFTER),
        fold=fold_risk,
        counters=risk_share,
        counters_name="risk",
        counters_table=counters_table,
        strict=True,
        aggregate=Loan,
        compare=compare_risk,
        counts=frozenset(("loans",)),
        indexes=(
            {"IndexName": BY_SEVERITY,
             "KeySchema": [{"AttributeName": "list_shard", "KeyType": "HASH"},
                           {"AttributeName": "severity", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": BY_ID,
             "KeySchema": [{"AttributeName": "list_shard", "KeyType": "HASH"},
                           {"AttributeName": "id", "KeyType": "RANGE"}],
             "Projection": {"ProjectionType": "ALL"}},
        ),
    )
