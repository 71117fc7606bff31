"""The by-status index's writes per partition: 10,000 loans through the real fold, sharded against one partition
per status.

Every event rewrites the loan's summary row, and so its item in the `by-status` index (the sort key
`last_updated` changes every time): one index write in the partition of the row's `status_shard`, plus a delete
in the old partition when the status changed. The loans' lives are deterministic (created a millisecond apart,
approved, disbursed, three repayments; every tenth rejected instead, every fifth in arrears then settled, the rest
settled), so the counts are exact and the same on every run; no table is needed to count them.

Run: `python -m benchmarks status_shards`.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.events import Event
from loans.projections import STATUS_SHARDS, fold_summary

LOANS = 10_000
START = datetime(2026, 1, 1, tzinfo=UTC)


def life(number: int) -> list[tuple[str, dict[str, Any]]]:
    created = [("LoanCreated", {"requested_amount": Decimal("1000.00"), "interest": Decimal("0.05")})]
    if number % 10 == 0:
        return [*created, ("LoanRejected", {})]
    paid = [("LoanPaid", {"amount": Decimal("100.00")})] * 3
    middle = [("LoanArrears", {})] if number % 5 == 0 else []
    return [*created, ("LoanApproved", {}), ("LoanDisbursed", {}), *paid, *middle, ("LoanSettled", {})]


def count(loans: int) -> tuple[Counter[str], Counter[str], int]:
    """Index writes per partition value (sharded), per status (one partition each), and the events folded."""
    sharded: Counter[str] = Counter()
    unsharded: Counter[str] = Counter()
    events = 0
    for number in range(loans):
        row = None
        created = START + timedelta(milliseconds=number)
        for step, (kind, data) in enumerate(life(number), start=1):
            row = fold_summary(row, Event(kind, data, number=step, created=created + timedelta(seconds=step)))
            sharded[row["status_shard"]] += 1
            unsharded[row["status"]] += 1
            events += 1
    return sharded, unsharded, events


def run(quick: bool = False) -> list[dict[str, Any]]:
    sharded, unsharded, events = count(LOANS // 10 if quick else LOANS)
    rows = []
    for status, total in sorted(unsharded.items(), key=lambda item: -item[1]):
        shards = [sharded[f"{status}#{shard}"] for shard in range(STATUS_SHARDS)]
        rows.append({"status": status, "index writes": total, "partitions before": 1,
                     "max per partition before": total, "partitions now": sum(1 for n in shards if n),
                     "max per partition now": max(shards), "min per partition now": min(shards),
                     "max / mean": round(max(shards) / (total / STATUS_SHARDS), 3),
                     "per shard": " ".join(str(n) for n in shards)})
    rows.append({"status": f"all ({events:,} events)", "index writes": events, "partitions before": len(unsharded),
                 "max per partition before": max(unsharded.values()), "partitions now": len(sharded),
                 "max per partition now": max(sharded.values()), "min per partition now": min(sharded.values()),
                 "max / mean": None, "per shard": ""})
    return rows
