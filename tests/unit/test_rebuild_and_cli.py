"""Rebuilds (blue/green, resumable, beside a live projector), verification, and the projection commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from handlers.app import App
from handlers.cli import main
from handlers.projector import runner
from handlers.tables import ensure_tables
from loans import Loan
from loans.demo import run_portfolio
from projections.rebuild import Rebuild
from projections.tables import tables_for
from tests.projection_support import actual, expected


@pytest.fixture
def app(_isolated_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """The test's App and `main`'s read the control table afresh every time."""
    monkeypatch.setenv("PROJECTION_CONTROL_TTL", "0")
    with App.from_env().bound() as built:
        yield built


@pytest.fixture
def live(app: App, aws: None) -> Any:
    """Tables, the demo portfolio, and the live projector caught up on generation 0."""
    ensure_tables(app)
    loans = [loan for _, loan in run_portfolio()]
    runner(app).drain()
    return loans


def live_tables(app: App) -> Any:
    declared = app.projection("loan-summary")
    return tables_for(declared, app.control().live(declared.name))


def test_a_rebuild_equals_the_live_projection_and_becomes_live(app, live: list[Loan], capsys: Any) -> None:
    client = app.dynamodb
    before = actual(client, live_tables(app))
    assert main(["rebuild", "portfolio", "--of", "4"]) == 0
    assert live_tables(app).generation == 1
    assert actual(client, live_tables(app)) == before == expected(client)
    assert main(["rebuild", "loan-summary", "--verify"]) == 0
    assert "0 differences" in capsys.readouterr().out


def test_an_interrupted_rebuild_resumes_where_it_stopped(app, live: list[Loan], monkeypatch: pytest.MonkeyPatch,
                                                         capsys: Any) -> None:
    original = Rebuild._segment

    def dies_on_segment_2(self: Rebuild, tables: Any, segment: int) -> None:
        if segment == 2:
            raise KeyboardInterrupt
        original(self, tables, segment)

    monkeypatch.setattr(Rebuild, "_segment", dies_on_segment_2)
    assert main(["rebuild", "loan-summary", "--of", "4", "--workers", "1"]) == 130
    monkeypatch.setattr(Rebuild, "_segment", original)
    assert main(["rebuild", "loan-summary", "--of", "4", "--segment", "3"]) == 0
    capsys.readouterr()
    assert main(["rebuild", "loan-summary", "--of", "4"]) == 0
    out = capsys.readouterr().out
    assert "segments run [2]" in out and "skipped (already done) [0, 1, 3]" in out
    assert actual(app.dynamodb, live_tables(app)) == expected(app.dynamodb)


def test_a_rebuild_while_the_live_projector_writes_ends_equal_to_the_log(app, live: list[Loan]) -> None:
    client = app.dynamodb
    assert main(["rebuild", "loan-summary", "--of", "2", "--segment", "0"]) == 0
    assert main(["rebuild", "loan-summary", "--of", "2", "--segment", "1"]) == 0
    for loan in live:  # the live projector (still on generation 0) folds more events meanwhile
        if loan.status in ("DISBURSED", "PAID"):
            loan.commit({"type": "LoanPaid", "amount": Decimal("1.00")})
    newcomer = Loan()
    newcomer.commit({"type": "LoanCreated", "requested_amount": Decimal("5.00"), "interest": Decimal("0.10")})
    runner(app).drain()
    assert main(["rebuild", "loan-summary", "--of", "2"]) == 0  # finishes: switch, then catch up
    assert live_tables(app).generation == 1
    assert actual(client, live_tables(app)) == expected(client)
    newcomer.commit({"type": "LoanApproved"})  # after the switch the projector writes the new generation
    runner(app).drain()
    assert actual(client, live_tables(app)) == expected(client)


def test_verify_reports_every_difference_and_exits_non_zero(app, live: list[Loan], capsys: Any) -> None:
    client = app.dynamodb
    client.update_item(TableName="LoanSummary", Key={"id": {"S": live[0].id}},
                       UpdateExpression="SET balance = :b", ExpressionAttributeValues={":b": {"N": "12.34"}})
    assert main(["rebuild", "portfolio", "--verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    # the row disagrees with the loan, and the portfolio no longer equals the sum of the rows
    assert out[0] == f"Loan {live[0].id}: balance: the row says 12.34, the loan says {live[0].balance}"
    assert out[1] == f"portfolio {live[0].status}.outstanding: the rows add up to 12.34, Portfolio holds 0"
    assert out[2].startswith("LoanSummary: 2 differences")


def test_verify_reports_a_loan_without_a_row_and_a_row_without_a_loan(app, live: list[Loan], capsys: Any) -> None:
    client = app.dynamodb
    client.delete_item(TableName="LoanSummary", Key={"id": {"S": live[1].id}})
    client.put_item(TableName="LoanSummary", Item={"id": {"S": "stray"}, "version": {"N": "3"}})
    assert main(["rebuild", "loan-summary", "--verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert f"Loan {live[1].id}: no row in LoanSummary; the log holds version {live[1].version}" in out
    assert "Loan stray: a row at version 3 in LoanSummary, but no events in the log" in out


def test_verify_catches_a_bug_in_the_projections_fold(aws: None, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: Any) -> None:
    """The rows and a fresh fold would agree on the bug; the loans' own state does not."""
    import loans.projections

    correct = loans.projections.fold_summary

    def forgets_repayments(row: Any, event: Any) -> Any:
        folded = correct(row, event)
        if event.type == "LoanPaid":
            folded["balance"] = row["balance"]
        return folded

    monkeypatch.setattr(loans.projections, "fold_summary", forgets_repayments)
    # declared with the bug
    monkeypatch.setattr(loans, "PROJECTIONS", (loans.projections.loan_summary(), *loans.PROJECTIONS[1:]))
    buggy = App.from_env()
    ensure_tables(buggy)
    with buggy.bound():
        portfolio = [loan for _, loan in run_portfolio()]
    runner(buggy).drain()
    assert main(["rebuild", "loan-summary", "--verify"]) == 1
    out = capsys.readouterr().out.splitlines()
    repaid = sorted(loan.id for loan in portfolio if any(e.type == "LoanPaid" for e in loan.events()))
    wrong = sorted(line.split()[1].rstrip(":") for line in out if ": balance: the row says " in line)
    assert repaid and wrong == repaid
    for loan in portfolio:
        if loan.id in repaid:
            assert any(line.startswith(f"Loan {loan.id}: balance: ") and line.endswith(f"the loan says {loan.balance}")
                       for line in out)


def test_query_prints_json_with_amounts_as_decimal_strings(live: list[Loan], capsys: Any) -> None:
    loan = live[3]
    assert main(["query", "loan", loan.id, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["id"], row["status"], row["balance"], row["version"]) == (loan.id, "PAID", "950.00", 4)
    assert main(["query", "portfolio", "--json"]) == 0
    portfolio = json.loads(capsys.readouterr().out)
    assert portfolio["SETTLED"] == {"loans": 2, "principal": "2000.00", "outstanding": "0.00"}
    assert sum(status["loans"] for status in portfolio.values()) == len(live)


@pytest.mark.parametrize(("argv", "message"), [
    (["rebuild", "portfolio", "--segment", "9", "--of", "4"], "--segment 9 must be in 0..3"),
    (["query", "loan", "no-such-loan"], "no loan 'no-such-loan' in projection loan-summary"),
])
def test_bad_input_gets_one_line_naming_what_was_wrong(live: list[Loan], capsys: Any, argv: list[str],
                                                       message: str) -> None:
    assert main(argv) == 1
    assert message in capsys.readouterr().err


def test_an_unknown_projection_is_a_usage_error_listing_the_choices(live: list[Loan], capsys: Any) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["rebuild", "loans-by-colour"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == ("aws-es rebuild: unknown projection 'loans-by-colour': "
                   "choose one of daily, loan, loan-risk, loan-summary, portfolio, risk\n")


@pytest.mark.parametrize("argv", [["query"], ["query", "loan"], ["rebuild", "portfolio", "--of", "0"],
                                  ["rebuild"], ["project", "--bogus"]])
def test_bad_arguments_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2


def test_project_once_resumes_where_the_last_run_stopped_and_prints_one_line(app, aws: None, capsys: Any) -> None:
    ensure_tables(app)
    run_portfolio()
    assert main(["project", "--once"]) == 0
    first = capsys.readouterr().out
    assert first.startswith("29 records delivered") and first.count("\n") == 1
    newcomer = Loan()
    newcomer.commit({"type": "LoanCreated", "requested_amount": Decimal("5.00"), "interest": Decimal("0")})
    newcomer.commit({"type": "LoanApproved"})
    assert main(["project", "--once"]) == 0
    second = capsys.readouterr().out
    assert second.startswith("2 records delivered in 1 invocations") and second.count("\n") == 1
    assert actual(app.dynamodb, live_tables(app)) == expected(app.dynamodb)


def test_a_rebuild_resumed_with_another_segment_count_is_refused(live: list[Loan], capsys: Any) -> None:
    assert main(["rebuild", "loan-summary", "--of", "4", "--segment", "0"]) == 0
    assert main(["rebuild", "loan-summary", "--of", "8"]) == 1
    assert "resume it with --of 4" in capsys.readouterr().err


def test_a_rebuild_interrupted_during_its_catch_up_finishes_it_when_run_again(
        app, live: list[Loan], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    assert main(["rebuild", "loan-summary", "--of", "2", "--segment", "0"]) == 0
    assert main(["rebuild", "loan-summary", "--of", "2", "--segment", "1"]) == 0
    paying = next(loan for loan in live if loan.status == "PAID")
    paying.commit({"type": "LoanPaid", "amount": Decimal("0.01")})
    runner(app).drain()  # the live projector advances the old generation only
    original = Rebuild._catch_up

    def dies(self: Rebuild, old: Any, new: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(Rebuild, "_catch_up", dies)
    assert main(["rebuild", "loan-summary", "--of", "2"]) == 130
    monkeypatch.setattr(Rebuild, "_catch_up", original)
    assert live_tables(app).generation == 1
    assert actual(app.dynamodb, live_tables(app)) != expected(app.dynamodb)
    assert main(["rebuild", "loan-summary", "--of", "2"]) == 0
    assert "1 rows caught up" in capsys.readouterr().out
    assert actual(app.dynamodb, live_tables(app)) == expected(app.dynamodb)
