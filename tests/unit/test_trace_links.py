"""Trace across the stream: a command's trace context is kept in its event's meta, and the projector's log line
(and X-Ray metadata) for that event links to it, sampled or not."""

from __future__ import annotations

import json
import logging
import random
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import codec
from core.events import RecordedEvent
from core.trace import trace_links, trace_meta
from handlers import commands
from handlers.app import App
from handlers.projector import runner
from handlers.tables import ensure_tables
from loans import Loan
from tests.api_support import LambdaContext, rest_event

UNSAMPLED = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
XRAY = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"


def test_a_well_formed_traceparent_and_xray_header_are_kept() -> None:
    assert trace_meta({"traceparent": UNSAMPLED}, {}) == {"traceparent": UNSAMPLED}
    assert trace_meta({"Traceparent": UNSAMPLED}, {"_X_AMZN_TRACE_ID": XRAY}) == {
        "traceparent": UNSAMPLED, "xray_trace_id": XRAY}
    assert trace_meta({"X-Amzn-Trace-Id": XRAY}, {}) == {"xray_trace_id": XRAY}
    assert trace_meta(None, {}) == {}


@pytest.mark.parametrize("bad", [
    "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",  # no flags
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # the forbidden version
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", "x" * 10_000,
])
def test_a_malformed_traceparent_is_ignored_not_kept(bad: str) -> None:
    assert trace_meta({"traceparent": bad}, {}) == {}


@pytest.mark.parametrize("bad", ["Root=", "Parent=53995c3f42cd8ad8", "Root=1-zz-yy", "garbage"])
def test_a_malformed_xray_header_is_ignored(bad: str) -> None:
    assert trace_meta({"X-Amzn-Trace-Id": bad}, {"_X_AMZN_TRACE_ID": ""}) == {}


def test_trace_links_reads_only_the_trace_keys_of_a_meta() -> None:
    assert trace_links({"traceparent": UNSAMPLED, "correlation_id": "r", "xray_trace_id": 5}) == {
        "traceparent": UNSAMPLED}


@pytest.fixture
def stack(app: App, aws: None) -> Any:
    ensure_tables(app)
    return app.dynamodb


def test_a_post_with_a_traceparent_is_linked_by_the_projectors_log_line_even_unsampled(
        app: App, stack: Any, caplog: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", XRAY)
    event = rest_event("POST", "/loans", '{"requested_amount": 100.00, "interest": 0.1}')
    event["headers"]["traceparent"] = UNSAMPLED
    response = commands.handler_for(app)(event, LambdaContext())
    loan_id = json.loads(response["body"])["id"]
    untraced = Loan()  # committed without a request: no trace context, no link
    untraced.commit({"type": "LoanCreated", "requested_amount": Decimal("5.00"), "interest": Decimal("0")})
    (stored,) = app.event_store(Loan).read(loan_id)
    assert trace_links(codec.decode(stored.meta)) == {"traceparent": UNSAMPLED, "xray_trace_id": XRAY}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="projector"):
        runner(app).drain()
    lines = [record for record in caplog.records if hasattr(record, "trace_links")]
    links = [link for line in lines for link in line.trace_links]
    assert links == [{"aggregate_id": loan_id, "number": 1, "traceparent": UNSAMPLED, "xray_trace_id": XRAY}]
    assert all(line.name == "projector" for line in lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), size=st.integers(1, 6), copies=st.integers(0, 5), traced=st.data())
def test_under_shuffled_duplicated_batches_every_traced_event_folded_is_linked_to_its_own_context(
        seed: int, size: int, copies: int, traced: Any) -> None:
    from core.store import InMemoryEventStore
    from loans.projections import loan_summary
    from projections.batch import project_batch
    from projections.projector import Projector
    from projections.store import InMemoryProjectionStore
    from projections.tables import table_definitions, tables_for

    projection = loan_summary()
    events, rows = InMemoryEventStore(), InMemoryProjectionStore()
    tables = tables_for(projection, 0)
    rows.create(table_definitions(projection, tables))
    project = Projector(projection, None, events, lambda: tables, rows=rows)
    steps = [{"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0")},
             {"type": "LoanApproved"}, {"type": "LoanDisbursed"}]
    expected = {}
    for index in range(size):
        loan = Loan(f"L{index}", store=events)
        for number, step in enumerate(steps, 1):
            context = {"traceparent": f"00-{index + 1:032x}-{number:016x}-00"} if traced.draw(st.booleans()) else {}
            loan.commit({**step, "meta": {"correlation_id": "c", **context}})
            if context:
                expected[(loan.id, number)] = context["traceparent"]
    records = [record(loan_id, event) for loan_id in events.aggregate_ids() for event in events.read(loan_id)]
    rng = random.Random(seed)
    records += [rng.choice(records) for _ in range(copies)]
    rng.shuffle(records)
    seen: dict[tuple[str, int], str] = {}
    for start in range(0, len(records), 4):
        result = project_batch([Record(r) for r in records[start:start + 4]], project, 0.0)
        for link in result.links:
            key = (str(link["aggregate_id"]), int(str(link["number"])))
            assert seen.setdefault(key, str(link["traceparent"])) == link["traceparent"]
    assert seen == expected  # each traced event linked to its own command's context, none invented


class Record:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw_event = raw
        self.event_id = raw["eventID"]


def record(loan_id: str, event: RecordedEvent) -> dict[str, Any]:
    image = {"id": {"S": loan_id}, "number": {"N": str(event.number)}, "type": {"S": event.type},
             "created": {"S": event.created}, "data": {"S": event.data}}
    if event.meta:
        image["meta"] = {"S": event.meta}
    return {"eventID": f"{loan_id}-{event.number}", "eventName": "INSERT",
            "dynamodb": {"SequenceNumber": f"{loan_id}-{event.number}", "NewImage": image}}
