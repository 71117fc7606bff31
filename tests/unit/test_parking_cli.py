"""Parking through the real path on moto: the stream runner, the projector handler and the ParkedEvents table;
then `aws-es parked`, `aws-es redrive` and `rebuild --verify`, and their answers to bad input."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

import loans.projections
from handlers.app import App
from handlers.cli import main
from handlers.projector import runner
from handlers.tables import ensure_tables
from loans import Loan
from loans.dashboard import read_health
from loans.dashboard_pages import health_section
from loans.dashboard_sources import parked_events, sources
from projections.query import scan_rows
from projections.tables import tables_for
from tests.projection_support import PROJECTION

POISON = Decimal("7.77")
OPENING = [{"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.10")},
           {"type": "LoanApproved"}, {"type": "LoanDisbursed"}]


@pytest.fixture
def app(_isolated_env: None, monkeypatch: pytest.MonkeyPatch, aws: None) -> Iterator[App]:
    monkeypatch.setenv("PROJECTION_CONTROL_TTL", "0")
    with App.from_env().bound() as built:
        ensure_tables(built)
        yield built


@pytest.fixture
def poisoned(app: App, monkeypatch: pytest.MonkeyPatch) -> tuple[Loan, Loan, Any]:
    """Two loans projected; then the summary's fold breaks on payments of 7.77 (as a bad release would),
    and the first loan pays 7.77 then 1.00 while the second pays 2.00. Returns (poisoned, healthy, the fix)."""
    bad, good = Loan(), Loan()
    for step in OPENING:
        bad.commit(step)
        good.commit(step)
    runner(app).drain()
    iso = loans.projections._iso

    def broken(event: Any) -> str:
        if event.type == "LoanPaid" and event.data["amount"] == POISON:
            raise ValueError("this release cannot fold 7.77")
        return iso(event)

    monkeypatch.setattr(loans.projections, "_iso", broken)
    bad.commit({"type": "LoanPaid", "amount": POISON})
    bad.commit({"type": "LoanPaid", "amount": Decimal("1.00")})
    good.commit({"type": "LoanPaid", "amount": Decimal("2.00")})
    feeding = runner(app)
    feeding.drain()
    assert feeding.given_up == 0  # nothing went to the failure queue
    return bad, good, lambda: monkeypatch.setattr(loans.projections, "_iso", iso)


def rows(app: App) -> dict[str, Any]:
    return scan_rows(app.dynamodb, PROJECTION, tables_for(PROJECTION, 0))


def test_an_unfoldable_event_parks_its_aggregate_and_others_flow(app: App, poisoned: tuple[Loan, Loan, Any],
                                                                 capsys: Any) -> None:
    bad, good, _ = poisoned
    assert rows(app)[good.id]["version"] == 4 and rows(app)[good.id]["total_paid"] == Decimal("2.00")
    assert rows(app)[bad.id]["version"] == 3
    assert main(["parked"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"loan-summary  {bad.id}  first 4  count 2  since 20")
    assert "cannot fold event LoanPaid#4" in out[0] and "this release cannot fold 7.77" in out[0]
    assert out[-1] == "1 aggregates parked, 2 events"
    assert [e.number for e in app.parking().events("loan-summary", bad.id)] == [4, 5]
    health = read_health(sources(app), [])
    parked = {item["name"]: item["parked"] for item in health["projections"]}
    assert parked == {"loan-summary": 2, "loan-risk": 0}
    assert "<td>events parked (aws-es parked)</td><td" in health_section(health)
    # a later event of the parked loan is parked behind, in order
    bad.commit({"type": "LoanPaid", "amount": Decimal("3.00")})
    runner(app).drain()
    assert [e.number for e in app.parking().events("loan-summary", bad.id)] == [4, 5, 6]
    assert rows(app)[bad.id]["version"] == 3


def test_redrive_before_the_fix_keeps_it_parked_and_after_it_folds_in_order(
        app: App, poisoned: tuple[Loan, Loan, Any], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    bad, _, fix = poisoned
    assert main(["redrive", "loan-summary", bad.id]) == 1
    assert f"loan-summary  {bad.id}  still parked: loan-summary cannot fold event LoanPaid#4" in capsys.readouterr().out
    assert main(["rebuild", "loan-summary", "--verify"]) == 1
    capsys.readouterr()
    fix()  # the fix is released
    assert main(["redrive"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 aggregates redriven (2 events folded), 0 still parked"
    row = rows(app)[bad.id]
    assert (row["version"], row["total_paid"], row["payments"]) == (5, Decimal("8.77"), 2)
    assert app.parking().parked() == []
    assert main(["redrive"]) == 0  # run twice: nothing left, nothing moves
    assert capsys.readouterr().out.splitlines()[-1] == "0 aggregates redriven (0 events folded), 0 still parked"
    assert rows(app)[bad.id] == row
    assert main(["rebuild", "loan-summary", "--verify"]) == 0
    assert main(["parked"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 aggregates parked, 0 events: nothing to redrive"
    assert parked_events(app) == 0


def test_an_interrupted_redrive_run_again_folds_once(app: App, poisoned: tuple[Loan, Loan, Any],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bad, _, fix = poisoned
    fix()
    (marker,) = app.parking().parked()
    parking = app.parking()
    original = type(parking).release
    monkeypatch.setattr(type(parking), "release", lambda self, parked: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert main(["redrive", "loan-summary", bad.id]) == 130  # interrupted after the row was written
    assert rows(app)[bad.id]["version"] == 5
    monkeypatch.setattr(type(parking), "release", original)
    assert main(["redrive", "loan-summary", bad.id]) == 0
    assert rows(app)[bad.id]["total_paid"] == Decimal("8.77") and app.parking().parked() == []
    assert marker.count == 2


@pytest.mark.parametrize(("argv", "message"), [
    (["redrive", "no-such-projection"], "aws-es redrive: unknown projection 'no-such-projection'"),
    (["parked", "no-such-projection"], "aws-es parked: unknown projection 'no-such-projection'"),
    (["redrive", "loan-summary", "no-such-loan"],
     "aws-es redrive: nothing of 'no-such-loan' is parked in loan-summary"),
    (["redrive", "loan-summary", "bad id!"], "aws-es redrive: "),
])
def test_bad_input_is_one_line_and_exit_2(app: App, argv: list[str], message: str, capsys: Any) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1
