"""The API handlers know no domain: each serves the routes of the modules in AWS_ES_MODULES, with the library's
error mappings and the ones a module adds through `map_errors`."""

from __future__ import annotations

import pytest

from core import ConfigurationError, EventSourcingError
from handlers import commands, queries
from handlers.api_errors import map_errors
from handlers.root import reset
from tests.api_support import LambdaContext, reply_of, rest_event


def call(handler, path: str) -> tuple[int, dict]:
    return reply_of(handler.lambda_handler(rest_event("GET", path), LambdaContext()))


@pytest.fixture
def with_module(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AWS_ES_MODULES", "loans,tests.api_module")
    reset()
    yield
    reset()


def test_a_modules_routes_and_error_mappings_are_served(with_module, aws):
    assert call(commands, "/pings/known") == (200, {"name": "known", "root": "Root"})
    assert call(commands, "/pings/other") == (404, {"error": "no ping 'other'", "field": "name"})
    assert call(queries, "/pings") == (200, {"pings": ["known"]})
    status, reply = call(commands, "/loans/" + "x" * 300)  # the loan routes are served beside them
    assert status == 400 and reply["field"] == "id"


def test_a_new_root_gets_a_resolver_with_its_own_modules_routes(with_module, monkeypatch, aws):
    assert call(commands, "/pings/known")[0] == 200
    monkeypatch.setenv("AWS_ES_MODULES", "loans")
    reset()
    assert call(commands, "/pings/known")[0] == 404
    assert call(queries, "/pings")[0] == 404
    assert call(commands, "/loans/" + "x" * 300)[0] == 400


class _Refused(EventSourcingError):
    pass


@pytest.mark.parametrize(("status", "errors", "named"), [
    (500, (_Refused,), "500"), (200, (_Refused,), "200"), (404, (), "at least one error class"),
])
def test_map_errors_refuses_a_status_that_is_not_a_client_error_or_no_errors(status, errors, named):
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    with pytest.raises(ConfigurationError, match=named):
        map_errors(APIGatewayRestResolver(), status, *errors)
