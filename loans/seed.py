"""A portfolio of N loans through the real write path (`aws-es demo --loans N`): each loan is opened and moved
along one of the demo's paths by the loan commands (`loans.service`, as the commands API runs them), one
command per event; the stream projector folds every event into the loan summary and the portfolio as they land.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.errors import EventSourcingError
from loans import service
from loans.loan import Loan

if TYPE_CHECKING:
    from core.repository import Repository

#: The paths the seeded loans follow, in turn (each a list of commands after the LoanCreated).
SEED_PATHS: list[list[dict[str, Any]]] = [
    [{"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": Decimal("100.00")}],
    [{"type": "LoanApproved"}, {"type": "LoanDisbursed"}],
    [{"type": "LoanRejected"}],
    [{"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanArrears"}],
    [{"type": "LoanApproved"}],
]


@dataclass
class Seeded:
    loans: int
    commands: int
    seconds: float
    last: Loan


def seed(count: int, workers: int = 4, on_progress: Callable[[int, float], None] | None = None,
         visible: Callable[[Loan], bool] | None = None, window: int = 10,
         repository: Repository | None = None) -> Seeded:
    """Open `count` loans and move each along a path of `SEED_PATHS`, one command per event, from `workers`
    threads (as concurrent API clients would), `window` loans at a time, in `repository` (default: `Loan`'s
    provider's); `last` is the loan whose last command ended last.

    With `visible` (true once the read side shows a loan's last commit), each window starts only once the read
    side shows the window before the last one: the projector is never more than two windows behind, so it is
    current soon after the last commit rather than minutes later (moto serves one request at a time, and
    writers that never wait leave the projector an ever smaller share)."""
    if count < 1 or workers < 1 or window < 1:
        raise ValueError(f"count, workers and window must be at least 1, not {count}, {workers} and {window}")
    started, lock = time.perf_counter(), threading.Lock()
    done: list[int] = [0, 0]  # loans, commands
    last: list[Loan] = []

    def one(index: int) -> Loan:
        amount = Decimal(1000 + index % 50 * 100)
        loan, _ = service.open_loan({"requested_amount": amount, "interest": Decimal("0.05")}, repository=repository)
        for step in SEED_PATHS[index % len(SEED_PATHS)]:
            loan, _ = service.record(loan.id, step, repository=repository)
        with lock:
            done[0] += 1
            done[1] += 1 + len(SEED_PATHS[index % len(SEED_PATHS)])
            last[:] = [loan]
            if on_progress is not None and done[0] % 1000 == 0:
                on_progress(done[0], time.perf_counter() - started)
        return loan

    behind: list[Loan] = []
    with ThreadPoolExecutor(workers, thread_name_prefix="seed") as pool:
        for first in range(0, count, window):
            if visible is not None and len(behind) == 2:
                while not visible(behind[0]):
                    time.sleep(0.02)
            for future in [pool.submit(one, index) for index in range(first, min(first + window, count))]:
                future.result()
            behind = [*behind[-1:], last[0]]  # the window's loan whose last command ended last
    return Seeded(count, done[1], time.perf_counter() - started, last[0])


def wait_visible(loan: Loan, read_version: Callable[[str], int | None], timeout: float = 120.0,
                 interval: float = 0.05) -> float:
    """Seconds until the loan's summary row shows its version (polling every `interval`); the stream is read in
    order, so every earlier commit is then visible too."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        version = read_version(loan.id)
        if version is not None and version >= loan.version:
            return time.perf_counter() - started
        time.sleep(interval)
    raise EventSourcingError(f"the projector did not reach loan {loan.id} version {loan.version} "
                             f"within {timeout:.0f} s")


def seed_and_report(count: int, read_version: Callable[[str], int | None],
                    repository: Repository | None = None) -> Seeded:
    """`aws-es demo --loans N`: seed into `repository`, then wait until the loan summary shows the last commit
    (`read_version` gives a loan's version in the summary, None before its first row), and print both."""

    def progress(loans: int, seconds: float) -> None:
        print(f"  {loans:,} loans in {seconds:,.0f} s", flush=True)

    print(f"seeding {count:,} loans through the loan commands (the projector follows the stream)...", flush=True)
    used = time.process_time()
    seeded = seed(count, on_progress=progress, visible=lambda loan: (read_version(loan.id) or 0) >= loan.version,
                  repository=repository)
    lag = wait_visible(seeded.last, read_version)
    print(f"seeded {seeded.loans:,} loans ({seeded.commands:,} commands) in {seeded.seconds:,.1f} s "
          f"({seeded.commands / seeded.seconds:,.0f} commands/s, {time.process_time() - used:,.0f} s of CPU); the "
          f"dashboard showed the last commit {lag:.2f} s after it", flush=True)
    return seeded
