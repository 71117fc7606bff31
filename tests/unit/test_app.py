"""The explicit App and the port of `core.provider`: what an aggregate with nothing injected asks, what binds it,
the entry point that builds the default, and the entry points that build their App once and pass it down."""

from __future__ import annotations

import ast
import os
from collections.abc import Iterator
from decimal import Decimal
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import pytest

from core import ConfigurationError, InMemoryEventStore, provider
from core.repository import Repository
from handlers import commands, projector, queries, rebuild_worker
from handlers.app import App, ProcessApp
from handlers.local import LocalStack
from handlers.settings import Settings
from loans import Loan
from tests.api_support import LambdaContext, reply_of, rest_event

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def unbound() -> Iterator[None]:
    """Nothing bound for the test (as in a fresh process), then the test's App again."""
    previous = provider.use(None)
    try:
        yield
    finally:
        provider.use(previous)


def test_an_aggregate_with_a_store_or_repository_injected_reads_no_environment(monkeypatch, unbound) -> None:
    monkeypatch.setenv("SNAPSHOT_EVERY", "abc")
    monkeypatch.setenv("LOANS_TABLE", "Elsewhere")
    loan = Loan("x", store=InMemoryEventStore())
    loan.commit({"type": "LoanCreated", "requested_amount": Decimal("10.00"), "interest": Decimal("0.05")})
    other = Loan("y", "Given", repository=Repository(InMemoryEventStore()))
    assert (loan.table, loan.version, other.table) == ("Loans", 1, "Given")
    assert provider.bound() is None  # nothing was built or bound on the way


def test_with_nothing_bound_the_entry_point_builds_the_default_app_once_and_binds_it(unbound) -> None:
    loan = Loan("x")
    assert isinstance(provider.bound(), App)
    assert loan.repository is provider.bound().repository(Loan)  # type: ignore[union-attr]
    assert Loan("y").repository is loan.repository


def test_the_default_app_is_configured_by_the_environment_and_says_what_is_wrong(monkeypatch, unbound) -> None:
    monkeypatch.setenv("SNAPSHOT_EVERY", "abc")
    with pytest.raises(ConfigurationError, match="SNAPSHOT_EVERY"):
        Loan("x")
    assert provider.bound() is None
    monkeypatch.setenv("LOANS_TABLE", "Elsewhere")
    monkeypatch.delenv("SNAPSHOT_EVERY")
    assert Loan("x").table == "Elsewhere"


def test_the_distribution_declares_the_default_app_factory() -> None:
    (point,) = [point for point in entry_points(group="aws_es") if point.name == "app"]
    assert point.value == "handlers.app:App.from_env" and point.load() == App.from_env


def test_with_nothing_bound_and_no_entry_point_an_aggregate_says_to_inject_a_store_or_bind(monkeypatch,
                                                                                           unbound) -> None:
    monkeypatch.setattr(provider, "entry_points", lambda group: [])
    with pytest.raises(ConfigurationError, match=r"inject one \(store=... or repository=...\) or bind"):
        Loan("x").hydrate()
    assert Loan("x", store=InMemoryEventStore()).hydrate().version == 0


def test_an_entry_point_that_cannot_be_loaded_is_named(monkeypatch, unbound) -> None:
    broken = EntryPoint(name="app", value="no_such_module_xyz:build", group="aws_es")
    monkeypatch.setattr(provider, "entry_points", lambda group: [broken])
    with pytest.raises(ConfigurationError, match=r"aws_es:app \(no_such_module_xyz:build\) cannot be loaded"):
        Loan("x")


def test_a_bound_app_serves_aggregates_with_nothing_injected_and_using_restores_the_one_before(app) -> None:
    other = App(Settings(region="us-east-1", tables={"LOANS_TABLE": "OtherLoans"}))
    assert Loan("x").table == "Loans" and Loan("x").repository is app.repository(Loan)
    with other.bound():
        assert provider.bound() is other
        assert Loan("x").table == "OtherLoans" and Loan("x").repository is other.repository(Loan, "OtherLoans")
    assert provider.bound() is app


def test_the_core_layers_import_nothing_above_them() -> None:
    """`core`, `snapshots` and `projections` import neither `handlers` nor `loans`, lazily or not."""
    for package in ("core", "snapshots", "projections"):
        for path in (ROOT / package).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not [name for name in names if name.split(".")[0] in ("handlers", "loans")], path


def test_each_app_gets_its_own_resolvers_and_runs_its_handlers(aws) -> None:
    first, second = App.from_env(), App.from_env({"AWS_ES_MODULES": "loans,tests.api_module"})
    assert commands.resolvers.of(first) is commands.resolvers.of(first)
    assert commands.resolvers.of(first) is not commands.resolvers.of(second)
    ping = rest_event("GET", "/pings/known")
    assert reply_of(commands.handler_for(second)(ping, LambdaContext()))[0] == 200
    assert reply_of(commands.handler_for(first)(ping, LambdaContext()))[0] == 404
    assert reply_of(queries.handler_for(second)(rest_event("GET", "/pings"), LambdaContext())) == (
        200, {"pings": ["known"]})
    assert callable(projector.handler_for(first)) and callable(rebuild_worker.handler_for(first))


def test_a_process_app_is_built_on_first_use_once_and_binds_itself_only_when_nothing_is_bound(unbound) -> None:
    built: list[App] = []

    def build() -> App:
        built.append(App(Settings(region="us-east-1")))
        return built[-1]

    process = ProcessApp(build)
    assert built == []
    assert process() is process() is built[0] and len(built) == 1
    assert provider.bound() is built[0]
    assert ProcessApp(build)() is not built[0] and provider.bound() is built[0]


def test_the_local_stack_leaves_the_environment_alone_and_gives_an_app_its_endpoint() -> None:
    before = dict(os.environ)
    with LocalStack() as stack:
        assert dict(os.environ) == before
        settings = stack.settings(Settings(modules=("loans",), snapshots=Settings().snapshots))
        assert (settings.endpoint, settings.region, settings.credentials) == (
            stack.endpoint, "us-east-1", ("testing", "testing"))
        local = App(settings)
        local.dynamodb.create_table(TableName="Probe", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                                    AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                                    BillingMode="PAY_PER_REQUEST")
        assert local.dynamodb.list_tables()["TableNames"] == ["Probe"]
        assert stack.environment()["AWS_ENDPOINT_URL"] == stack.endpoint
