"""Lambda handler for the queries API (API Gateway REST), over the live generation of the query tables: a
resolver with the library's error mappings (`handlers.api_errors`) and the routes of every module in
`AWS_ES_MODULES` that declares `query_routes(app, root)`. The resolver is built on the first request, from the
process's composition root, and again if that root is reset.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from handlers.api_errors import add_error_handlers
from handlers.resolvers import Resolvers

logger = Logger(service="queries")
tracer = Tracer(service="queries")


def build(root: Any) -> APIGatewayRestResolver:
    app = APIGatewayRestResolver()
    add_error_handlers(app, logger)
    for add_routes in root.registry.query_routes:
        add_routes(app, root)
    return app


resolvers = Resolvers(build)


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return resolvers.current().resolve(event, context)
