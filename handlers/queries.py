"""Lambda handler for the loan queries API (API Gateway REST), over the live generation of the query tables:
thin, the work is in `loans.queries`, the error mappings in `handlers.api_errors`.

GET /loans/{id}/summary                   one loan's summary row                                  200 | 404
GET /loans?status=S&limit=N&cursor=C      loans in a status, most recently updated first          200
GET /portfolio                            per status: loans, principal, outstanding               200
GET /dashboard, /dashboard/loans/{id}     the dashboard's HTML pages (`loans.dashboard`)          200 | 404
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from core import config
from handlers import projection_setup
from handlers.api_errors import add_error_handlers, reply
from handlers.dashboard_sources import sources as dashboard_sources
from loans import dashboard, queries
from loans.views import portfolio_view
from projections.query import read_counters

logger = Logger(service="loan-queries")
tracer = Tracer(service="loan-queries")
app = APIGatewayRestResolver()
add_error_handlers(app, logger)
dashboard.add_routes(app, dashboard_sources)


@app.get("/loans/<loan_id>/summary")
def summary(loan_id: str) -> Response:
    return reply(200, queries.summary(config.dynamodb_client(), *projection_setup.live_tables(), loan_id))


@app.get("/loans")
def by_status() -> Response:
    parameter = app.current_event.get_query_string_value
    return reply(200, queries.by_status(config.dynamodb_client(), *projection_setup.live_tables(),
                                        parameter("status"), parameter("limit"), parameter("cursor")))


@app.get("/portfolio")
def portfolio() -> Response:
    _, tables = projection_setup.live_tables()
    return reply(200, portfolio_view(read_counters(config.dynamodb_client(), tables)))


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
