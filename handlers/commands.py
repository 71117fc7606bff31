"""Lambda handler for the commands API (API Gateway REST): a resolver with the library's error mappings
(`handlers.api_errors`) and the routes of every module in `AWS_ES_MODULES` that declares `command_routes(app,
root)`. The resolver is built on the first request, from the process's composition root, and again if that
root is reset.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from handlers import idempotency
from handlers.api_errors import add_error_handlers
from handlers.resolvers import Resolvers
from handlers.snapshot_metrics import published

logger = Logger(service="commands")
metrics = Metrics(namespace="aws-es", service="commands")
tracer = Tracer(service="commands")


def build(root: Any) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    add_error_handlers(app, logger)
    idempotency.add_error_handlers(app)
    for add_routes in root.registry.command_routes:
        add_routes(app, root)
    return app


resolvers = Resolvers(build)


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with published(metrics):  # snapshot hits, skips and writes this invocation caused
        return resolvers.current().resolve(event, context)
