"""Fold rate against the Python peer (`eventsourcing` 9.5): events per second, side by side, and the ratio.

The peer: `eventsourcing`'s `Application` with its in-memory (POPO) recorder and default JSON transcoder
(Decimal as a string, datetime as ISO-8601), a loan aggregate of the same rules, the same history saved once,
then `repository.get(id)` timed: what the peer does to decode and fold a stored history. The peer folds with
its default projector's loop minus one per-event assertion (see `project`): measured at its best.

This project, three paths over the same history:
- `seed hydrate`: `Loan(id).hydrate([dict, ...])`, numbered dicts as tests and migrations seed aggregates;
- `stored records`: `Repository.hydrate` over an `InMemoryEventStore` (RecordedEvent -> Event -> handler);
- `dynamodb items`: `Repository.hydrate` over a `DynamoDBEventStore` whose client answers each Query with a
  page of items as boto3 returns them (no network, no moto): item -> RecordedEvent -> Event -> handler.
The stored repayments are `LoanPaid` at schema v1, so both stored paths upcast them to v2 as they read, and
every check of the domain and of the fold runs on every event. The stand-in keeps all the items in memory
(about 1.4 KB of Python objects each), so each run reads them from main memory, not from a cache.

Runs alternate (peer, then each path, again and again), so a busy machine slows both sides alike; each figure
is the median of the runs. Every run checks the folded state (version and balance) on both sides.
The peer is installed for the benchmark only: `make bench` installs the `bench` extra.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from benchmarks.hydrate import history, seeds
from core.dynamodb import DynamoDBEventStore, to_item
from core.events import to_record
from core.repository import Repository
from core.store import InMemoryEventStore
from loans import Loan

#: Items in one page of the stand-in client's Query answers (DynamoDB's 1 MB holds about 6,000 of these).
PAGE = 1_000


def peer_loan_class() -> tuple[type, Callable[[Any], Any]]:
    """The peer's loan: the same statuses and checks as `loans.Loan`, written as `eventsourcing` is used."""
    from eventsourcing.domain import Aggregate, event

    cent = Decimal("0.01")
    payable = frozenset(("DISBURSED", "PAID", "ARREARS"))

    class PeerLoan(Aggregate):
        @event("Created")
        def __init__(self, requested_amount: Decimal, interest: Decimal) -> None:
            if not (requested_amount > 0 and requested_amount == requested_amount.quantize(cent)):
                raise ValueError(f"requested_amount {requested_amount}")
            self.requested_amount = requested_amount
            self.interest = interest
            self.status = "CREATED"
            self.balance = Decimal("0.00")

        @event("Approved")
        def approve(self) -> None:
            if self.status != "CREATED":
                raise ValueError(self.status)
            self.status = "APPROVED"

        @event("Disbursed")
        def disburse(self) -> None:
            if self.status != "APPROVED":
                raise ValueError(self.status)
            self.status = "DISBURSED"
            self.balance = (self.requested_amount * (1 + self.interest)).quantize(cent)

        @event("Paid")
        def pay(self, amount: Decimal) -> None:
            if self.status not in payable:
                raise ValueError(self.status)
            if not (amount > 0 and amount == amount.quantize(cent)) or amount > self.balance:
                raise ValueError(f"amount {amount}")
            self.balance -= amount
            self.status = "PAID"

    return PeerLoan, PeerLoan.pay


def project(aggregate: Any, domain_events: Any) -> Any:
    """The peer's default projector (`eventsourcing.application.project_aggregate`) without its per-event
    `assert isinstance(event, CanMutateProtocol)`: a runtime-checkable Protocol check that costs the peer more
    than half its fold on Python 3.11 to 3.13, and that `python -O` strips. The peer is timed at its best."""
    for domain_event in domain_events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


def peer_setup(size: int) -> dict[str, Callable[[], tuple[int, Decimal]]]:
    """Save the history in the peer's in-memory application; return its `repository.get` as shipped, and with
    the projector that skips the per-event assertion (the peer at its best)."""
    from eventsourcing.application import Application

    peer_class, _ = peer_loan_class()
    app: Application = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    events = history(size)
    created = events[0].data
    loan = peer_class(requested_amount=created["requested_amount"], interest=created["interest"])
    loan.approve()
    loan.disburse()
    for paid in events[3:]:
        loan.pay(amount=paid.data["amount"])
    app.save(loan)
    loan_id = loan.id

    def get() -> tuple[int, Decimal]:
        folded = app.repository.get(loan_id)
        return folded.version, folded.balance

    def get_at_best() -> tuple[int, Decimal]:
        folded = app.repository.get(loan_id, projector_func=project)
        return folded.version, folded.balance

    return {"default": get, "best": get_at_best}


class PagedItems:
    """A stand-in DynamoDB client for the events table: answers `query` with the items in pages, as boto3
    returns them, so the store's own decoding is timed without a network or moto's cost."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items

    def query(self, **request: Any) -> dict[str, Any]:
        start = int(request.get("ExclusiveStartKey", {}).get("number", {}).get("N", 0))
        page = self.items[start:start + PAGE]
        reply: dict[str, Any] = {"Items": page, "Count": len(page)}
        if start + PAGE < len(self.items):
            reply["LastEvaluatedKey"] = {"id": page[-1]["id"], "number": {"N": str(start + PAGE)}}
        return reply


def ours_setup(size: int) -> dict[str, Callable[[], tuple[int, Decimal]]]:
    values = seeds(size)
    recorded = [to_record(event) for event in history(size)]
    memory = InMemoryEventStore()
    for start in range(0, size, 100):
        memory.append("loan", start, recorded[start:start + 100])
    dynamodb = DynamoDBEventStore("Loans", client=PagedItems([to_item("loan", record) for record in recorded]))

    def seeded() -> tuple[int, Decimal]:
        loan = Loan("loan").hydrate(values)
        return loan.version, loan.balance

    def from_store(store: Any) -> Callable[[], tuple[int, Decimal]]:
        repository = Repository(store)

        def hydrate() -> tuple[int, Decimal]:
            loan = Loan("loan", repository=repository)
            repository.hydrate(loan)
            return loan.version, loan.balance

        return hydrate

    return {"seed hydrate, list of dicts": seeded, "stored records (in memory)": from_store(memory),
            "dynamodb items (no network)": from_store(dynamodb)}


def timed(action: Callable[[], tuple[int, Decimal]], expected: tuple[int, Decimal]) -> tuple[float, float]:
    """Seconds by the wall clock and of CPU time for one run, once its folded state is checked."""
    gc.collect()
    started, used = time.perf_counter(), time.process_time()
    result = action()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - used
    if result != expected:
        raise AssertionError(f"folded {result}, expected {expected}")
    return elapsed, cpu


def compare(size: int, runs: int) -> list[dict[str, Any]]:
    """One row per path of ours: its events/s by CPU time and the ratio to each peer variant (`peer` as
    shipped, `best` without the per-event assertion), then the wall-clock ratio to the peer at its best."""
    events = history(size)
    expected_balance = (events[0].data["requested_amount"] * (1 + events[0].data["interest"])).quantize(
        Decimal("0.01")) - sum(event.data["amount"] for event in events[3:])
    expected = (size, expected_balance)
    actions = {f"peer {name}": action for name, action in peer_setup(size).items()} | ours_setup(size)
    for action in actions.values():
        timed(action, expected)  # warm-up: both sides' caches and dispatch tables
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in actions}
    for _ in range(runs):
        for name, action in actions.items():
            times[name].append(timed(action, expected))
    wall, cpu = ({name: size / statistics.median(run[clock] for run in runs_of) for name, runs_of in times.items()}
                 for clock in (0, 1))
    rows = []
    for name in actions:
        if name.startswith("peer "):
            continue
        rows.append({"path": name, "events": size, "runs": runs, "cpu_per_s": round(cpu[name]),
                     "peer_cpu_per_s": round(cpu["peer default"]), "ratio": round(cpu[name] / cpu["peer default"], 2),
                     "best_cpu_per_s": round(cpu["peer best"]), "best_ratio": round(cpu[name] / cpu["peer best"], 2),
                     "best_wall_ratio": round(wall[name] / wall["peer best"], 2)})
    return rows


def run(quick: bool) -> list[dict[str, Any]]:
    return compare(20_000 if quick else 100_000, 5 if quick else 9)


if __name__ == "__main__":
    from benchmarks.__main__ import print_table

    print_table("fold rate against eventsourcing 9.5", run(quick=False))
