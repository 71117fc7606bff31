"""Shared fixtures: in-process moto (`aws`), moto's HTTP server (`moto_server`), and event stores."""

from __future__ import annotations

import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from core.dynamodb import DynamoDBEventStore, events_table_definition
from core.store import InMemoryEventStore
from handlers.root import reset as reset_root

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
    """Every test sees fake credentials and no endpoint, and starts with no cached clients."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    for name, value in FAKE_ENV.items():
        monkeypatch.setenv(name, value)
    reset_root()
    yield
    reset_root()


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

    saved = dict(os.environ)
    stack = LocalStack().start()
    os.environ.clear()
    os.environ.update(saved)
    yield stack.endpoint
    stack.stop()


@pytest.fixture
def server_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point this test's clients at the moto server, and give it a clean state."""
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    reset_root()
    yield moto_server
