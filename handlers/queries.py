"""Lambda handler for the queries API (API Gateway REST), over the live generation of the query tables: a
resolver with the library's error mappings (`handlers.api_errors`) and the routes of every module in
`AWS_ES_MODULES` that declares `query_routes(resolver, app)`.

`lambda_handler` serves the process's App (`App.from_env()`, built on the first invocation);
`handler_for(app)` is the same handler on an App the caller built (tests, the local APIs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from handlers.api_errors import add_error_handlers
from handlers.app import App, ProcessApp
from handlers.error_pages import for_browser
from handlers.resolvers import Resolvers
from handlers.tracing import tracer_for

logger = Logger(service="queries")
tracer = tracer_for("queries")


def build(app: App) -> APIGatewayRestResolver:
    resolver = APIGatewayRestResolver()
    add_error_handlers(resolver, logger)
    for add_routes in app.registry.query_routes:
        add_routes(resolver, app)
    return resolver


resolvers = Resolvers(build)
process_app = ProcessApp()


def handler_for(app: App) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler (powertools' logging and tracing included) serving `app`."""

    @logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return for_browser(event, resolvers.of(app).resolve(event, context), missing_route=False)

    return handler


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return for_browser(event, resolvers.of(process_app()).resolve(event, context), missing_route=False)
