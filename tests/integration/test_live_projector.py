"""End to end over moto's HTTP server: commits, the stream runner in the background, the query tables."""

from __future__ import annotations

from typing import Any

import pytest

from handlers import cli_projections
from handlers.app import App
from handlers.cli import main
from handlers.tables import ensure_tables
from loans.demo import run_long_loan, run_portfolio

pytestmark = pytest.mark.integration


def test_the_live_projector_keeps_the_query_tables_up_to_date(server_app: App, capsys: Any) -> None:
    ensure_tables(server_app)
    with cli_projections.live_projector(server_app) as runners:
        portfolio = run_portfolio()
        long_loan = run_long_loan(repayments=300)
        loans = [loan for _, loan in portfolio] + [long_loan]
        ids, versions = [loan.id for loan in loans], [loan.version for loan in loans]
        assert cli_projections.wait_caught_up(server_app, "loan-summary", ids, versions, 60)
    assert [runner.given_up for runner in runners] == [0]
    assert main(["rebuild", "portfolio", "--verify"]) == 0
    assert main(["query", "loan", long_loan.id]) == 0
    out = capsys.readouterr().out
    assert "SETTLED" in out and "0 differences" in out


def test_a_rebuild_while_the_live_projector_runs_and_loans_commit_ends_equal_to_the_log(
        server_env: str, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    import threading
    from decimal import Decimal

    from moto.dynamodb.responses import DynamoHandler

    # moto's concurrent transactions are not atomic (docs/local-aws.md, "Racing writes on moto"): serialized here
    lock, call_action = threading.Lock(), DynamoHandler.call_action

    def serialized(self: Any) -> Any:
        with lock:
            return call_action(self)

    monkeypatch.setattr(DynamoHandler, "call_action", serialized)
    monkeypatch.setenv("PROJECTION_CONTROL_TTL", "1")
    app = App.from_env()
    ensure_tables(app)
    loans = [loan for _, loan in run_portfolio() if loan.status in ("DISBURSED", "PAID")]
    stop, before = threading.Event(), sum(loan.version for loan in loans)

    def keep_paying() -> None:
        while not stop.is_set():
            for loan in loans:
                loan.commit({"type": "LoanPaid", "amount": Decimal("0.01")})

    with cli_projections.live_projector(app):
        payer = threading.Thread(target=keep_paying)
        payer.start()
        try:
            assert main(["rebuild", "loan-summary", "--of", "3"]) == 0
        finally:
            stop.set()
            payer.join()
        assert sum(loan.version for loan in loans) > before + len(loans)  # commits kept landing throughout
        ids, versions = [loan.id for loan in loans], [loan.version for loan in loans]
        assert cli_projections.wait_caught_up(app, "loan-summary", ids, versions, 60)
    assert main(["rebuild", "portfolio", "--verify"]) == 0
    assert "LoanSummary-g1: 0 differences" in capsys.readouterr().out
