"""The command line's edges: usage mistakes are exit 2 in one line, amounts print with their cents, and an
unavailable store is one line, never a traceback."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from handlers.app import App
from handlers.cli import main
from handlers.tables import ensure_tables
from loans import Loan
from tests.api_support import refusing


@pytest.mark.parametrize("port", ["99999", "0", "65536", "-1", "http"])
def test_a_port_outside_1_to_65535_is_a_usage_error(capsys, port):
    with pytest.raises(SystemExit) as exited:
        main(["local", "--port", port])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "argument --port" in err and "Traceback" not in err
    assert "1 to 65535" in err or "not a whole number" in err


@pytest.mark.parametrize("argv", [["hydrate", ""], ["hydrate", "x" * 300], ["hydrate", "a\nb"],
                                  ["query", "loan", ""], ["snapshot", "ok", ""]])
def test_an_unusable_id_is_one_line_and_a_usage_error_before_any_request(app, aws, capsys, argv):
    sent = []
    app.dynamodb.meta.events.register("before-send", lambda **kwargs: sent.append(1))
    with pytest.raises(SystemExit) as exited:
        main(argv, app)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and sent == []
    assert err.count("\n") == 1 and err.startswith(f"aws-es {argv[0]}: id ") and "ValueError" not in err


@pytest.fixture
def loan(app, aws) -> Loan:
    ensure_tables(app)
    made = Loan()
    made.commit([{"type": "LoanCreated", "requested_amount": Decimal("1E+2"), "interest": Decimal("5E-2")},
                 {"type": "LoanApproved"}, {"type": "LoanDisbursed"},
                 {"type": "LoanPaid", "amount": Decimal("1E+1")}])
    return made


def test_hydrate_prints_amounts_as_plain_decimals_with_their_cents(loan, capsys):
    assert main(["hydrate", loan.id, "--json"]) == 0
    state = json.loads(capsys.readouterr().out)["state"]
    assert (state["requested_amount"], state["interest"], state["balance"]) == ("100.00", "0.05", "95.00")
    assert main(["hydrate", loan.id]) == 0
    out = capsys.readouterr().out
    assert "100.00" in out and "95.00" in out and "E+" not in out


def test_query_loan_prints_amounts_with_their_cents(loan, capsys):
    assert main(["project", "--once"]) == 0
    capsys.readouterr()
    assert main(["query", "loan", loan.id, "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["requested_amount"], row["balance"], row["total_paid"]) == ("100.00", "95.00", "10.00")


def test_an_unavailable_store_is_one_line_and_exit_1(loan, capsys, monkeypatch):
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)
    cold = App.from_env()  # as a new process: no warm cache
    cold.dynamodb.meta.events.register("before-send.dynamodb", refusing(400, "ProvisionedThroughputExceededException"))
    assert main(["hydrate", loan.id], cold) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("aws-es hydrate: ") and "Traceback" not in err
