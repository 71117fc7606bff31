"""The rebuild state machine's Lambda worker over moto: begin, one segment, the finish, and bad input.

The expected rows come from the write side: each loan hydrated from the events table.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from handlers import rebuild_generations, rebuild_worker
from handlers.app import App
from handlers.projector import runner
from handlers.tables import ensure_tables
from loans import Loan
from loans.demo import run_portfolio
from projections.query import read_row
from projections.tables import tables_for
from tests.api_support import LambdaContext


@pytest.fixture
def app(_isolated_env: None) -> Iterator[App]:
    """The test's App reads the control table afresh every time."""
    with App.from_env({**os.environ, "PROJECTION_CONTROL_TTL": "0"}).bound() as built:
        yield built


@pytest.fixture
def invoke(app: App) -> Callable[..., dict[str, Any]]:
    """One step of the worker on the test's App."""
    worker = rebuild_worker.handler_for(app)
    return lambda **event: worker({"projection": "loan-summary", **event}, LambdaContext("rebuild-worker", 1024))


@pytest.fixture
def loans(app: App, aws: None) -> list[Loan]:
    """The demo portfolio committed and projected into generation 0 by the live projector."""
    ensure_tables(app)
    committed = [loan for _, loan in run_portfolio()]
    runner(app).drain()
    return committed


def written_state(loan_id: str) -> tuple[str | None, str, int]:
    loan = Loan(loan_id)
    loan.hydrate()
    return loan.status, f"{loan.balance:.2f}", loan.version


def rows_in(app: App, generation: int, loan_ids: list[str]) -> dict[str, tuple[str | None, str, int] | None]:
    declared = app.projection("loan-summary")
    tables = tables_for(declared, generation)
    rows = {loan_id: read_row(app.dynamodb, declared, tables, loan_id) for loan_id in loan_ids}
    return {loan_id: (row["status"], f"{row['balance']:.2f}", int(row["version"])) if row else None
            for loan_id, row in rows.items()}


def test_a_segment_step_folds_and_checkpoints_only_its_segment_and_runs_once(app, invoke, loans: list[Loan]) -> None:
    assert invoke(action="begin", segments=4) == {"generation": 1, "catch_up_only": False, "segments": 4,
                                                  "items": [0, 1, 2, 3], "concurrency": 4, "checkpoint_every": 10_000}
    first = invoke(action="segment", segments=4, segment=2)
    assert (first["done"], first["generation"], first["segment"]) == (True, 1, 2)
    control = app.control()
    assert [control.segment_done("loan-summary", 1, k, 4) is not None for k in range(4)] == [False, False, True, False]
    again = invoke(action="segment", segments=4, segment=2)
    assert (again["done"], again["events"]) == (True, 0), "a checkpointed segment is skipped, not folded again"
    assert control.live("loan-summary") == 0, "a segment alone never switches the projection live"


def test_every_segment_then_finish_switches_to_a_generation_equal_to_the_write_side(
        app, invoke, loans: list[Loan]) -> None:
    ids = [loan.id for loan in loans]
    invoke(action="begin", segments=3)
    folded = [invoke(action="segment", segments=3, segment=k) for k in range(3)]
    assert all(step["done"] for step in folded)
    assert sum(step["aggregates"] for step in folded) == len(loans)
    finished = invoke(action="finish", segments=3)
    assert (finished["switched"], finished["generation"], finished["aggregates"]) == (True, 1, len(loans))
    assert app.control().live("loan-summary") == 1
    assert rows_in(app, 1, ids) == {loan_id: written_state(loan_id) for loan_id in ids}


def test_begin_after_a_switch_whose_catch_up_was_interrupted_only_resumes_the_catch_up(
        app, invoke, loans: list[Loan]) -> None:
    invoke(action="begin", segments=2)
    for k in range(2):
        invoke(action="segment", segments=2, segment=k)
    control = app.control()
    control.switch("loan-summary", 1, 0)  # the switch landed, the catch-up did not
    assert invoke(action="begin", segments=2)["catch_up_only"] is True
    finished = invoke(action="finish", segments=2)
    assert (finished["switched"], finished["generation"]) == (True, 1)
    assert control.state("loan-summary", fresh=True)["previous"] is None


@pytest.mark.parametrize(("event", "named"), [
    ({"action": "explode", "segments": 4}, "action"),
    ({"action": "segment", "segments": 4, "segment": 4}, "segment"),
    ({"action": "segment", "segments": 4}, "segment"),
    ({"action": "segment", "segments": "4", "segment": 0}, "segments"),
    ({"action": "begin", "segments": 0}, "segments"),
    ({"action": "begin", "segments": 2, "projection": ""}, "projection"),
    ({"action": "begin", "segments": 2, "projection": None}, "projection"),
])
def test_a_malformed_step_is_refused_by_name_before_any_request(
        invoke, aws: None, event: dict[str, Any], named: str) -> None:
    with pytest.raises(rebuild_worker.RebuildStepError, match=f"^{named} must be"):
        invoke(**event)


def rebuild_once(worker: Callable[..., dict[str, Any]], segments: int = 2) -> dict[str, Any]:
    worker(action="begin", segments=segments)
    for k in range(segments):
        assert worker(action="segment", segments=segments, segment=k)["done"]
    return worker(action="finish", segments=segments)


@pytest.fixture
def stacked(app: App) -> Callable[..., dict[str, Any]]:
    """The worker as deployed in stack `loans-prod`, keeping one generation behind the live one."""
    limits = rebuild_worker.Limits(stack="loans-prod", keep_generations=1)
    worker = rebuild_worker.handler_for(app, limits)
    return lambda **event: worker({"projection": "loan-summary", **event}, LambdaContext("rebuild-worker", 1024))


def test_begin_creates_the_generation_encrypted_with_point_in_time_recovery_and_tagged(
        app: App, stacked: Callable[..., dict[str, Any]], loans: list[Loan]) -> None:
    stacked(action="begin", segments=2)
    client = app.dynamodb
    for name in rebuild_generations.names(tables_for(app.projection("loan-summary"), 1)):
        table = client.describe_table(TableName=name)["Table"]
        assert (table["SSEDescription"]["Status"], table["SSEDescription"]["SSEType"]) == ("ENABLED", "KMS")
        backups = client.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
        tags = {t["Key"]: t["Value"] for t in client.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"]}
        assert tags == {"aws-es:stack": "loans-prod", "aws-es:projection": "loan-summary", "aws-es:generation": "1"}


def test_old_generations_are_deleted_after_the_kept_switches_never_the_live_one_or_during_a_rebuild(
        app: App, stacked: Callable[..., dict[str, Any]], loans: list[Loan]) -> None:
    declared = app.projection("loan-summary")
    existing = lambda: set(app.dynamodb.list_tables()["TableNames"])  # noqa: E731
    assert rebuild_once(stacked)["dropped"] == []  # live 1, kept 0 (the stack's own)
    assert rebuild_once(stacked)["dropped"] == []  # live 2, kept 1
    third = rebuild_once(stacked)  # live 3: generation 1 is two switches behind
    assert sorted(third["dropped"]) == sorted(rebuild_generations.names(tables_for(declared, 1)))
    tables = existing()
    for generation in (0, 2, 3):
        assert set(rebuild_generations.names(tables_for(declared, generation))) <= tables
    stacked(action="begin", segments=2)  # generation 4 being built: nothing goes meanwhile
    assert rebuild_generations.drop_old_generations(declared, app.control(), app.dynamodb, "loans-prod", 0) == []
    assert set(rebuild_generations.names(tables_for(declared, 2))) <= existing()


def test_a_generation_table_not_tagged_as_this_stacks_is_never_deleted(
        app: App, invoke: Callable[..., dict[str, Any]], stacked: Callable[..., dict[str, Any]],
        loans: list[Loan]) -> None:
    declared = app.projection("loan-summary")
    rebuild_once(invoke)  # generation 1, tagged as the default stack's, not loans-prod's
    rebuild_once(stacked)
    assert rebuild_once(stacked)["dropped"] == []
    assert set(rebuild_generations.names(tables_for(declared, 1))) <= set(app.dynamodb.list_tables()["TableNames"])


@pytest.mark.parametrize(("environ", "named"), [
    ({"REBUILD_MAX_SEGMENTS": "many"}, "REBUILD_MAX_SEGMENTS must be a whole number from 1 to 10000, not 'many'"),
    ({"REBUILD_MAX_CONCURRENCY": "0"}, "REBUILD_MAX_CONCURRENCY must be a whole number from 1 to 10000"),
    ({"REBUILD_STOP_MARGIN_SECONDS": "900"}, "REBUILD_STOP_MARGIN_SECONDS must be a whole number from 1 to 840"),
    ({"REBUILD_KEEP_GENERATIONS": "-1"}, "REBUILD_KEEP_GENERATIONS must be a whole number from 0 to 100"),
])
def test_a_bad_deployment_limit_is_refused_by_name(environ: dict[str, str], named: str) -> None:
    with pytest.raises(rebuild_worker.RebuildStepError, match=f"^{named}"):
        rebuild_worker.Limits.from_env(environ)


def test_the_deployment_limits_are_read_from_the_environment() -> None:
    limits = rebuild_worker.Limits.from_env({"REBUILD_MAX_SEGMENTS": "64", "REBUILD_MAX_CONCURRENCY": "8",
                                            "REBUILD_STOP_MARGIN_SECONDS": "90", "REBUILD_STACK_NAME": "loans",
                                            "REBUILD_KEEP_GENERATIONS": "2"})
    assert limits == rebuild_worker.Limits(64, 8, 90_000, "loans", 2)
    assert rebuild_worker.Limits.from_env({}) == rebuild_worker.Limits()


@pytest.mark.parametrize(("event", "named"), [
    ({"action": "begin", "input": ["loan-summary"]}, "input must be an object"),
    ({"action": "begin", "input": {"projection": "loan-summary", "segments": 4, "concurrency": True}},
     "concurrency must be a whole number from 1 to 40"),
    ({"action": "begin", "input": {"projection": "loan-summary", "segments": 1001}},
     "segments must be a whole number from 1 to 1000"),
    ({"action": "segment", "projection": "loan-summary", "segments": 2, "segment": 0, "checkpoint_every": 0},
     "checkpoint_every must be"),
    ({"action": "catch_up", "projection": "loan-summary", "segments": 2}, "segment must be a whole number in 0..1"),
    ({"action": "close", "projection": "loan-summary", "segments": 2, "caught_up": [1, -2]},
     "caught_up must be a list of row counts"),
])
def test_a_plan_beyond_the_limits_is_refused_by_name(event: dict[str, Any], named: str) -> None:
    with pytest.raises(rebuild_worker.RebuildStepError, match=f"^{named}"):
        rebuild_worker.Step.parse(event)


def test_begin_takes_the_executions_input_and_answers_the_plan(app: App, loans: list[Loan]) -> None:
    worker = rebuild_worker.handler_for(app, rebuild_worker.Limits(max_concurrency=3))
    plan = worker({"action": "begin", "input": {"projection": "loan-summary", "segments": 5, "checkpoint_every": 7}},
                  LambdaContext("rebuild-worker", 1024))
    assert plan == {"generation": 1, "catch_up_only": False, "segments": 5, "items": [0, 1, 2, 3, 4],
                    "concurrency": 3, "checkpoint_every": 7}
