"""The test kit itself: its properties pass on the loan domain (row counters and event counters included),
fail on a bug they exist to catch, and refuse bad input by name; its given/when/then helpers say what differs.
The README's own use of the kit, and the bugs it catches there, are in tests/unit/test_testkit_readme.py."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis import strategies as st

from core import Aggregate, IllegalEventError, requires
from core.errors import CodecError
from core.events import Event
from loans import Loan
from loans.projections import fold_summary, loan_summary
from projections.definition import Projection
from testkit import DEFAULT_EXAMPLES, check_aggregate, check_projection, given_events, kit_settings

MONEY = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("5000.00"), places=2)
#: The legal next steps by status; a repayment is the balance, or a part of it.
NEXT = {"CREATED": ("LoanApproved", "LoanRejected"), "APPROVED": ("LoanDisbursed",),
        "DISBURSED": ("LoanPaid", "LoanArrears"), "PAID": ("LoanPaid", "LoanArrears", "LoanSettled"),
        "ARREARS": ("LoanPaid", "LoanCollections")}


def step(choice: int, part: int) -> Any:
    """A command deciding a legal next step from the loan's state (nothing once it is closed)."""
    def decide(loan: Loan) -> dict[str, Any] | None:
        options = NEXT.get(loan.status or "", ())
        if not options:
            return None
        kind = options[choice % len(options)]
        if kind == "LoanPaid":
            amount = loan.balance if part == 0 else (loan.balance / part).quantize(Decimal("0.01"))
            return {"type": kind, "amount": amount}
        return {"type": kind}
    return decide


LOAN_COMMANDS = st.one_of(
    st.builds(lambda amount, rate: {"type": "LoanCreated", "requested_amount": amount, "interest": rate}, MONEY,
              st.sampled_from([Decimal("0"), Decimal("0.05")])),
    st.builds(step, st.integers(0, 5), st.integers(0, 3)),
    st.builds(step, st.integers(0, 5), st.integers(0, 3)),
    MONEY.map(lambda amount: {"type": "LoanPaid", "amount": amount}),  # refused unless it fits the balance
)
QUICK = settings(max_examples=15, derandomize=True, database=None, deadline=None)
#: For a test that only asks whether a bug is found: the smallest failing example is not needed.
FOUND = settings(QUICK, max_examples=40, phases=[Phase.explicit, Phase.reuse, Phase.generate])


def test_the_loan_passes_the_aggregate_properties() -> None:
    check_aggregate(Loan, LOAN_COMMANDS, max_commands=25, settings=QUICK)


def test_the_loan_summary_passes_the_projection_properties_counters_included() -> None:
    check_projection(loan_summary(), LOAN_COMMANDS, max_commands=15, settings=QUICK)


def test_a_fold_that_changes_the_row_it_is_given_is_caught() -> None:
    """Right rows, wrong counters: the projector moves counters by the old row's contribution, and a fold that
    updates the row it was given in place has changed that old row too. The kit reckons the counters from the
    log, so they differ."""
    def in_place(row: dict[str, Any] | None, event: Event) -> dict[str, Any]:
        new = fold_summary(row, event)
        if row is None:
            return new
        row.update(new)
        return row

    careless = Projection(**{**vars(loan_summary()), "fold": in_place})
    with pytest.raises(AssertionError, match="row counters: held"):
        check_projection(careless, LOAN_COMMANDS, max_commands=8, settings=FOUND)


class Wallet(Aggregate):
    table = "Wallets"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.coins = 0

    @requires(coins=int)
    def on_coins_added(self, event: Event) -> None:
        if event.coins <= 0:
            raise IllegalEventError("coins must be positive", field="coins")
        self.coins += event.coins


def add(coins: int) -> dict[str, Any]:
    return {"type": "CoinsAdded", "coins": coins}


def test_given_when_then_for_an_aggregate() -> None:
    wallet = given_events(Wallet, [add(2)]).when(add(3)).then([add(3)])
    assert (wallet.version, wallet.coins) == (2, 5)
    given_events(Wallet, [add(2)]).when(lambda wallet: None).then_nothing()
    error = given_events(Wallet).when(add(0)).then_refused(IllegalEventError, match="positive")
    assert error.field == "coins"
    given_events(Wallet).when({"type": "CoinsAdded", "coins": 1.5}).then_refused(IllegalEventError)
    given_events(Wallet).when([add(1), add(1)]).then([add(1), add(1)])


def test_given_when_then_says_what_differs() -> None:
    with pytest.raises(AssertionError, match=r"committed CoinsAdded \{'coins': 3\}; expected CoinsAdded \{'c"):
        given_events(Wallet).when(add(3)).then([add(4)])
    with pytest.raises(AssertionError, match="was not refused: it committed CoinsAdded"):
        given_events(Wallet).when(add(3)).then_refused()
    with pytest.raises(AssertionError, match="refused with IllegalEventError.*expected CodecError"):
        given_events(Wallet).when(add(-1)).then_refused(CodecError)
    with pytest.raises(AssertionError, match="does not match 'negative'"):
        given_events(Wallet).when(add(-1)).then_refused(IllegalEventError, match="negative")
    with pytest.raises(AssertionError, match="the command was refused"):
        given_events(Wallet).when(add(-1)).then([add(-1)])
    with pytest.raises(AssertionError, match="the given events are refused by Wallet"):
        given_events(Wallet, [add(-1)])


def test_given_then_for_a_projection() -> None:
    summary = loan_summary()
    created = {"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.05")}
    outcome = given_events(summary, {"l-1": [created, {"type": "LoanApproved"}], "l-2": [created]})
    outcome.then(counters={"APPROVED": {"loans": 1, "principal": Decimal("100.00")},
                           "CREATED": {"loans": 1, "principal": Decimal("100.00")}},
                 event_counters={"2026-01-01": {"new_loans": 2, "requested": Decimal("200.00")},
                                 "2026-01": {"new_loans": 2, "requested": Decimal("200.00")}})
    assert outcome.rows["l-1"]["status"] == "APPROVED" and outcome.rows["l-1"]["version"] == 2
    with pytest.raises(AssertionError, match="holds row counters"):
        outcome.then(counters={"APPROVED": {"loans": 2}})
    with pytest.raises(AssertionError, match="holds rows"):
        given_events(summary, [created]).then(rows={"testkit-1": {"status": "APPROVED"}})
    with pytest.raises(AssertionError, match="cannot fold the given events"):
        given_events(summary, [{"type": "LoanWobbled"}])


@pytest.mark.parametrize(("call", "error", "says"), [
    (lambda: check_aggregate(Loan(), LOAN_COMMANDS), TypeError, "needs an Aggregate subclass"),
    (lambda: check_aggregate(Loan, LOAN_COMMANDS, intervals=(0, 2)), ValueError, "at least 1"),
    (lambda: check_aggregate(Loan, LOAN_COMMANDS, intervals=()), ValueError, "at least 1"),
    (lambda: check_projection(Projection("p", "P", frozenset(), lambda row, event: {}), LOAN_COMMANDS), ValueError,
     "declares no aggregate: pass aggregate="),
    (lambda: check_aggregate(Loan, LOAN_COMMANDS, max_examples=0), ValueError, "max_examples must be at least 1"),
    (lambda: given_events("Loan"), TypeError, "an Aggregate subclass or a Projection"),
    (lambda: given_events(Loan, {"l-1": []}), TypeError, "a list of events, not a mapping"),
    (lambda: given_events(Wallet).when(lambda wallet: 7), TypeError, "not 7"),
], ids=["instance", "zero interval", "no intervals", "no aggregate", "no examples", "a string", "a mapping",
        "a number decided"])
def test_bad_input_is_refused_by_name(call: Any, error: type[Exception], says: str) -> None:
    with pytest.raises(error, match=says):
        call()


def test_settings_the_profile_sets_win_over_the_kits_and_the_callers_over_both() -> None:
    before = settings.get_current_profile_name()
    assert kit_settings().max_examples == DEFAULT_EXAMPLES and kit_settings().deadline is None
    assert kit_settings(max_examples=3).max_examples == 3
    given = kit_settings(settings=settings(max_examples=7))
    assert (given.max_examples, given.deadline) == (7, None)  # the kit's defaults fill what it left alone
    settings.register_profile("testkit-thorough", max_examples=400, derandomize=True)
    try:
        settings.load_profile("testkit-thorough")
        assert (kit_settings().max_examples, kit_settings().derandomize) == (400, True)
        assert kit_settings(max_examples=5).max_examples == 5
    finally:
        settings.load_profile(before)


def imported(package: str) -> set[tuple[str, str]]:
    """(module file, top-level package imported) for every import in a package of ours."""
    root = Path(__file__).resolve().parents[2] / package
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found.update((str(path.relative_to(root.parent)), name.split(".")[0]) for name in names)
    return found


def test_the_library_never_imports_the_kit_and_the_kit_only_the_library_below_handlers() -> None:
    for package in ("core", "snapshots", "projections", "loans", "handlers"):
        assert {where for where, name in imported(package) if name == "testkit"} == set()
    kit = imported("testkit")
    assert ("testkit/aggregates.py", "snapshots") in kit  # the scan sees imports
    assert {where for where, name in kit if name in ("handlers", "loans", "tests")} == set()


def test_the_kit_reads_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every aggregate the kit (and the verify it runs) builds has its store and table given: settings that
    would stop the service from starting change nothing here."""
    monkeypatch.setenv("SNAPSHOT_EVERY", "abc")
    monkeypatch.setenv("AWS_ES_MODULES", "no_such_module")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    few = settings(QUICK, max_examples=5)
    check_aggregate(Loan, LOAN_COMMANDS, settings=few)
    check_projection(loan_summary(), LOAN_COMMANDS, settings=few)
    given_events(Loan).when({"type": "LoanApproved"}).then_refused(IllegalEventError)


class Capped(Wallet):
    """A wallet that takes three additions at most, counting them in an attribute its snapshot leaves out."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._added = 0

    @requires(coins=int)
    def on_coins_added(self, event: Event) -> None:
        if self._added >= 3:
            raise IllegalEventError("at most three additions")
        self._added += 1
        self.coins += event.coins


def test_state_the_snapshot_leaves_out_is_caught() -> None:
    with pytest.raises(AssertionError, match="with a snapshot every 1 event, Capped (accepted|refuses)"):
        check_aggregate(Capped, st.integers(1, 5).map(add), settings=FOUND)
