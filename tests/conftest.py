"""Shared fixtures: in-process moto (`aws`), moto's HTTP server (`moto_server`), event stores, and each test's
`app` (bound as the aggregates' provider for the test, so no test sees another's)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from core.dynamodb import DynamoDBEventStore, events_table_definition
from core.store import InMemoryEventStore
from handlers.app import App

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
    """In-process moto: every boto3 client made inside the test talks to it."""
    with mock_aws():
        yield


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
    with App.from_env().bound() as built:
        yield built


@pytest.fixture
def server_env(server_app: App, moto_server: str) -> str:
    """The moto server's endpoint, with `server_app` bound."""
    return moto_server
