"""Every entry point with a second, non-loan domain declared in `tests.accounts` (AWS_ES_MODULES=loans,tests.accounts):
init, commit, hydrate, snapshot, the projector handler and runners, query, rebuild and verify."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from handlers.app import App
from handlers.cli import main
from handlers.projector import runners
from projections.query import read_counters, read_row
from tests.accounts import BankAccount

#: owner -> movements (a deposit is positive, a withdrawal negative): the plain model the tests reckon from.
PLAN = {"ada": [Decimal("100"), Decimal("-30")], "bob": [Decimal("5")], "cy": []}


@pytest.fixture
def accounts_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """The environment `main` reads, and the test's App built from it (bound for the test)."""
    monkeypatch.setenv("AWS_ES_MODULES", "loans,tests.accounts")
    monkeypatch.setenv("PROJECTION_CONTROL_TTL", "0")
    monkeypatch.setenv("SNAPSHOT_EVERY", "2")
    with App.from_env().bound() as built:
        yield built


@pytest.fixture
def accounts(aws: None, accounts_env: App, capsys: Any) -> dict[str, BankAccount]:
    """The tables from `aws-es init`, and one account per owner, committed through the default repository."""
    assert main(["init"]) == 0
    capsys.readouterr()
    opened = {}
    for owner, movements in PLAN.items():
        account = BankAccount()
        account.commit({"type": "AccountOpened", "owner": owner})
        for amount in movements:
            kind = "MoneyDeposited" if amount > 0 else "MoneyWithdrawn"
            account.commit({"type": kind, "amount": abs(amount)})
        opened[owner] = account
    return opened


def drain_all(app: App, capsys: Any) -> None:
    """Every registered events table's stream into the projector handler (its metrics print, and are dropped)."""
    for runner in runners(app):
        runner.drain()
    capsys.readouterr()


def test_init_creates_every_registered_table_and_is_idempotent(aws: None, accounts_env: App, capsys: Any) -> None:
    assert main(["init"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert main(["init"]) == 0
    again = capsys.readouterr().out.splitlines()
    wanted = {"Loans", "LoanSummary", "Portfolio", "LoanDaily", "LoanRisk", "LoanRiskCounters",
              "BankAccounts", "AccountBalance", "BalancesByOwner",
              "AccountActivity", "ProjectionControl", "Idempotency", "ParkedEvents", "PersonalKeys"}
    assert {line.split(":")[0] for line in first} == wanted and all(line.endswith("created") for line in first)
    assert {line.split(":")[0] for line in again} == wanted and all(line.endswith("exists") for line in again)


def test_a_commit_writes_a_snapshot_and_hydrate_type_id_uses_it(accounts: dict[str, BankAccount], capsys: Any) -> None:
    ada = accounts["ada"]  # three events with SNAPSHOT_EVERY=2: a snapshot at version 2, a tail of one
    assert main(["hydrate", "BankAccount", ada.id, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["version"], report["snapshot_version"], report["tail_events"]) == (3, 2, 1)
    assert report["state"] == {"owner": "ada", "balance": "70.00"}  # an amount, with its cents


def test_snapshot_type_all_writes_one_per_account(accounts: dict[str, BankAccount], capsys: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPSHOT_EVERY", "1000")
    assert main(["snapshot", "bankaccount", "--all"]) == 0
    # bob's second commit wrote the snapshot at his version 2; ada's is at 2 of 3, cy has none
    assert "snapshots: 2 written, 1 already current, 0 failed, 0 not found, of 3 bankaccount aggregates" in \
        capsys.readouterr().out
    assert main(["snapshot", "BankAccount", accounts["cy"].id]) == 0
    assert "0 written, 1 already current" in capsys.readouterr().out


def test_the_short_forms_still_mean_the_default_aggregate(accounts: dict[str, BankAccount], capsys: Any) -> None:
    assert main(["hydrate", accounts["ada"].id]) == 1  # no loan has this id
    assert f"no loan '{accounts['ada'].id}' in table 'Loans'" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["hydrate", "Order", "x"], "aws-es hydrate: unknown aggregate type 'Order': choose one of BankAccount, Loan\n"),
    (["rebuild", "orders"], "aws-es rebuild: unknown projection 'orders': choose one of account, account-activity, "
     "account-balance, balances-by-owner, daily, loan, loan-risk, loan-summary, portfolio, risk\n"),
    (["query", "nope", "k"], "aws-es query: unknown projection 'nope': choose one of account, account-activity, "
     "account-balance, balances-by-owner, daily, loan, loan-risk, loan-summary, portfolio, risk\n"),
    (["query", "account"], "aws-es query: query account needs a KEY: the row's id\n"),
    (["query", "balances-by-owner", "x"], "aws-es query: balances-by-owner takes no KEY: it prints the counters of "
     "account-balance\n"),
])
def test_unknown_names_are_one_line_listing_the_choices_and_exit_2(accounts_env: App, capsys: Any,
                                                                    argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err == message


def test_the_runners_fold_both_projections_and_query_reads_them(
        accounts_env, accounts: dict[str, BankAccount], capsys: Any) -> None:
    drain_all(accounts_env, capsys)
    ada = accounts["ada"]
    assert main(["query", "account", ada.id, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"key": ada.id, "balance": "70.00", "owner": "ada", "version": 3}
    assert main(["query", "balances-by-owner", "--json"]) == 0
    balances = {owner: sum(moves, Decimal(0)) for owner, moves in PLAN.items()}
    assert json.loads(capsys.readouterr().out) == {  # a zero counter is not stored
        owner: {"accounts": 1, **({"balance": f"{total:.2f}"} if total else {})} for owner, total in balances.items()}
    current = accounts_env
    declared, tables = current.live_tables("account-activity")
    for owner, account in accounts.items():
        assert read_row(current.dynamodb, declared, tables, account.id)["movements"] == len(PLAN[owner])


def test_rebuild_and_verify_any_registered_projection(
        accounts_env, accounts: dict[str, BankAccount], capsys: Any) -> None:
    drain_all(accounts_env, capsys)
    assert main(["rebuild", "account-balance", "--of", "2"]) == 0
    assert "switched live" in capsys.readouterr().out
    current = accounts_env
    assert current.control().live("account-balance") == 1
    _, tables = current.live_tables("account")
    counters = read_counters(current.dynamodb, tables)
    assert {owner: values["balance"] for owner, values in counters.items() if values.get("accounts")} == {
        "ada": Decimal(70), "bob": Decimal(5), "cy": Decimal(0)}
    assert main(["rebuild", "account-balance", "--verify"]) == 0
    assert "0 differences" in capsys.readouterr().out


def test_verify_names_a_row_that_disagrees_with_the_account(
        accounts_env, accounts: dict[str, BankAccount], capsys: Any) -> None:
    drain_all(accounts_env, capsys)
    current = accounts_env
    _, tables = current.live_tables("account")
    bob = accounts["bob"].id
    current.dynamodb.update_item(TableName=tables.rows, Key={"id": {"S": bob}},
                                 UpdateExpression="SET balance = :b", ExpressionAttributeValues={":b": {"N": "6"}})
    assert main(["rebuild", "account", "--verify"]) == 1
    out = capsys.readouterr().out
    assert f"{bob}: balance: the row says 6, the account says 5" in out


def test_the_handler_folds_one_batch_into_both_projections_of_the_table_and_refuses_a_foreign_one(
        accounts_env, accounts: dict[str, BankAccount], capsys: Any) -> None:
    from core.dynamodb import events_table_definition
    from handlers.projector import handler_for
    from projections.runner import LocalContext

    current = accounts_env
    records: list[dict[str, Any]] = []
    current.runner(lambda event, _: records.extend(event["Records"]), "BankAccounts").drain()
    current.dynamodb.create_table(**events_table_definition("Orders"))
    stranger = json.loads(json.dumps(records[0]))
    stranger["eventSourceARN"] = current.stream_arn("Orders")
    stranger["dynamodb"]["SequenceNumber"] = "9" * 21
    reply = handler_for(accounts_env)({"Records": [*records, stranger]}, LocalContext())
    assert reply["batchItemFailures"] == [{"itemIdentifier": "9" * 21}]
    from aws_lambda_powertools.utilities.data_classes import DynamoDBStreamEvent

    from handlers.projector import project_all

    refused = project_all(DynamoDBStreamEvent({"Records": [stranger]}).records, current, 0.0)
    assert refused.failed_records == {"9" * 21: (
        f"stream record {stranger['eventID']} comes from the stream of table 'Orders', which no registered aggregate "
        "uses (events tables: Loans, BankAccounts): not folded")}
    balance, balance_tables = current.live_tables("account-balance")
    activity, activity_tables = current.live_tables("account-activity")
    for owner, account in accounts.items():
        assert read_row(current.dynamodb, balance, balance_tables, account.id)["balance"] == sum(PLAN[owner],
                                                                                                   Decimal(0))
        assert read_row(current.dynamodb, activity, activity_tables, account.id)["movements"] == len(PLAN[owner])


def test_a_loan_record_reaches_only_the_loan_projection(aws: None, accounts_env: App, capsys: Any) -> None:
    from handlers.projector import project_all
    from loans.demo import run_portfolio

    assert main(["init"]) == 0
    run_portfolio()
    drain_all(accounts_env, capsys)
    current = accounts_env
    assert [projector.projection.name for projector in current.projector("Loans")] == ["loan-summary", "loan-risk"]
    assert [projector.projection.name for projector in current.projector("BankAccounts")] == [
        "account-balance", "account-activity"]
    assert project_all([], current, 0.0).failed_records == {}


def test_project_once_drains_the_stream_of_every_registered_events_table(accounts_env, accounts: dict[str, BankAccount],
                                                                           capsys: Any) -> None:
    from loans.demo import run_portfolio

    loans = [loan for _, loan in run_portfolio()]
    assert main(["project", "--once"]) == 0
    out = capsys.readouterr().out.splitlines()[-1]
    assert out.endswith("invocations; 0 sent to the on-failure queue")
    current = accounts_env
    summary, summary_tables = current.live_tables("loan")
    balance, balance_tables = current.live_tables("account")
    assert all(read_row(current.dynamodb, summary, summary_tables, loan.id) for loan in loans)
    assert all(read_row(current.dynamodb, balance, balance_tables, account.id) for account in accounts.values())


def test_the_rebuild_worker_rebuilds_any_registered_projection(
        accounts_env, accounts: dict[str, BankAccount], capsys: Any) -> None:
    from handlers import rebuild_worker
    from projections.errors import UnknownProjectionError
    from tests.api_support import LambdaContext

    drain_all(accounts_env, capsys)
    context = LambdaContext("rebuild-worker", 1024)
    steps = [{"action": "begin"}, {"action": "segment", "segment": 0}, {"action": "segment", "segment": 1},
             {"action": "finish"}]
    worker = rebuild_worker.handler_for(accounts_env)
    results = [worker({"projection": "balances-by-owner", "segments": 2, **step}, context) for step in steps]
    assert (results[0]["generation"], results[-1]["switched"]) == (1, True)
    assert accounts_env.control().live("account-balance") == 1
    assert main(["rebuild", "account", "--verify"]) == 0
    with pytest.raises(UnknownProjectionError, match="unknown projection 'orders'"):
        worker({"projection": "orders", "segments": 2, "action": "begin"}, context)
