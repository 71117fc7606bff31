"""Helpers for the projection tests: tables on moto, loans with histories, the expected fold of the log."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.dynamodb import DynamoDBEventStore, events_table_definition
from loans import Loan
from loans.projections import loan_summary
from projections.definition import Projection, counter_totals
from projections.projector import Projector, StreamEvent
from projections.query import read_counters, scan_rows
from projections.rebuild import fold_segment
from projections.tables import Control, Tables, generation_definitions, keyed_table_definition, tables_for

PROJECTION = loan_summary()


def create_tables(client: Any, with_events: bool = True) -> Tables:
    definitions = [*generation_definitions(PROJECTION, 0), keyed_table_definition("ProjectionControl", "name")]
    if with_events:
        definitions.insert(0, events_table_definition("Loans"))
    for definition in definitions:
        client.create_table(**definition)
    return tables_for(PROJECTION, 0)


def projector(client: Any, tables: Tables | None = None, projection: Projection = PROJECTION) -> Projector:
    fixed = tables or tables_for(projection, 0)
    return Projector(projection, client, DynamoDBEventStore("Loans", client), lambda: fixed, shards=4)


def control(client: Any) -> Control:
    return Control("ProjectionControl", client, ttl=0)


def commit_history(client: Any, steps: list[dict[str, Any]]) -> Loan:
    loan = Loan(store=DynamoDBEventStore("Loans", client))
    for step in steps:
        loan.commit(step)
    return loan


def log_events(client: Any, loan_ids: list[str]) -> list[StreamEvent]:
    store = DynamoDBEventStore("Loans", client)
    return [StreamEvent(loan_id, record, f"{loan_id}-{record.number:06d}")
            for loan_id in loan_ids for record in store.read(loan_id)]


def expected(source: Any) -> tuple[dict, dict]:
    """The rows and counters of the log folded once; `source` is an event store, or a client of "Loans"."""
    events = source if hasattr(source, "estimate") else DynamoDBEventStore("Loans", source)
    rows, failed = fold_segment(events, PROJECTION)
    assert not failed, failed
    return rows, nonzero(counter_totals(PROJECTION, rows.values()))


def actual(client: Any, tables: Tables) -> tuple[dict, dict]:
    return scan_rows(client, PROJECTION, tables), nonzero(read_counters(client, tables))


def nonzero(counters: dict[str, dict[str, Decimal]]) -> dict[str, dict[str, Decimal]]:
    cleaned = {group: {k: v for k, v in values.items() if v != 0} for group, values in counters.items()}
    return {group: values for group, values in cleaned.items() if values}


def history(requested: int, interest: str, path: str, payments: list[int]) -> list[dict[str, Any]]:
    """A legal loan history: created, then one of the workflow's paths with some repayments."""
    steps: list[dict[str, Any]] = [{"type": "LoanCreated", "requested_amount": Decimal(f"{requested}.00"),
                                    "interest": Decimal(interest)}]
    if path == "rejected":
        return [*steps, {"type": "LoanRejected"}]
    steps.append({"type": "LoanApproved"})
    if path == "approved":
        return steps
    steps.append({"type": "LoanDisbursed"})
    balance = (Decimal(requested) * (1 + Decimal(interest))).quantize(Decimal("0.01"), ROUND_HALF_UP)
    for amount in payments:
        paid = min(Decimal(amount), balance)
        if paid <= 0:
            break
        steps.append({"type": "LoanPaid", "amount": paid})
        balance -= paid
    if path == "settled" and balance > 0:
        steps.append({"type": "LoanPaid", "amount": balance})
        balance = Decimal(0)
    if path == "settled":
        steps.append({"type": "LoanSettled"})
    elif path == "collections":
        steps += [{"type": "LoanArrears"}, {"type": "LoanCollections"}]
    return steps
