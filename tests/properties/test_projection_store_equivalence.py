"""Invariant 4 on every projection store: rows, row counters and event counters equal the log applied once,
whatever the stream does (redelivery, reordering across aggregates, duplicates, batches replayed late).

The expected values come from the write side (each Loan's own state) and from the committed steps
themselves (amounts and dates), never from the projection's fold, counters or the projector.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.dynamodb import DynamoDBEventStore
from core.store import InMemoryEventStore
from loans import Loan
from loans.projections import read_daily
from projections.definition import nonzero
from projections.dynamodb_store import DynamoDBProjectionStore
from projections.projector import Projector, StreamEvent
from projections.store import InMemoryProjectionStore
from projections.tables import generation_definitions, tables_for
from tests.moto_support import emptied_moto
from tests.projection_support import PROJECTION, commit_history, create_tables, history, log_events

START = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
ZONES = [UTC, timezone(timedelta(hours=5)), timezone(timedelta(hours=-8))]
TABLES = tables_for(PROJECTION, 0)

dated_histories = st.lists(
    st.builds(history, st.integers(1, 5_000), st.sampled_from(["0.00", "0.05"]),
              st.sampled_from(["rejected", "approved", "repaying", "settled", "collections"]),
              st.lists(st.integers(1, 2_000), max_size=5)).flatmap(
        lambda steps: st.lists(st.tuples(st.integers(0, 72 * 60), st.sampled_from(ZONES)),
                               min_size=len(steps), max_size=len(steps)).map(
            lambda moments: [{**step, "created": (START + timedelta(minutes=m)).astimezone(zone)}
                             for step, (m, zone) in zip(steps, moments, strict=True)])),
    min_size=1, max_size=4,
)
faults = st.sampled_from(["ok", "ok", "duplicate", "drop", "redeliver", "race"])


class Racing:
    """A store whose next row read lets a rival projector write first: the reader's write is then stale."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.rival: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def read_rows(self, tables: Any, ids: Any) -> Any:
        found = self.store.read_rows(tables, ids)
        rival, self.rival = self.rival, None
        if rival is not None:
            rival()
        return found


@contextlib.contextmanager
def backend(kind: str) -> Iterator[tuple[Any, Any, Any]]:
    """(commit(steps) -> Loan, log(ids) -> stream events, (projector over a given store, the store))."""
    if kind == "memory":
        events = InMemoryEventStore()
        store = InMemoryProjectionStore()
        store.create(generation_definitions(PROJECTION, 0))

        def commit(steps: list[dict[str, Any]]) -> Loan:
            loan = Loan(store=events)
            for step in steps:
                loan.commit(step)
            return loan

        def log(ids: list[str]) -> list[StreamEvent]:
            return [StreamEvent(i, record, f"{i}-{record.number:06d}") for i in ids for record in events.read(i)]

        yield commit, log, (lambda rows: Projector(PROJECTION, None, events, lambda: TABLES, rows=rows), store)
        return
    with emptied_moto():  # the moto of `shared_aws`, which the test starts
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_tables(client)
        store = DynamoDBProjectionStore(PROJECTION, client, shards=4)
        yield (lambda steps: commit_history(client, steps), lambda ids: log_events(client, ids),
               (lambda rows: Projector(PROJECTION, client, DynamoDBEventStore("Loans", client), lambda: TABLES,
                                       rows=rows), store))


def expected(loans: list[Loan], histories: list[list[dict[str, Any]]]) -> tuple[dict, dict, dict]:
    rows = {loan.id: (loan.status, loan.balance, loan.version, loan.requested_amount) for loan in loans}
    portfolio: dict[str, dict[str, Decimal]] = {}
    for loan in loans:
        bucket = portfolio.setdefault(str(loan.status), {"loans": Decimal(0), "principal": Decimal(0),
                                                          "outstanding": Decimal(0)})
        bucket["loans"] += 1
        bucket["principal"] += loan.requested_amount or 0
        bucket["outstanding"] += loan.balance
    days: dict[str, dict[str, Decimal]] = {}
    for steps in histories:
        for step in steps:
            date = step["created"].astimezone(UTC).date().isoformat()
            for day in (days.setdefault(date, {}), days.setdefault(date[:7], {})):  # the day and its month
                if step["type"] == "LoanPaid":
                    day["collected"] = day.get("collected", Decimal(0)) + step["amount"]
                    day["repayments"] = day.get("repayments", Decimal(0)) + 1
                elif step["type"] == "LoanCreated":
                    day["new_loans"] = day.get("new_loans", Decimal(0)) + 1
                    day["requested"] = day.get("requested", Decimal(0)) + step["requested_amount"]
                elif step["type"] == "LoanSettled":
                    day["settled"] = day.get("settled", Decimal(0)) + 1
    return rows, nonzero(portfolio), nonzero(days)


@pytest.mark.parametrize("kind", ["memory", "dynamodb"])
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories=dated_histories, data=st.data())
def test_every_store_holds_the_log_applied_once_whatever_the_stream_does(shared_aws: Any, kind: str, histories: list,
                                                                         data: Any) -> None:
    with backend(kind) as (commit, log, (make_projector, store)):
        racing = Racing(store)
        projector, rival = make_projector(racing), make_projector(store)
        loans = [commit(steps) for steps in histories]
        events = data.draw(st.permutations(log([loan.id for loan in loans])), label="order")
        size = data.draw(st.integers(1, 8), label="batch size")
        batches = [events[i:i + size] for i in range(0, len(events), size)]
        late = []
        for number, batch in enumerate(batches):
            fault = data.draw(faults, label="fault")
            if fault == "drop":
                late.append(batch)
                continue
            if fault == "race":
                racing.rival = lambda batch=batch: rival.apply(batch)
            outcome = projector.apply(batch)
            assert not outcome.failed, outcome.errors
            if fault == "race":
                assert outcome.conflicts or not outcome.writes
            if fault == "duplicate":
                projector.apply(batch + batch)
            if fault == "redeliver" and number:
                projector.apply(batches[number - 1] + batch)
        for batch in late:
            projector.apply(batch)
        rows, portfolio, days = expected(loans, histories)
        held = {key: (row["status"], row["balance"], row["version"], row["requested_amount"])
                for key, row in store.rows(TABLES)}
        assert held == rows
        # per status (the book's day and month groups are checked in tests/unit/test_dashboard_tiles.py)
        assert {group: values for group, values in nonzero(store.counters(TABLES)).items()
                if "#" not in group} == portfolio
        assert nonzero(store.all_event_counters(TABLES)) == days
        last = max(datetime.fromisoformat(day).date() for day in days if len(day) == 10)
        shown = read_daily(None, TABLES, 5, today=last, store=store)
        for day in shown:
            want = days.get(day.day.isoformat(), {})
            assert (day.collected, day.repayments, day.new_loans, day.requested) == (
                want.get("collected", 0), want.get("repayments", 0), want.get("new_loans", 0),
                want.get("requested", 0))
