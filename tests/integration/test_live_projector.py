"""End to end over moto's HTTP server: commits, the stream runner in the background, the query tables."""

from __future__ import annotations

from typing import Any

import pytest

from handlers import cli_projections
from handlers.cli import main
from handlers.demo import run_long_loan, run_portfolio
from handlers.tables import ensure_tables

pytestmark = pytest.mark.integration


def test_the_live_projector_keeps_the_query_tables_up_to_date(server_env: str, capsys: Any) -> None:
    ensure_tables()
    with cli_projections.live_projector() as runner:
        portfolio = run_portfolio()
        long_loan = run_long_loan(repayments=300)
        loans = [loan for _, loan in portfolio] + [long_loan]
        assert cli_projections.wait_caught_up([loan.id for loan in loans], [loan.version for loan in loans], 60)
    assert runner.given_up == 0
    assert main(["rebuild", "portfolio", "--verify"]) == 0
    assert main(["query", "loan", long_loan.id]) == 0
    out = capsys.readouterr().out
    assert "SETTLED" in out and "0 differences" in out
