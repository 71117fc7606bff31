"""Shared fixtures: in-process moto (`aws`), moto's HTTP server (`moto_server`), event stores, each test's `app`
(bound as the aggregates' provider for the test, so no test sees another's); the tiers.

`make check` runs the fast tier, `pytest -m "not slow"`; `make test` runs everything. A test is `slow` when it
lives in tests/integration, uses a fixture of `SLOW_FIXTURES`, names DynamoDB, S3 or a server in its id (file,
class, name or parameters), or it or its module uses moto, a subprocess or a tool (`SLOW_IMPORTS`), directly or
through a tests/ support module: nothing to mark by hand. `@pytest.mark.slow` marks any other.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from types import ModuleType

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from core.dynamodb import DynamoDBEventStore, events_table_definition
from core.store import InMemoryEventStore
from handlers.app import App
from tests.moto_support import emptied_moto, empty_moto

FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    "AWS_EC2_METADATA_DISABLED": "true",
    "POWERTOOLS_TRACE_DISABLED": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "aws-es-tests",
}

#: Fixtures that start moto or a server: a test using one (directly or through another fixture) is slow.
SLOW_FIXTURES = frozenset({"aws", "shared_aws", "dynamodb", "events_table", "moto_server", "server_env",
                           "server_app"})
#: Packages whose use makes a module's tests slow: moto, processes, the linters and type checker, a browser.
SLOW_IMPORTS = ("moto", "subprocess", "mypy", "cfnlint", "samtranslator", "selenium")
#: Words in a test's name or parameter ids that say it runs against moto or a server.
SLOW_WORDS = ("dynamodb", "s3", "moto", "server")
TESTS = Path(__file__).resolve().parent

# Every boto3 session (moto gives each mocked test a fresh one, and each store builds its own) would read the
# service models and endpoint rules from disk again: about 0.2-1 s a client. Sessions in this process share one
# loader instead, so each file is parsed once per run. Nothing else about a session or a client changes.
botocore.session.create_loader = functools.lru_cache(maxsize=None)(botocore.loaders.create_loader)


def _uses_slow_imports(module: ModuleType, depth: int = 2) -> bool:
    """True when `module` holds anything from `SLOW_IMPORTS`, or (to `depth`) a tests/ module that does."""
    for value in list(vars(module).values()):
        owner = value if isinstance(value, ModuleType) else inspect.getmodule(value)
        if owner is None or owner is module:
            continue
        name = owner.__name__
        if name.split(".")[0] in SLOW_IMPORTS:
            return True
        if depth and name.startswith("tests.") and name != "tests.conftest" and _uses_slow_imports(owner, depth - 1):
            return True
    return False


@functools.cache
def _slow_module(name: str) -> bool:
    return _uses_slow_imports(sys.modules[name])


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` every test outside the fast tier (see the module's docstring)."""
    for item in items:
        module = getattr(item, "module", None)
        slow = (
            TESTS / "integration" in Path(item.fspath).parents
            or not SLOW_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))
            or (module is not None and _slow_module(module.__name__))
            or any(word in item.nodeid.lower() for word in SLOW_WORDS)
            or _mentions_slow_imports(getattr(item, "obj", None))
        )
        if slow:
            item.add_marker(pytest.mark.slow)
    _slow_modules_first(items)


def _slow_modules_first(items: list[pytest.Item]) -> None:
    """Whole modules that hold a slow test run first, the rest after, each in its collected order: with `pytest -n`
    the long tests start early and a worker that runs out takes short ones from the end of another's queue, so
    the run does not end waiting on one long test. A module's tests stay together: its module fixtures run once."""
    slow = {item.module.__name__ for item in items
            if getattr(item, "module", None) is not None and item.get_closest_marker("slow")}
    items.sort(key=lambda item: getattr(getattr(item, "module", None), "__name__", "") not in slow)


def _mentions_slow_imports(function: object) -> bool:
    """True when a test function's own source imports or names one of `SLOW_IMPORTS` (a lazy import)."""
    try:
        source = inspect.getsource(function)  # type: ignore[arg-type]
    except (TypeError, OSError):
        return False
    return any(f"import {name}" in source or f"from {name}" in source or f"{name}." in source
               for name in SLOW_IMPORTS)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test sees fake credentials and no endpoint."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    yield


@pytest.fixture(autouse=True)
def app(_isolated_env: None) -> Iterator[App]:
    """This test's App, as the isolated environment configures it, bound as the aggregates' provider for the
    test. A test wanting other settings builds its own (`App(Settings(...))`) and binds it (`with app.bound()`)."""
    with App.from_env().bound() as built:
        yield built


@pytest.fixture
def aws() -> Iterator[None]:
    """In-process moto: every boto3 client made inside the test talks to it. It starts empty, also in a module
    whose properties share one moto (`shared_aws`): a started moto is not reset when started again."""
    with mock_aws():
        empty_moto()
        yield


@pytest.fixture(scope="module")
def shared_aws() -> Iterator[Callable[[], AbstractContextManager[None]]]:
    """In-process moto for a whole module, for properties: each example runs in `with shared_aws():` (in place of
    `with mock_aws():`), which empties moto first: examples share one moto but never its data."""
    with mock_aws():
        yield emptied_moto


@pytest.fixture
def dynamodb(aws: None):
    return boto3.client("dynamodb", region_name="us-east-1")


@pytest.fixture
def events_table(dynamodb) -> str:
    dynamodb.create_table(**events_table_definition("Loans"))
    return "Loans"


@pytest.fixture(params=["memory", "dynamodb"])
def event_store(request: pytest.FixtureRequest):
    """Each contract test runs against the in-memory fake and DynamoDB (moto)."""
    if request.param == "memory":
        return InMemoryEventStore()
    client = request.getfixturevalue("dynamodb")
    client.create_table(**events_table_definition("Loans"))
    return DynamoDBEventStore("Loans", client=client)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's server over real HTTP on a free loopback port, for the whole session; yields the endpoint."""
    from handlers.local import LocalStack

    stack = LocalStack().start()
    yield stack.endpoint
    stack.stop()


@pytest.fixture
def server_app(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """An App on the moto server, cleared, bound for the test; the environment (for `main` and subprocesses)
    points there too."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    # No cached live generation: a rebuild's wait for every reader to see its switch (twice the TTL) is then none,
    # here and in the processes the test starts. A test racing a live projector against a rebuild sets its own.
    monkeypatch.setenv("PROJECTION_CONTROL_TTL", "0")
    with App.from_env().bound() as built:
        yield built


@pytest.fixture
def server_env(server_app: App, moto_server: str) -> str:
    """The moto server's endpoint, with `server_app` bound."""
    return moto_server
