"""The loan example end to end: a portfolio through every path of the workflow, and one long-lived loan, on
the App `aws-es demo` passes (`demo(app, repayments, meter)`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from core.errors import EventSourcingError
from core.metering import RequestMeter
from core.repository import Repository
from handlers.measure import measure_hydrate as measure
from loans.loan import Loan

if TYPE_CHECKING:
    from handlers.app import App

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
    loan, cost = measure(make_loan, loan_id, meter)
    return cast(Loan, loan), cost


def loans_of(app: App) -> Callable[..., Loan]:
    """Builds a loan (a new one, or the one of the id given) on `app`'s loan repository (snapshots and the warm
    cache as configured)."""
    table = app.table(Loan)

    def make(loan_id: str | None = None) -> Loan:
        return Loan(loan_id, table, repository=app.repository(Loan, table))

    return make


def hydrate_three_ways(app: App, loan_id: str, meter: RequestMeter) -> list[tuple[str, Loan, dict]]:
    """What loading a loan costs by full replay, from its latest snapshot plus the tail, and from a warm cache."""
    table = app.table(Loan)
    store = app.event_store(Loan, table)
    replay = measure_hydrate(loan_id, meter, lambda i: Loan(i, table, repository=Repository(store)))
    cache = getattr(app.repository(Loan, table), "cache", None)
    if cache is not None:
        cache.clear()  # as in a cold process
    cold = measure_hydrate(loan_id, meter, loans_of(app))
    warm = measure_hydrate(loan_id, meter, loans_of(app))
    return [("full replay", *replay), ("snapshot + tail", *cold), ("warm cache", *warm)]


def show_projections(app: App, portfolio: list[tuple[str, Loan]], long_loan: Loan) -> None:
    """Wait until the projector has caught up with every demo loan, then print the query tables."""
    from handlers.cli_projections import wait_caught_up
    from handlers.views import print_view
    from loans.views import loan_view, portfolio_view, revealing
    from projections.query import read_counters, read_row

    loans = [loan for _, loan in portfolio] + [long_loan]
    started = time.perf_counter()
    if not wait_caught_up(app, "loan-summary", [loan.id for loan in loans], [loan.version for loan in loans]):
        raise EventSourcingError("the projector did not catch up within 60 s")
    print(f"\nprojector caught up with all {len(loans)} loans (waited {time.perf_counter() - started:.1f} s "
          "after hydrating); portfolio:")
    declared, tables = app.live_tables("loan-summary")
    print_view(True, portfolio_view(read_counters(app.dynamodb, tables)))
    for loan in (portfolio[-1][1], long_loan):
        view = loan_view(loan.id, read_row(app.dynamodb, declared, tables, loan.id) or {}, revealing(app.sealer))
        print(f"loan {view['id'][:8]}: status {view['status']}, balance {view['balance']}, "
              f"paid {view['total_paid']} in {view['payments']} payments, version {view['version']}")


def summary_version(app: App, loan_id: str) -> int | None:
    """The loan's version in `app`'s live loan summary; None before it has a row."""
    from projections.query import read_row

    declared, tables = app.live_tables("loan-summary")
    row = read_row(app.dynamodb, declared, tables, loan_id)
    return None if row is None else int(row["version"])


def demo(app: App, repayments: int, meter: RequestMeter, loans: int = 0) -> None:
    """`aws-es demo` for the loan module on `app`: `loans` seeded loans (`loans.seed`), the portfolio, the
    long-lived loan, three hydrates, the projections."""
    started = time.perf_counter()
    if loans:
        from loans.seed import seed_and_report

        seed_and_report(loans, lambda loan_id: summary_version(app, loan_id), app.repository(Loan))
    make_loan = loans_of(app)
    portfolio = run_portfolio(make_loan)
    print(f"\n{'path':<30} {'loan':<10} {'status':<12} {'balance':>10} {'version':>8}")
    for path, loan in portfolio:
        print(f"{path:<30} {loan.id[:8]:<10} {loan.status:<12} {loan.balance:>10} {loan.version:>8}")
    long_started = time.perf_counter()
    long_loan = run_long_loan(make_loan, repayments=repayments)
    commit_seconds = time.perf_counter() - long_started
    print(f"\nlong-lived loan {long_loan.id[:8]}: {long_loan.version:,} events committed in "
          f"{commit_seconds:.1f} s; status {long_loan.status}, balance {long_loan.balance}")
    print(f"hydrating loan {long_loan.id[:8]} ({long_loan.version:,} events):")
    for mode, loaded, cost in hydrate_three_ways(app, long_loan.id, meter):
        source = f"  (snapshot at version {cost['snapshot_version']:,})" if cost["snapshot_version"] else ""
        print(f"  {mode:<16} {cost['events_read']:>6,} events read {cost['requests']:>3} requests "
              f"{cost['bytes']:>10,} bytes {cost['ms']:>10,.1f} ms{source}")
        if (loaded.version, loaded.state()) != (long_loan.version, long_loan.state()):
            raise EventSourcingError(f"hydrated state ({mode}) differs from the committed one")
    show_projections(app, portfolio, long_loan)
    print(f"\ndemo done in {time.perf_counter() - started:.1f} s")
