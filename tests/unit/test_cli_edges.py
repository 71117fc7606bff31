"""The command line's edges: usage mistakes (an unusable id, a misspelt type or projection) are exit 2 in one
line, amounts print with their cents and counts as whole numbers, and an unavailable store is one line, never a
traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.app import App
from handlers.cli import main
from handlers.tables import ensure_tables
from handlers.views import amount, shown
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


#: The projection names the loans module registers, as an unknown name lists them.
CHOICES = "daily, loan, loan-risk, loan-summary, portfolio, risk"


@pytest.mark.parametrize(("argv", "message"), [
    (["hydrate", "Polcy", "some-id"], "unknown aggregate type 'Polcy': choose one of Loan"),
    (["hydrate", "Laon"], "unknown aggregate type 'Laon': choose one of Loan"),
    (["snapshot", "Polcy", "--all"], "unknown aggregate type 'Polcy': choose one of Loan"),
    (["snapshot", "Laon", "some-id"], "unknown aggregate type 'Laon': choose one of Loan"),
    (["query", "portfolo"], "unknown projection 'portfolo': choose one of " + CHOICES),
    (["query", "lone", "some-id"], "unknown projection 'lone': choose one of " + CHOICES),
    (["rebuild", "dialy"], "unknown projection 'dialy': choose one of " + CHOICES),
    (["rebuild", "dialy", "--verify"], "unknown projection 'dialy': choose one of " + CHOICES),
])
def test_a_misspelt_type_or_projection_is_one_line_listing_the_choices_and_exit_2(app, aws, capsys, argv, message):
    ensure_tables(app)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert capsys.readouterr().err == f"aws-es {argv[0]}: {message}\n"


def test_an_id_spelt_like_a_type_is_still_an_id_when_that_aggregate_exists(app, aws, capsys):
    ensure_tables(app)
    Loan("Laon").commit({"type": "LoanCreated", "requested_amount": Decimal("10"), "interest": Decimal("0")})
    assert main(["hydrate", "Laon", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "Laon"
    assert main(["snapshot", "Laon"]) == 0
    assert "1 written" in capsys.readouterr().out


def test_query_daily_prints_amounts_with_their_cents_and_counts_whole(loan, capsys):
    assert main(["project", "--once"]) == 0
    capsys.readouterr()
    day = datetime.now(UTC).date().isoformat()  # the fixture's events were created just now
    assert main(["query", "daily", day, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {
        day: {"collected": "10.00", "new_loans": 1, "repayments": 1, "requested": "100.00"}}
    assert main(["query", "daily", day]) == 0
    out = capsys.readouterr().out
    assert "10.00" in out and "100.00" in out and " 1 " in out.splitlines()[1] + " "


def test_query_daily_of_a_day_with_nothing_counted_says_so(loan, capsys):
    assert main(["project", "--once"]) == 0
    capsys.readouterr()
    assert main(["query", "daily", "1999-01-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"1999-01-01": {}}
    assert main(["query", "daily", "1999-01-01"]) == 0
    assert capsys.readouterr().out == "daily 1999-01-01: nothing counted (no event added to this group)\n"


@pytest.mark.parametrize(("value", "counts", "printed"), [
    (Decimal("120"), False, "120.00"), (Decimal("1.2E+2"), False, "120.00"), (Decimal("0.05"), False, "0.05"),
    (Decimal("5E-2"), False, "0.05"), (Decimal("0.125"), False, "0.125"), (Decimal("-3"), False, "-3.00"),
    (Decimal("1E+30"), False, "1000000000000000000000000000000.00"), (Decimal("240.5"), False, "240.50"),
    (Decimal("3"), True, 3), (Decimal("2.5"), True, "2.5"), (7, False, 7), (True, False, True),
    ("text", False, "text"), (None, False, None),
])
def test_a_number_is_an_amount_unless_it_counts(value, counts, printed):
    assert shown(value, counts) == printed


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**12, max_value=10**12, places=4))
def test_an_amount_keeps_its_value_and_shows_at_least_its_cents(value):
    printed = amount(value)
    assert Decimal(printed) == value and "E" not in printed and len(printed.partition(".")[2]) >= 2
