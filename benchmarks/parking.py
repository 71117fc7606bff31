"""Parking: one poisoned loan among busy loans leaves the others' commit-to-visible lag unchanged.

Commit-to-visible is an event's `created` time to the write of the row that holds it. Loans are opened, then
paid in random order at a steady rate; batches of 100 stream records go through the real projector (the
loan-summary projection, its fold made to fail on one loan's payments, as a bad release would) into the
in-memory projection and parking stores, so the figures measure the projector, not moto. The same workload
runs without and with the poisoned loan; p50/p99 are over every other loan's events. A second, small run on
moto (in-process) counts the parking table's requests per batch.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import boto3
from moto import mock_aws

from core.codec import encode
from core.dynamodb import DynamoDBEventStore, events_table_definition
from core.events import Event, RecordedEvent
from core.metering import RequestMeter
from core.store import InMemoryEventStore
from loans.projections import fold_summary, loan_summary
from projections.dynamodb_store import DynamoDBProjectionStore
from projections.parking import DynamoDBParkingStore, InMemoryParkingStore, parking_table_definition
from projections.projector import Projector, StreamEvent
from projections.store import InMemoryProjectionStore
from projections.tables import generation_definitions, tables_for

POISON = Decimal("7.77")
BATCH = 100
OPENING = [("LoanCreated", {"requested_amount": Decimal("1000.00"), "interest": Decimal("0.05")}),
           ("LoanApproved", {}), ("LoanDisbursed", {})]


def poisoned_fold(row: Any, event: Event) -> Any:
    if event.type == "LoanPaid" and event.data["amount"] == POISON:
        raise ValueError("this release cannot fold 7.77")
    return fold_summary(row, event)


PROJECTION = dataclasses.replace(loan_summary(), fold=poisoned_fold)
TABLES = tables_for(PROJECTION, 0)


def workload(loans: int, payments: int, poisoned: bool, seed: int = 7) -> list[tuple[str, str, dict[str, Any]]]:
    """(loan id, type, data) in commit order: every loan opened, then payments in random order."""
    rng = random.Random(seed)
    ids = [f"loan-{i:05d}" for i in range(loans)]
    steps = [(loan_id, kind, data) for loan_id in ids for kind, data in OPENING]
    paying = [loan_id for loan_id in ids for _ in range(payments)]
    rng.shuffle(paying)
    for loan_id in paying:
        amount = POISON if poisoned and loan_id == ids[0] else Decimal("10.00")
        steps.append((loan_id, "LoanPaid", {"amount": amount}))
    return steps


def lag_run(loans: int, payments: int, poisoned: bool) -> dict[str, Any]:
    log = InMemoryEventStore()
    rows, parking = InMemoryProjectionStore(), InMemoryParkingStore()
    rows.create(generation_definitions(PROJECTION, 0))
    written: dict[str, float] = {}
    original = rows.write

    def timed(tables: Any, aggregate_id: str, *args: Any) -> None:
        original(tables, aggregate_id, *args)
        written[aggregate_id] = time.time()

    rows.write = timed  # type: ignore[method-assign,assignment]
    projector = Projector(PROJECTION, None, log, lambda: TABLES, rows=rows, parking=parking)
    versions: dict[str, int] = {}
    lags: list[float] = []
    steps = workload(loans, payments, poisoned)
    for start in range(0, len(steps), BATCH):
        batch = []
        for loan_id, kind, data in steps[start:start + BATCH]:  # committed now, delivered as one stream batch
            number = versions.get(loan_id, 0) + 1
            created = datetime.now(UTC)
            event = RecordedEvent(number, kind, created.isoformat(timespec="microseconds"), encode(data))
            log.append(loan_id, number - 1, [event])
            versions[loan_id] = number
            batch.append((StreamEvent(loan_id, event, f"{loan_id}-{number}"), created.timestamp()))
        written.clear()
        outcome = projector.apply(item for item, _ in batch)
        assert not outcome.failed, outcome.errors
        lags += [written[item.aggregate_id] - created for item, created in batch
                 if item.aggregate_id != "loan-00000"]
    lags.sort()
    parked = parking.parked()
    return {"poisoned loan": "yes" if poisoned else "no", "loans": loans, "events": len(steps),
            "lag p50 ms": statistics.median(lags) * 1000, "lag p99 ms": lags[int(len(lags) * 0.99)] * 1000,
            "parked events": sum(marker.count for marker in parked), "parking requests": parking.requests,
            "batches": -(-len(steps) // BATCH)}


def request_cost(loans: int) -> dict[str, Any]:
    """Requests by operation on moto for one batch of `loans` aggregates' payments, one of them parked."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        for definition in [events_table_definition("Loans"), *generation_definitions(PROJECTION, 0),
                           parking_table_definition()]:
            client.create_table(**definition)
        store = DynamoDBEventStore("Loans", client)
        projector = Projector(PROJECTION, client, store, lambda: TABLES, shards=4,
                              rows=DynamoDBProjectionStore(PROJECTION, client, 4),
                              parking=DynamoDBParkingStore("ParkedEvents", client))
        batches: list[list[StreamEvent]] = [[], []]
        for i in range(loans):
            loan_id = f"loan-{i:05d}"
            events = [RecordedEvent(n, kind, "2026-12-02T08:00:00.000000+00:00", encode(data))
                      for n, (kind, data) in enumerate(OPENING, 1)]
            amount = POISON if i == 0 else Decimal("10.00")
            events.append(RecordedEvent(4, "LoanPaid", "2026-12-02T08:00:00.000000+00:00", encode({"amount": amount})))
            store.append(loan_id, 0, events)
            batches[0] += [StreamEvent(loan_id, e, f"{loan_id}-{e.number}") for e in events[:3]]
            batches[1].append(StreamEvent(loan_id, events[3], f"{loan_id}-4"))
        projector.apply(batches[0])
        rows: list[dict[str, Any]] = []
        for label, batch in (("payments, one loan parks", batches[1]), ("redelivered, one loan parked", batches[1])):
            meter = RequestMeter()
            meter.attach(client)
            projector.apply(batch)
            client.meta.events.unregister("after-call", meter._after_call)
            rows.append({"batch": label, "aggregates": len(batch), "requests": meter.requests,
                         **{op: meter.by_operation.get(op, 0) for op in ("BatchGetItem", "BatchWriteItem",
                                                                         "UpdateItem", "PutItem",
                                                                         "TransactWriteItems")}})
        return {"rows": rows}


def run(quick: bool = False) -> list[dict[str, Any]]:
    loans, payments = (200, 5) if quick else (1000, 10)
    rows = [lag_run(loans, payments, poisoned) for poisoned in (False, True, False, True)]
    print("\nparking requests on moto, per batch (one BatchGetItem of the rows, one of the parking markers):")
    for row in request_cost(50 if quick else 100)["rows"]:
        print("  " + ", ".join(f"{key}: {value}" for key, value in row.items()))
    return rows
