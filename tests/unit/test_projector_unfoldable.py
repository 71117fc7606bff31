"""An event the projection cannot fold is named (loan, number, type, reason), never skipped or a bare KeyError.

The foreign spellings are put straight into the events table with boto3, as a log written before event types
were canonical would hold them; the write side refuses them today.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

from core.aggregate import handler_name
from core.codec import encode
from handlers.app import App
from handlers.cli import main
from handlers.projector import handler_for, runner
from handlers.tables import ensure_tables
from loans import Loan
from loans.demo import run_portfolio
from projections.batch import project_batch
from projections.definition import counter_totals
from projections.query import read_counters, scan_rows
from projections.runner import LocalContext
from projections.tables import tables_for
from tests.projection_support import PROJECTION, commit_history, create_tables, log_events, nonzero, projector


def put_event(client: Any, loan_id: str, number: int, event_type: str, **data: Any) -> None:
    client.put_item(TableName="Loans", Item={
        "id": {"S": loan_id}, "number": {"N": str(number)}, "type": {"S": event_type},
        "created": {"S": "2026-11-26T12:00:00.000000+00:00"}, "data": {"S": encode(data)},
    })


@pytest.fixture
def app(_isolated_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """The test's App and `main`'s read the control table afresh every time."""
    monkeypatch.setenv("PROJECTION_CONTROL_TTL", "0")
    with App.from_env().bound() as built:
        yield built


@pytest.fixture
def foreign(app: App, aws: None) -> dict[str, str]:
    """The demo portfolio projected live, then two loans with foreign-spelled events in the log; returns,
    per bad loan, the event that cannot be folded."""
    ensure_tables(app)
    loans = [loan for _, loan in run_portfolio()]
    runner(app).drain()
    client = app.dynamodb
    repaying = next(loan for loan in loans if loan.status == "PAID" and loan.balance > 0)
    put_event(client, repaying.id, repaying.version + 1, "loan_paid", amount=Decimal("10.00"))
    put_event(client, "foreign-created", 1, "loan_created", requested_amount=Decimal("100.00"),
              interest=Decimal("0.10"))
    put_event(client, "foreign-created", 2, "LoanApproved")
    put_event(client, "foreign-created", 3, "LoanDisbursed")
    return {repaying.id: f"loan_paid#{repaying.version + 1}", "foreign-created": "loan_created#1"}


def test_a_rebuild_names_each_loan_it_cannot_fold_finishes_the_rest_and_does_not_switch(
        app, foreign: dict[str, str], capsys: Any) -> None:
    bad = foreign
    client = app.dynamodb
    before = scan_rows(client, PROJECTION, tables_for(PROJECTION, 0))
    assert main(["rebuild", "loan-summary", "--of", "4"]) == 1
    out, err = capsys.readouterr()
    for loan_id, event in bad.items():
        assert any(loan_id in line and event in line and "did you mean Loan" in line for line in out.splitlines())
    assert "KeyError" not in out + err
    assert "generation 1 was not switched live: 2 aggregates could not be folded" in err
    assert app.control().live(PROJECTION.name) == 0
    # every other loan was folded into the new generation, with its counters
    rebuilt = tables_for(PROJECTION, 1)
    rows = scan_rows(client, PROJECTION, rebuilt)
    assert rows == {loan_id: row for loan_id, row in before.items() if loan_id not in bad}
    assert nonzero(read_counters(client, rebuilt)) == nonzero(counter_totals(PROJECTION, rows.values()))
    # run again: it still refuses to switch, and says why
    assert main(["rebuild", "loan-summary", "--of", "4"]) == 1
    assert "2 aggregates could not be folded" in capsys.readouterr().err
    assert app.control().live(PROJECTION.name) == 0


def test_verify_names_each_loan_whose_log_disagrees_with_its_row(foreign: dict[str, str], capsys: Any) -> None:
    bad = foreign
    assert main(["rebuild", "loan-summary", "--verify"]) == 1
    out, err = capsys.readouterr()
    for loan_id in bad:
        assert any(line.startswith(f"Loan {loan_id}: ") for line in out.splitlines())
    assert "KeyError" not in out + err


def test_the_live_projector_parks_the_events_it_cannot_fold_by_name_and_fails_no_record(app, foreign: dict[str, str]
                                                                                       ) -> None:
    bad = foreign
    newcomer = Loan()
    newcomer.commit({"type": "LoanCreated", "requested_amount": Decimal("5.00"), "interest": Decimal("0")})
    records: list[dict[str, Any]] = []
    app.runner(lambda event, _: records.extend(event["Records"])).drain()
    assert len(records) == 5  # the runner resumed after what the fixture projected
    reply = handler_for(app)({"Records": records}, LocalContext())
    assert reply["batchItemFailures"] == []  # parked, so no shard waits and no batch is retried
    parked = {marker.aggregate_id: marker for marker in app.parking().parked(PROJECTION.name)}
    assert set(parked) == set(bad)
    for loan_id, event in bad.items():
        assert f"cannot fold event {event} of {loan_id!r}" in parked[loan_id].reason
        assert f"{event.split('#')[0]}#{parked[loan_id].first}" == event
    assert parked["foreign-created"].count == 3
    result = project_batch(DynamoDBStreamEvent({"Records": records}).records, app.projector("Loans")[0],
                           time.time(), source_table="Loans")
    assert result.failed_records == {} and result.outcome.duplicates == 5  # redelivered: all held or parked
    tables = tables_for(PROJECTION, 0)
    assert scan_rows(app.dynamodb, PROJECTION, tables)[newcomer.id]["status"] == "CREATED"


def test_a_fold_that_fails_is_reported_for_that_loan_naming_the_event(aws: None) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    create_tables(client)
    steps = [{"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.10")},
             {"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": Decimal("10.00")}]
    paying, waiting = commit_history(client, steps), commit_history(client, steps[:2])

    def divides_by_zero(row: Any, event: Any) -> Any:
        if event.type == "LoanPaid":
            return row["balance"] / 0
        return PROJECTION.fold(row, event)

    buggy = dataclasses.replace(PROJECTION, fold=divides_by_zero)
    outcome = projector(client, projection=buggy).apply(log_events(client, [paying.id, waiting.id]))
    assert set(outcome.failed) == {f"{paying.id}-{n:06d}" for n in range(1, 5)}
    assert len(outcome.errors) == 1
    assert outcome.errors[0].startswith(f"loan-summary cannot fold event LoanPaid#4 of {paying.id!r}: "
                                        "the fold raised DivisionByZero")
    assert scan_rows(client, PROJECTION, tables_for(PROJECTION, 0))[waiting.id]["status"] == "APPROVED"


def test_the_loan_projection_folds_every_event_type_the_loan_handles_and_no_other() -> None:
    handlers = [name for name in dir(Loan) if name.startswith("on_") and callable(getattr(Loan, name))]
    handled = {"".join(part.capitalize() for part in name[3:].split("_")) for name in handlers}
    assert all(handler_name(event_type) in handlers for event_type in handled)
    assert PROJECTION.strict and PROJECTION.event_types == handled and not PROJECTION.ignored_types
    assert not PROJECTION.knows("loan_paid") and not PROJECTION.knows("LOAN_PAID")
