"""The registry of AWS_ES_MODULES and the settings: every mistake is one ConfigurationError naming it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from core.errors import ConfigurationError
from handlers.app import App
from handlers.registry import UnknownAggregateError, load
from handlers.settings import Settings, variable_for
from projections.errors import UnknownProjectionError


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write `name.py` into a folder on sys.path; forget it afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(source)
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


LOAN_AGAIN = "from loans import Loan\nAGGREGATES = (Loan,)\n"
SUMMARY_AGAIN = "from loans.projections import loan_summary\nPROJECTIONS = (loan_summary(),)\n"


@pytest.mark.parametrize(("modules", "sources", "message"), [
    (["no_such_module_xyz"], {}, "module 'no_such_module_xyz' (AWS_ES_MODULES) cannot be imported: No module"),
    (["bad name"], {}, "AWS_ES_MODULES: 'bad name' is not a module name"),
    (["empty_mod"], {"empty_mod": "X = 1\n"}, "module 'empty_mod' (AWS_ES_MODULES) declares no AGGREGATES and no"),
    (["not_agg"], {"not_agg": "AGGREGATES = (int,)\n"}, "module 'not_agg': AGGREGATES holds <class 'int'>, not an"),
    (["not_proj"], {"not_proj": "from loans import Loan\nAGGREGATES = (Loan,)\nPROJECTIONS = ('x',)\n"},
     "module 'not_proj': PROJECTIONS holds 'x', not a Projection"),
    (["loans", "loan_again"], {"loan_again": LOAN_AGAIN}, "aggregate 'loan' is registered twice"),
    (["loans", "summary_again"], {"summary_again": SUMMARY_AGAIN},
     "name 'loan-summary' is registered twice: as projection 'loan-summary' (module 'loans') and as projection "
     "'loan-summary' (module 'summary_again'); rename one"),
    (["summary_alone"], {"summary_alone": SUMMARY_AGAIN},
     "projection 'loan-summary' folds Loan, which no module in AWS_ES_MODULES (summary_alone) registers"),
    (["loans", "bad_alias"], {"bad_alias": "from tests.accounts import BankAccount\nAGGREGATES = (BankAccount,)\n"
                              "ALIASES = {'acct': 'nowhere'}\n"},
     "alias 'acct' names projection 'nowhere', which is not registered: choose one of daily, loan-risk, "
     "loan-summary, portfolio, risk"),
    (["loans", "bad_routes"], {"bad_routes": "from tests.accounts import BankAccount\nAGGREGATES = (BankAccount,)\n"
                               "command_routes = 3\n"}, "module 'bad_routes': command_routes must be a function"),
    (["loans", "bad_lists"], {"bad_lists": "from tests.accounts import BankAccount\nAGGREGATES = (BankAccount,)\n"
                              "LISTS = {'nowhere': {'x': print}}\n"}, "LISTS names 'nowhere', which is no registered"),
    (["loans", "list_lists"], {"list_lists": "from tests.accounts import BankAccount\nAGGREGATES = (BankAccount,)\n"
                               "LISTS = {'loan-risk': ['x']}\n"}, "module 'list_lists': LISTS must map projection"),
    (["loans", "bad_views"], {"bad_views": "from tests.accounts import BankAccount\nAGGREGATES = (BankAccount,)\n"
                              "VIEWS = {'nothing': print}\n"}, "VIEWS names 'nothing', which is no registered"),
    (["loans", "bad_pages"], {"bad_pages": "from tests.accounts import BankAccount\nAGGREGATES = (BankAccount,)\n"
                              "PAGES = {'board': 'board'}\n"},
     "module 'bad_pages': PAGES must map page names to paths"),
    (["loans", "list_pages"], {"list_pages": "from tests.accounts import BankAccount\nAGGREGATES = (BankAccount,)\n"
                               "PAGES = ['/board']\n"}, "module 'list_pages': PAGES must map page names to paths"),
])
def test_a_bad_module_is_one_configuration_error_naming_it(write_module, modules, sources, message) -> None:
    for name, source in sources.items():
        write_module(name, source)
    with pytest.raises(ConfigurationError) as caught:
        load(modules)
    assert message in str(caught.value)


#: A second domain whose every name is its own; each case below clashes one of its names with the loans'.
OTHER = """from dataclasses import replace
from tests.accounts import BankAccount, account_balance
class Policy(BankAccount):
    table = "Policies"
AGGREGATES = (Policy,)
PROJECTIONS = (replace(account_balance(), name="policy", table="PolicyRows", counters_name="policies",
                       counters_table="PolicyCounters", aggregate=Policy, event_counters=lambda event: {},
                       event_counters_name="weekly", event_counters_table="PolicyWeekly"),)
ALIASES = {"pol": "policy"}
"""


@pytest.mark.parametrize(("old", "new", "message"), [
    ('table = "Policies"', 'table = "Loans"', "table 'Loans' is registered twice: as the events table of Loan "
     "(module 'loans') and as the events table of Policy (module 'clash')"),
    ("AGGREGATES = (Policy,)", "from loans import Loan\nAGGREGATES = (Policy, Loan)",
     "aggregate 'loan' is registered twice: as aggregate Loan (module 'loans') and as aggregate Loan (module 'clash')"),
    ('name="policy"', 'name="daily"', "name 'daily' is registered twice: as the event counters of projection "
     "'loan-summary' (module 'loans') and as projection 'daily' (module 'clash')"),
    ('counters_name="policies"', 'counters_name="loan-summary"', "name 'loan-summary' is registered twice: as "
     "projection 'loan-summary' (module 'loans') and as the counters of projection 'policy' (module 'clash')"),
    ('event_counters_name="weekly"', 'event_counters_name="daily"', "name 'daily' is registered twice: as the event "
     "counters of projection 'loan-summary' (module 'loans') and as the event counters of projection 'policy'"),
    ('event_counters_name="weekly"', 'event_counters_name="policies"', "name 'policies' is registered twice: as "
     "the counters of projection 'policy' (module 'clash') and as the event counters of projection 'policy'"),
    ('{"pol": "policy"}', '{"loan": "policy"}', "name 'loan' is registered twice: as an alias of 'loan-summary' "
     "(module 'loans') and as an alias of 'policy' (module 'clash')"),
    ('{"pol": "policy"}', '{"portfolio": "policy"}', "name 'portfolio' is registered twice: as the counters of "
     "projection 'loan-summary' (module 'loans') and as an alias of 'policy' (module 'clash')"),
    ('table="PolicyRows"', 'table="Portfolio"', "table 'Portfolio' is registered twice: as the table of the counters "
     "of projection 'loan-summary' (module 'loans') and as the rows table of projection 'policy' (module 'clash')"),
    ('event_counters_table="PolicyWeekly"', 'event_counters_table="LoanDaily"', "table 'LoanDaily' is registered "
     "twice: as the table of the event counters of projection 'loan-summary' (module 'loans') and as the table of "
     "the event counters of projection 'policy' (module 'clash')"),
    ('counters_table="PolicyCounters"', 'counters_table="Policies"', "table 'Policies' is registered twice: as the "
     "events table of Policy (module 'clash') and as the table of the counters of projection 'policy'"),
    ('ALIASES = {"pol": "policy"}', 'ALIASES = {"pol": "policy"}\nVIEWS = {"Loan": print}',
     "view 'Loan' is registered twice: as a view (module 'loans') and as a view (module 'clash')"),
    ('ALIASES = {"pol": "policy"}', 'ALIASES = {"pol": "policy"}\nPAGES = {"dashboard": "/policies"}',
     "page 'dashboard' is registered twice: as a page (module 'loans') and as a page (module 'clash')"),
])
def test_every_name_declared_twice_across_modules_is_refused_naming_both(write_module, old, new, message) -> None:
    assert old in OTHER
    write_module("clash", OTHER.replace(old, new))
    with pytest.raises(ConfigurationError) as caught:
        load(["loans", "clash"])
    assert message in str(caught.value)


def test_the_second_domain_without_a_clash_loads(write_module) -> None:
    write_module("clash", OTHER)
    registry = load(["loans", "clash"])
    assert registry.projection("weekly").name == registry.projection("pol").name == "policy"


def test_an_alias_naming_its_own_projection_adds_no_name(write_module) -> None:
    write_module("clash", OTHER.replace('{"pol": "policy"}', '{"policy": "policy"}'))
    assert load(["loans", "clash"]).projection("policy").name == "policy"


@pytest.mark.parametrize(("source", "raised"), [
    ("AGGREGATES = (Missing,)\n", "its code raised NameError: name 'Missing' is not defined"),
    ("AGGREGATES = (\n", "its code raised SyntaxError: '(' was never closed (broken.py, line 1)"),
    ("import no_such_dependency_xyz\n", "No module named 'no_such_dependency_xyz'"),
    ("raise RuntimeError('the policy rates are not loaded')\n",
     "its code raised RuntimeError: the policy rates are not loaded"),
    ("from loans import NoSuchName\n", "cannot import name 'NoSuchName' from 'loans'"),
])
def test_any_exception_importing_a_module_is_one_configuration_error_naming_it(write_module, source, raised) -> None:
    write_module("broken", source)
    with pytest.raises(ConfigurationError) as caught:
        load(["loans", "broken"])
    message = str(caught.value)
    assert message.startswith("module 'broken' (AWS_ES_MODULES) cannot be imported: ") and raised in message


def test_an_import_error_is_one_line_from_the_command_line(write_module, monkeypatch, capsys) -> None:
    from handlers.cli import main

    write_module("broken", "AGGREGATES = (Missing,)\n")
    monkeypatch.setenv("AWS_ES_MODULES", "loans,broken")
    assert main(["init"]) == 1
    assert capsys.readouterr().err == ("aws-es init: module 'broken' (AWS_ES_MODULES) cannot be imported: its code "
                                       "raised NameError: name 'Missing' is not defined\n")


def test_a_projection_without_an_aggregate_is_refused(write_module) -> None:
    write_module("orphan", "import dataclasses\nfrom loans import Loan\nfrom loans.projections import loan_summary\n"
                 "AGGREGATES = (Loan,)\nPROJECTIONS = (dataclasses.replace(loan_summary(), aggregate=None),)\n")
    with pytest.raises(ConfigurationError, match="projection 'loan-summary' names no aggregate"):
        load(["orphan"])


def test_the_registry_finds_types_projections_counters_and_aliases() -> None:
    from loans import Loan
    from tests.accounts import BankAccount

    registry = load(["loans", "tests.accounts"])
    assert registry.aggregates == (Loan, BankAccount) and registry.default_aggregate is Loan
    assert registry.aggregate("bankaccount") is BankAccount
    assert registry.projection("account").name == "account-balance"
    assert registry.projection("balances-by-owner").name == "account-balance"
    assert registry.projection("portfolio").name == "loan-summary"
    assert registry.projection("daily").name == "loan-summary"
    assert registry.pages == {"dashboard": "/dashboard"}
    with pytest.raises(UnknownAggregateError, match="unknown aggregate type 'Order': choose one of BankAccount, Loan"):
        registry.aggregate("Order")
    with pytest.raises(UnknownProjectionError, match="choose one of account, account-activity, account-balance"):
        registry.projection("orders")


@pytest.mark.parametrize(("value", "message"), [
    ("loans,,tests.accounts", "AWS_ES_MODULES='loans,,tests.accounts' must be comma-separated module names, none "
     "empty"),
    ("loans, ", "AWS_ES_MODULES='loans, ' must be comma-separated module names, none empty"),
])
def test_a_bad_modules_setting_names_the_variable(monkeypatch, value, message) -> None:
    monkeypatch.setenv("AWS_ES_MODULES", value)
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env()
    assert str(caught.value) == message


def test_a_module_that_cannot_be_imported_is_one_line_from_the_command_line(monkeypatch, capsys) -> None:
    from handlers.cli import main

    monkeypatch.setenv("AWS_ES_MODULES", "loans,accounts_missing")
    assert main(["init"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("aws-es init: module 'accounts_missing' (AWS_ES_MODULES) cannot be imported")
    assert err.count("\n") == 1


@pytest.mark.parametrize(("declared", "variable"), [
    ("Loans", "LOANS_TABLE"), ("LoanSummary", "LOAN_SUMMARY_TABLE"), ("BankAccounts", "BANK_ACCOUNTS_TABLE"),
    ("ProjectionControl", "PROJECTION_CONTROL_TABLE"), ("HTTPLogs", "HTTP_LOGS_TABLE"),
])
def test_a_declared_table_name_is_overridden_by_its_upper_snake_variable(monkeypatch, declared, variable) -> None:
    assert variable_for(declared) == variable
    assert Settings.from_env().table_name(declared) == declared
    monkeypatch.setenv(variable, "Elsewhere")
    assert Settings.from_env().table_name(declared) == "Elsewhere"


def test_the_app_applies_the_overrides_to_every_table_it_names() -> None:
    from tests.accounts import BankAccount

    current = App.from_env({"AWS_ES_MODULES": "loans,tests.accounts", "BANK_ACCOUNTS_TABLE": "acc-events",
                            "BALANCES_BY_OWNER_TABLE": "acc-owners", "LOAN_SUMMARY_TABLE": "summary-x",
                            "PORTFOLIO_TABLE": "portfolio-x", "PARKED_EVENTS_TABLE": "parked-x"})
    with current.bound():
        assert BankAccount("a").table == "acc-events" and current.table(BankAccount) == "acc-events"
    balance = current.projection("account")
    assert (balance.table, balance.counters_table) == ("AccountBalance", "acc-owners")
    summary = current.projection("loan")
    assert (summary.table, summary.counters_table) == ("summary-x", "portfolio-x")
    names = {definition["TableName"] for definition in current.table_definitions()}
    assert names == {"Loans", "acc-events", "summary-x", "portfolio-x", "LoanDaily", "LoanRisk", "LoanRiskCounters",
                     "AccountBalance", "acc-owners",
                     "AccountActivity", "ProjectionControl", "parked-x"}
    assert current.parking().table == "parked-x"
    assert [p.name for p in current.projections_for("acc-events")] == ["account-balance", "account-activity"]


def test_an_app_reads_its_environment_once_when_built(monkeypatch) -> None:
    first = App.from_env()
    monkeypatch.setenv("SNAPSHOT_EVERY", "3")
    assert first.settings.snapshots.every == 100
    assert App.from_env().settings.snapshots.every == 3


def test_an_aggregate_with_a_store_injected_needs_no_registry() -> None:
    from core.store import InMemoryEventStore
    from tests.accounts import BankAccount

    with App.from_env({"AWS_ES_MODULES": "no_such_module_xyz"}).bound() as current:
        account = BankAccount(store=InMemoryEventStore())
        account.commit({"type": "AccountOpened", "owner": "ada"})
        assert (account.table, account.version) == ("BankAccounts", 1)
        with pytest.raises(ConfigurationError, match="module 'no_such_module_xyz' .* cannot be imported"):
            current.registry  # noqa: B018 - the registry is loaded on first use


def test_demo_names_the_modules_when_none_declares_one(monkeypatch, capsys) -> None:
    from handlers.cli import main

    monkeypatch.setenv("AWS_ES_MODULES", "tests.accounts")
    assert main(["demo"]) == 1
    assert capsys.readouterr().err == "aws-es demo: no module in AWS_ES_MODULES (tests.accounts) declares a demo\n"
