"""Lambda handler for the commands API (API Gateway REST): a resolver with the library's error mappings
(`handlers.api_errors`) and the routes of every module in `AWS_ES_MODULES` that declares
`command_routes(resolver, app)`.

`lambda_handler` serves the process's App (`App.from_env()`, built on the first invocation);
`handler_for(app)` is the same handler on an App the caller built (tests, the local APIs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from handlers import idempotency
from handlers.api_errors import add_error_handlers
from handlers.app import App, ProcessApp
from handlers.error_pages import for_browser
from handlers.resolvers import Resolvers
from handlers.snapshot_metrics import published
from handlers.tracing import tracer_for

logger = Logger(service="commands")
metrics = Metrics(namespace="aws-es", service="commands")
tracer = tracer_for("commands")


def build(app: App) -> APIGatewayRestResolver:
    resolver = APIGatewayRestResolver()
    add_error_handlers(resolver, logger)
    idempotency.add_error_handlers(resolver, idempotency.table_name(app.settings))
    for add_routes in app.registry.command_routes:
        add_routes(resolver, app)
    return resolver


resolvers = Resolvers(build)
process_app = ProcessApp()


def handle(app: App, event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One API Gateway request against `app`'s routes."""
    with published(metrics):  # snapshot hits, skips and writes this invocation caused
        return for_browser(event, resolvers.of(app).resolve(event, context), missing_route=False)


def handler_for(app: App) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda handler (powertools' logging, metrics and tracing included) serving `app`."""

    @metrics.log_metrics
    @logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
    @tracer.capture_lambda_handler
    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return handle(app, event, context)

    return handler


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(process_app(), event, context)
