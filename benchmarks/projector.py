"""Projector and rebuild: events/s and DynamoDB write requests per event, coalesced vs one write per event.

Runs on moto in-process (mock_aws), so wall times measure moto as much as the projector (LOCAL-AWS trap 4);
request counts are exact (RequestMeter) and ratios are measured within the same run. Each figure is the
median of several runs.
"""

from __future__ import annotations

import random
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import boto3
from moto import mock_aws

from core.dynamodb import DynamoDBEventStore, events_table_definition, to_item
from core.metering import RequestMeter
from core.store import InMemoryEventStore
from loans import Loan
from loans.projections import loan_summary
from projections.dynamodb_store import DynamoDBProjectionStore
from projections.projector import Projector, StreamEvent
from projections.query import scan
from projections.rebuild import Rebuild
from projections.tables import Control, generation_definitions, keyed_table_definition, tables_for

PROJECTION = loan_summary()
WRITES = ("PutItem", "TransactWriteItems", "UpdateItem", "BatchWriteItem")


def _loans(count: int, payments: int) -> InMemoryEventStore:
    """`count` disbursed loans with `payments` repayments each, in memory."""
    store = InMemoryEventStore()
    for _ in range(count):
        loan = Loan(store=store)
        loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("100000.00"), "interest": Decimal("0.05")},
                     {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
        for _ in range(payments):
            loan.commit({"type": "LoanPaid", "amount": Decimal("1.25")})
    return store


def _load(client: Any, store: InMemoryEventStore) -> list[StreamEvent]:
    events = [StreamEvent(i, r, f"{i}-{r.number}") for i in store.aggregate_ids() for r in store.read(i)]
    requests = [{"PutRequest": {"Item": to_item(e.aggregate_id, e.event)}} for e in events]
    for start in range(0, len(requests), 25):
        client.batch_write_item(RequestItems={"Loans": requests[start:start + 25]})
    return events


def _setup(client: Any) -> None:
    client.create_table(**events_table_definition("Loans"))
    for generation in (0, 1):
        for definition in generation_definitions(PROJECTION, generation):
            client.create_table(**definition)
    client.create_table(**keyed_table_definition("ProjectionControl", "name"))


def _projector(client: Any, generation: int) -> Projector:
    tables = tables_for(PROJECTION, generation)
    return Projector(PROJECTION, client, DynamoDBEventStore("Loans", client), lambda: tables)


def _writes(meter: RequestMeter) -> int:
    return sum(meter.by_operation.get(name, 0) for name in WRITES)


def projector_run(loans: int) -> dict[str, float]:
    """One batch of 100 repayments over `loans` loans: coalesced (generation 0) and per event (generation 1)."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _setup(client)
        events = _load(client, _loans(loans, 100 // loans))
        opening = [e for e in events if e.event.number <= 3]
        batch = [e for e in events if e.event.number > 3]
        random.Random(loans).shuffle(batch)  # a stream orders nothing across items
        figures: dict[str, float] = {}
        for generation, mode in ((0, "coalesced"), (1, "per_event")):
            projector = _projector(client, generation)
            projector.apply(opening)
            meter = RequestMeter()
            meter.attach(client)
            started = time.perf_counter()
            if mode == "coalesced":
                projector.apply(batch)
            else:
                for event in sorted(batch, key=lambda e: (e.aggregate_id, e.event.number)):
                    projector.apply([event])
            elapsed = time.perf_counter() - started
            client.meta.events.unregister("after-call", meter._after_call)
            figures[f"{mode}_writes"] = _writes(meter)
            figures[f"{mode}_eps"] = len(batch) / elapsed
        return figures


def rebuild_run(loans: int, payments: int) -> dict[str, float]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        _setup(client)
        events = len(_load(client, _loans(loans, payments)))
        started = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            sum(pool.map(lambda k: sum(1 for _ in scan(client, "Loans", k, 4)), range(4)))
        scan_seconds = time.perf_counter() - started
        rebuild = Rebuild(PROJECTION, DynamoDBEventStore("Loans", client), DynamoDBProjectionStore(PROJECTION, client),
                          Control("ProjectionControl", client, ttl=0), segments=4, workers=4)
        started = time.perf_counter()
        rebuild.run()
        rebuild_seconds = time.perf_counter() - started
        return {"events": events, "scan_s": scan_seconds, "rebuild_s": rebuild_seconds}


def run(quick: bool) -> list[dict]:
    """Rows share keys; `time_vs_baseline` is this case's time over its baseline's, measured in the same runs."""
    repeats = 3 if quick else 5
    rows = []
    for loans in (10, 100):
        runs = [projector_run(loans) for _ in range(repeats)]
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        rows.append({
            "case": f"project 100 records over {loans} loans", "baseline": "one write per event", "events": 100,
            "writes": int(median["coalesced_writes"]), "baseline_writes": int(median["per_event_writes"]),
            "target_writes": loans + 1, "events_per_s": median["coalesced_eps"],
            "baseline_events_per_s": median["per_event_eps"],
            "time_vs_baseline": statistics.median(r["per_event_eps"] / r["coalesced_eps"] for r in runs),
            "runs": repeats,
        })
    loans, payments = (40, 47) if quick else (100, 97)
    runs = [rebuild_run(loans, payments) for _ in range(repeats)]
    events = int(runs[0]["events"])
    rows.append({
        "case": f"rebuild {events:,} events of {loans} loans", "baseline": "plain 4-segment scan", "events": events,
        "writes": None, "baseline_writes": None, "target_writes": None,
        "events_per_s": events / statistics.median(r["rebuild_s"] for r in runs),
        "baseline_events_per_s": events / statistics.median(r["scan_s"] for r in runs),
        "time_vs_baseline": statistics.median(r["rebuild_s"] / r["scan_s"] for r in runs), "runs": repeats,
    })
    return rows
