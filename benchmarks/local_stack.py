"""The local stack at portfolio size: projected-transaction cost at 10 and 10,000 rows, and a 10,000-loan seed.

A projected transaction at 10 and at 10,000 summary rows, with moto patched (`handlers.local_moto`) and as
shipped, and the time to seed 10,000 loans through the loan commands (`aws-es demo --loans`), with how soon the
dashboard showed the last commit.

A projected transaction is the projector folding one new event: it reads the stream and writes the loan's row
and the portfolio counters in one `TransactWriteItems`. moto as shipped deep-copies both tables for that
transaction's rollback, so its cost grows with the rows; patched, it does not. Wall times on a shared machine
vary with its load: the ratio between 10 and 10,000 rows is the portable figure.

Run: `python -m benchmarks.local_stack [--rows 10 10000] [--loans 10000]`; `make bench` runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import urllib.request
from decimal import Decimal
from typing import Any

from benchmarks.dashboard import seed as fill_rows
from handlers import cli_projections, local_moto, projector
from handlers.app import App
from handlers.local import LocalStack
from handlers.tables import ensure_tables
from loans import Loan


def reset(endpoint: str) -> None:
    """Empty moto: its state is the process's, shared by every server started in it."""
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=60).read()


def projected_transaction_ms(app: App, rows: int, repeats: int) -> list[float]:
    """Milliseconds of the projector's `TransactWriteItems` for one new event, `repeats` times, with `rows`
    summary rows (the request as the projector's client times it: sent, served, answered)."""
    fill_rows(app, rows)
    times: list[float] = []
    started: list[float] = []
    events = app.dynamodb.meta.events
    events.register("before-call.dynamodb.TransactWriteItems", lambda **_: started.append(time.perf_counter()))
    events.register("after-call.dynamodb.TransactWriteItems",
                    lambda **_: times.append((time.perf_counter() - started[-1]) * 1000))
    runners = projector.runners(app)
    for runner in runners:
        runner.drain()
    loan = Loan(repository=app.repository(Loan))
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("500.00"), "interest": Decimal("0.05")},
                 {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    for runner in runners:
        runner.drain()
    times.clear()
    for _ in range(repeats):
        loan.commit({"type": "LoanPaid", "amount": Decimal("1.00")})  # one PutItem: not a transaction
        for runner in runners:
            runner.drain()
    return times


def transaction_rows(sizes: list[int], repeats: int, shipped_repeats: int) -> list[dict[str, Any]]:
    rows = []
    for patched in (True, False):
        for size in sizes:
            with LocalStack() as stack:
                reset(stack.endpoint)
                if not patched:
                    local_moto.unpatch()
                try:
                    app = App(stack.settings())
                    ensure_tables(app)
                    with contextlib.redirect_stdout(io.StringIO()):  # the projector handler's metrics
                        times = projected_transaction_ms(app, size, repeats if patched else shipped_repeats)
                finally:
                    local_moto.patch()
            rows.append({"moto": "patched" if patched else "as shipped", "summary_rows": size,
                         "median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1),
                         "runs": len(times)})
    return rows


def seed_row(loans: int) -> dict[str, Any]:
    """`aws-es demo --loans`'s seed, timed: wall and CPU seconds, and how soon the last commit was visible."""
    from loans.seed import seed, wait_visible
    from projections.query import read_row

    with LocalStack() as stack, contextlib.redirect_stdout(io.StringIO()):  # the projector handler's metrics
        reset(stack.endpoint)
        app = App(stack.settings())
        ensure_tables(app)
        stop = cli_projections.start_live_projector(app)
        try:
            current = app
            declared, tables = current.live_tables("loan-summary")

            def version(loan_id: str) -> int | None:
                row = read_row(current.dynamodb, declared, tables, loan_id)
                return None if row is None else int(row["version"])

            used = time.process_time()
            seeded = seed(loans, visible=lambda loan: (version(loan.id) or 0) >= loan.version,
                          repository=app.repository(Loan))
            lag = wait_visible(seeded.last, version, timeout=600)
            cpu = time.process_time() - used
        finally:
            stop()
    return {"loans": loans, "commands": seeded.commands, "seed_s": round(seeded.seconds, 1), "seed_cpu_s": round(cpu),
            "last_commit_visible_s": round(lag, 2)}


def run(quick: bool = False, sizes: list[int] | None = None, loans: int | None = None) -> list[dict[str, Any]]:
    sizes = sizes or ([10, 1_000] if quick else [10, 10_000])
    rows = transaction_rows(sizes, repeats=5 if quick else 20, shipped_repeats=2 if quick else 3)
    seeded = seed_row(loans or (300 if quick else 10_000))
    empty = dict.fromkeys(seeded)
    return [{**row, **empty} for row in rows] + [
        {"moto": "patched", "summary_rows": None, "median_ms": None, "max_ms": None, "runs": None, **seeded}]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.local_stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10, 10_000], help="summary rows (default 10 10000)")
    parser.add_argument("--loans", type=int, default=10_000, help="loans to seed (default 10000)")
    args = parser.parse_args()
    for row in run(sizes=args.rows, loans=args.loans):
        print("  ".join(f"{key}={value}" for key, value in row.items() if value is not None), flush=True)


if __name__ == "__main__":
    main()
