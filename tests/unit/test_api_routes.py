"""The API handlers know no domain: each serves the routes of the modules in AWS_ES_MODULES, with the library's
error mappings and the ones a module adds through `map_errors`."""

from __future__ import annotations

import pytest

from core import ConfigurationError, EventSourcingError
from handlers import commands, queries
from handlers.api_errors import map_errors
from handlers.app import App
from tests.api_support import LambdaContext, reply_of, rest_event


def call(handler, app: App, path: str) -> tuple[int, dict]:
    return reply_of(handler.handler_for(app)(rest_event("GET", path), LambdaContext()))


@pytest.fixture
def with_module() -> App:
    return App.from_env({"AWS_ES_MODULES": "loans,tests.api_module"})


def test_a_modules_routes_and_error_mappings_are_served(with_module, aws):
    assert call(commands, with_module, "/pings/known") == (200, {"name": "known", "app": "App"})
    assert call(commands, with_module, "/pings/other") == (404, {"error": "no ping 'other'", "field": "name"})
    assert call(queries, with_module, "/pings") == (200, {"pings": ["known"]})
    status, reply = call(commands, with_module, "/loans/" + "x" * 300)  # the loan routes are served beside them
    assert status == 400 and reply["field"] == "id"


def test_another_app_gets_a_resolver_with_its_own_modules_routes(with_module, aws):
    assert call(commands, with_module, "/pings/known")[0] == 200
    loans_only = App.from_env({"AWS_ES_MODULES": "loans"})
    assert call(commands, loans_only, "/pings/known")[0] == 404
    assert call(queries, loans_only, "/pings")[0] == 404
    assert call(commands, loans_only, "/loans/" + "x" * 300)[0] == 400
    assert call(commands, with_module, "/pings/known")[0] == 200


class _Refused(EventSourcingError):
    pass


@pytest.mark.parametrize(("status", "errors", "named"), [
    (500, (_Refused,), "500"), (200, (_Refused,), "200"), (404, (), "at least one error class"),
])
def test_map_errors_refuses_a_status_that_is_not_a_client_error_or_no_errors(status, errors, named):
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    with pytest.raises(ConfigurationError, match=named):
        map_errors(APIGatewayRestResolver(), status, *errors)
