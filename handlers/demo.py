"""The loan example end to end: a portfolio through every path of the workflow, and one long-lived loan."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.dynamodb import DynamoDBEventStore
from core.metering import RequestMeter
from core.repository import Repository
from loans import Loan

#: Every path of CREATED -> (APPROVED | REJECTED) -> DISBURSED -> (PAID | ARREARS) -> (SETTLED | COLLECTIONS).
PATHS: dict[str, list[dict[str, Any]]] = {
    "rejected": [{"type": "LoanRejected"}],
    "approved, not yet disbursed": [{"type": "LoanApproved"}],
    "disbursed": [{"type": "LoanApproved"}, {"type": "LoanDisbursed"}],
    "repaying": [{"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": "100.00"}],
    "paid off and settled": [
        {"type": "LoanApproved"}, {"type": "LoanDisbursed"},
        {"type": "LoanPaid", "amount": "500.00"}, {"type": "LoanPaid", "amount": "550.00"}, {"type": "LoanSettled"},
    ],
    "arrears, then collections": [
        {"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanArrears"}, {"type": "LoanCollections"},
    ],
    "arrears, caught up, settled": [
        {"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": "50.00"},
        {"type": "LoanArrears"}, {"type": "LoanPaid", "amount": "1000.00"}, {"type": "LoanSettled"},
    ],
}

LONG_LOAN_REPAYMENTS = 5_000


@dataclass
class DemoResult:
    loans: list[Loan]
    long_loan: Loan
    commit_seconds: float
    hydrate_ms: float
    events_read: int
    requests: int
    bytes_received: int


def _typed(step: dict[str, Any]) -> dict[str, Any]:
    return {key: Decimal(value) if key == "amount" else value for key, value in step.items()}


def created() -> dict[str, Any]:
    return {"type": "LoanCreated", "requested_amount": Decimal("1000.00"), "interest": Decimal("0.05")}


def run_portfolio(make_loan: Callable[[], Loan] = Loan) -> list[tuple[str, Loan]]:
    results = []
    for path, steps in PATHS.items():
        loan = make_loan()
        loan.commit(created())
        for step in steps:
            loan.commit(_typed(step))
        results.append((path, loan))
    return results


def run_long_loan(
    make_loan: Callable[[], Loan] = Loan, repayments: int = LONG_LOAN_REPAYMENTS, batch: int = 1
) -> Loan:
    """One loan of `repayments` repayments of 10.00, then settled.

    On AWS a batch of up to 100 repayments is one transaction; moto copies every table a transaction touches,
    per item, so locally one PutItem per repayment (`batch=1`) is by far the quicker.
    """
    loan = make_loan()
    loan.commit([
        {"type": "LoanCreated", "requested_amount": Decimal(repayments * 10), "interest": Decimal("0.05")},
        {"type": "LoanApproved"},
        {"type": "LoanDisbursed"},
    ])
    payment = {"type": "LoanPaid", "amount": Decimal("10.00")}
    for start in range(0, repayments, batch):
        size = min(batch, repayments - start)
        if size == 1:
            loan.commit(payment)
        else:
            loan.commit([payment] * size)
    loan.commit([{"type": "LoanPaid", "amount": loan.balance}, {"type": "LoanSettled"}])
    return loan


def measure_hydrate(loan_id: str, meter: RequestMeter, make_loan: Callable[[str], Loan] = Loan) -> tuple[Loan, dict]:
    """Hydrate a loan from nothing and say what it cost."""
    before = meter.snapshot()
    started = time.perf_counter()
    loan = make_loan(loan_id)
    loaded = loan.repository.hydrate(loan)
    elapsed = (time.perf_counter() - started) * 1000
    requests, received = (now - then for now, then in zip(meter.snapshot(), before, strict=True))
    return loan, {"events_read": loaded.events_read, "requests": requests, "bytes": received, "ms": round(elapsed, 1),
                  # The events folded after the snapshot (all of them when none was used), and why not.
                  "snapshot_version": loaded.snapshot_version, "tail_events": loaded.events_read,
                  "snapshot_skipped": loaded.snapshot_skipped}


def hydrate_three_ways(loan_id: str, meter: RequestMeter) -> list[tuple[str, Loan, dict]]:
    """What loading a loan costs by full replay, from its latest snapshot plus the tail, and from a warm cache."""
    table = Loan.default_table()
    replay = measure_hydrate(loan_id, meter, lambda i: Loan(i, repository=Repository(DynamoDBEventStore(table))))
    repository = Loan(loan_id).repository
    cache = getattr(repository, "cache", None)
    if cache is not None:
        cache.clear()  # as in a cold process
    cold = measure_hydrate(loan_id, meter)
    warm = measure_hydrate(loan_id, meter)
    return [("full replay", *replay), ("snapshot + tail", *cold), ("warm cache", *warm)]
