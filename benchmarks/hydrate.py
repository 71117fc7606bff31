"""Hydrate: full replay vs snapshot + tail (DynamoDB, S3) vs warm cache; fold rate; replay memory.

Requests and bytes are counted exactly (`core.metering.RequestMeter`) against in-process moto; milliseconds
on moto mostly measure moto (its Query sorts the whole table on every call), so read them as relative.
The in-memory rows, the fold rate and the seed-style hydrate (a list of dicts) time this project's own CPU
work. Loans have a snapshot 50 events below the top (mid-way between two snapshots at the default interval
of 100); 10-event loans have none.
The `moto-http` rows hydrate in a fresh process (`aws-es hydrate --json`, its own hash seed) a loan and
snapshot this process wrote to moto's HTTP server: what a Lambda cold start or the command line costs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from core import events as core_events
from core.dynamodb import DynamoDBEventStore, events_table_definition, records, to_item
from core.events import Event, to_record
from core.metering import RequestMeter
from core.repository import Repository, apply_stored
from core.retry import execute
from core.store import InMemoryEventStore
from handlers.app import App
from handlers.local import LocalStack
from loans import Loan
from snapshots import (
    AggregateCache,
    DynamoDBSnapshotStore,
    InMemorySnapshotStore,
    S3SnapshotStore,
    SnapshotPolicy,
    SnapshottingRepository,
    take,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
TAIL = 50
#: A repayment schedule: a dozen different instalments, as a real loan's repayments repeat.
INSTALMENTS = [Decimal(f"{10 + step}.{step:02d}") for step in range(12)]


def history(size: int, distinct: bool = False) -> list[Event]:
    """A disbursed loan of `size` events; repayments cycle through the instalments (or are all distinct)."""
    head = [
        Event("LoanCreated", {"requested_amount": Decimal(size * 1000), "interest": Decimal("0.05")}, 1, START),
        Event("LoanApproved", {}, 2, START),
        Event("LoanDisbursed", {}, 3, START),
    ]
    paid = [Event("LoanPaid", {"amount": Decimal(number).scaleb(-2) if distinct else INSTALMENTS[number % 12]},
                  number, START + timedelta(minutes=number)) for number in range(4, size + 1)]
    return (head + paid)[:size]


def row(backend: str, events: int, mode: str, **values: Any) -> dict[str, Any]:
    base = dict.fromkeys(("requests", "bytes", "decoded", "median_ms", "rate_per_s", "peak_kib"))
    return {"backend": backend, "events": events, "mode": mode, **base, **values}


def timed(action: Callable[[], Any], runs: int) -> tuple[Any, float]:
    results, times = [], []
    for _ in range(runs):
        started = time.perf_counter()
        results.append(action())
        times.append((time.perf_counter() - started) * 1000)
    return results[0], statistics.median(times)


# -- moto: requests and bytes --------------------------------------------------------------------------------

def moto_rows(sizes: tuple[int, ...], runs: int) -> list[dict[str, Any]]:
    import boto3
    from moto import mock_aws

    rows = []
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        dynamodb.create_table(**events_table_definition("Loans"))
        s3.create_bucket(Bucket="bench-snapshots")
        meter = RequestMeter()
        meter.attach(dynamodb)
        meter.attach(s3)
        events = DynamoDBEventStore("Loans", client=dynamodb)
        policy = SnapshotPolicy(every=100)
        stores = {"dynamodb": DynamoDBSnapshotStore("Loans", client=dynamodb),
                  "s3": S3SnapshotStore("bench-snapshots", client=s3)}
        for size in sizes:
            loan_id = f"loan-{size}"
            _load(dynamodb, loan_id, history(size))
            if size > 2 * TAIL:
                before = Loan(loan_id, store=InMemoryEventStore()).apply(history(size - TAIL))
                for store in stores.values():
                    store.put(take(before))
            modes: list[tuple[str, Any]] = [("full replay", Repository(events))]
            modes += [(f"{name} snapshot", SnapshottingRepository(events, store, policy))
                      for name, store in stores.items()]
            for mode, repository in modes:
                rows.append(_measure(meter, "moto", size, mode, repository, loan_id, runs))
            warm = SnapshottingRepository(events, stores["dynamodb"], policy, AggregateCache())
            warm.hydrate(Loan(loan_id, repository=warm))
            rows.append(_measure(meter, "moto", size, "warm cache", warm, loan_id, runs))
            rows.append(_command(meter, size, warm, loan_id, runs))
    return rows


def _load(client: Any, loan_id: str, events: list[Event]) -> None:
    """Setup, not the code under test: batch writes (moto's transactions copy the whole table)."""
    items = [{"PutRequest": {"Item": to_item(loan_id, to_record(event))}} for event in events]
    for start in range(0, len(items), 25):
        client.batch_write_item(RequestItems={"Loans": items[start:start + 25]})


def _measure(meter: RequestMeter, backend: str, size: int, mode: str, repository: Repository, loan_id: str,
             runs: int) -> dict[str, Any]:
    def hydrate() -> tuple[int, int, int]:
        before = meter.snapshot()
        loan = Loan(loan_id, repository=repository)
        loaded = repository.hydrate(loan)
        assert loan.version >= size, (mode, loan.version, size)
        return meter.requests - before[0], meter.bytes_received - before[1], loaded.events_read

    (requests, received, decoded), ms = timed(hydrate, runs)
    return row(backend, size, mode, requests=requests, bytes=received, decoded=decoded, median_ms=round(ms, 2))


def _command(meter: RequestMeter, size: int, repository: SnapshottingRepository, loan_id: str,
             runs: int) -> dict[str, Any]:
    def command() -> tuple[int, int, dict[str, int]]:
        meter.by_operation.clear()
        before = meter.snapshot()
        execute(Loan(loan_id, repository=repository),
                lambda loan: loan.commit({"type": "LoanPaid", "amount": Decimal("1.00")}))
        return meter.requests - before[0], meter.bytes_received - before[1], dict(meter.by_operation)

    (requests, received, operations), ms = timed(command, runs)
    mode = "command, cached: " + " ".join(f"{name} {count}" for name, count in sorted(operations.items()))
    return row("moto", size, mode, requests=requests, bytes=received, decoded=0, median_ms=round(ms, 2))


# -- in-memory store: this project's CPU work ----------------------------------------------------------------

def memory_rows(sizes: tuple[int, ...], runs: int) -> list[dict[str, Any]]:
    rows = []
    for size in sizes:
        events, snapshots = InMemoryEventStore(), InMemorySnapshotStore()
        loan_id = f"loan-{size}"
        records = [to_record(event) for event in history(size)]
        for start in range(0, size, 100):
            events.append(loan_id, start, records[start:start + 100])
        if size > 2 * TAIL:
            snapshots.put(take(Loan(loan_id).apply(history(size - TAIL))))
        policy = SnapshotPolicy(every=100)
        warm = SnapshottingRepository(events, snapshots, policy, AggregateCache())
        warm.hydrate(Loan(loan_id, repository=warm))
        for mode, repository in (("full replay", Repository(events)),
                                 ("snapshot", SnapshottingRepository(events, snapshots, policy)),
                                 ("warm cache", warm)):
            def hydrate(repository: Repository = repository, loan_id: str = loan_id) -> int:
                return repository.hydrate(Loan(loan_id, repository=repository)).events_read

            decoded, ms = timed(hydrate, runs)
            rows.append(row("memory", size, mode, decoded=decoded, median_ms=round(ms, 3)))
    return rows


def apply_rate_rows(size: int) -> list[dict[str, Any]]:
    """Events per second decoded and applied from DynamoDB-shaped items (no network), median of nine runs."""
    rows = []
    for label, distinct in (("repeated instalments", False), ("all amounts distinct", True)):
        items = [to_item("rate", to_record(event)) for event in history(size, distinct)]
        times = []
        for _ in range(9):
            core_events.clear_payload_cache()
            loan = Loan("rate", repository=Repository(InMemoryEventStore()))
            started = time.perf_counter()
            apply_stored(loan, records(items))  # what DynamoDBEventStore.read does with each page
            times.append(time.perf_counter() - started)
            assert loan.version == size
        median = statistics.median(times)
        rows.append(row("client", size, f"fold rate, {label}", decoded=size, median_ms=round(median * 1000, 1),
                        rate_per_s=round(size / median)))
    return rows


def seeds(size: int) -> list[dict[str, Any]]:
    """A disbursed loan of `size` events as plain dicts, numbered, as tests and migrations seed aggregates."""
    return [{"type": event.type, "number": event.number, **event.data} for event in history(size)]


def seed_rows(size: int) -> list[dict[str, Any]]:
    """`Loan(id).hydrate([dict, ...])`: decode and fold, no store; median of nine runs after a warm-up.

    `python -m benchmarks.seed_compare BASE_TREE` times the same in another source tree, alternately.
    """
    values = seeds(size)
    Loan("seed-warm-up").hydrate(values)
    times = []
    for _ in range(9):
        started = time.perf_counter()
        loan = Loan("seeded").hydrate(values)
        times.append(time.perf_counter() - started)
        assert loan.version == size
    median = statistics.median(times)
    return [row("client", size, "seed hydrate, list of dicts", decoded=size, median_ms=round(median * 1000, 1),
                rate_per_s=round(size / median))]


def memory_peak_rows(sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """tracemalloc's peak while replaying (the stored records exist before the measurement starts)."""
    rows, baseline = [], None
    for size in sizes:
        store = InMemoryEventStore()
        records = [to_record(event) for event in history(size, distinct=True)]
        for start in range(0, size, 100):
            store.append("peak", start, records[start:start + 100])
        core_events.clear_payload_cache()
        tracemalloc.start()
        loan = Loan("peak", repository=Repository(store))
        loan.repository.hydrate(loan)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        baseline = baseline or peak
        rows.append(row("memory", size, f"full replay peak memory ({peak / baseline:.2f}x of {sizes[0]:,})",
                        decoded=size, peak_kib=round(peak / 1024, 1)))
    return rows


# -- another process: snapshots written here, read there ---------------------------------------------------

def fresh_process_rows(sizes: tuple[int, ...], runs: int) -> list[dict[str, Any]]:
    """Write each loan and its snapshots from this process to moto's server; hydrate it in fresh ones."""
    stack = LocalStack().start()
    try:
        app = App(stack.settings())
        dynamodb = app.dynamodb
        dynamodb.create_table(**events_table_definition("Loans"))
        app.s3.create_bucket(Bucket="bench-snapshots")
        stores = {"dynamodb": DynamoDBSnapshotStore("Loans", client=dynamodb),
                  "s3": S3SnapshotStore("bench-snapshots", client=app.s3)}
        rows = []
        for size in sizes:
            loan_id = f"fresh-{size}"
            _load(dynamodb, loan_id, history(size))
            before = Loan(loan_id, store=InMemoryEventStore()).apply(history(size - TAIL))
            for store in stores.values():
                store.put(take(before))
            for name in stores:
                reports = [_hydrate_elsewhere(stack, loan_id, name) for _ in range(runs)]
                first = reports[0]
                assert (first["version"], first["snapshot_version"]) == (size, size - TAIL), first
                rows.append(row("moto-http", size, f"fresh process, {name} snapshot", requests=first["requests"],
                                bytes=first["bytes"], decoded=first["events_read"],
                                median_ms=round(statistics.median(report["ms"] for report in reports), 2)))
        return rows
    finally:
        stack.stop()


def _hydrate_elsewhere(stack: LocalStack, loan_id: str, store: str) -> dict[str, Any]:
    """`aws-es hydrate ID --json` in a new interpreter (a hash seed of its own) against the same server."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("SNAPSHOT_", "PYTHONHASH"))}
    env.update(stack.environment(), SNAPSHOT_STORE=store, SNAPSHOT_BUCKET="bench-snapshots", SNAPSHOT_EVERY="100")
    done = subprocess.run([sys.executable, "-m", "handlers.cli", "hydrate", loan_id, "--json"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"aws-es hydrate {loan_id} failed: {done.stderr.strip()}")
    return json.loads(done.stdout)


def run(quick: bool) -> list[dict[str, Any]]:
    runs = 3 if quick else 5
    rows = moto_rows((10, 1_000) if quick else (10, 1_000, 10_000), runs)
    rows += fresh_process_rows((1_000,) if quick else (1_000, 10_000), 3)
    rows += memory_rows((10, 1_000, 10_000) if quick else (10, 1_000, 10_000, 100_000), runs)
    rows += apply_rate_rows(20_000 if quick else 100_000)
    rows += seed_rows(5_000)
    rows += memory_peak_rows((1_000, 100_000))
    return rows
