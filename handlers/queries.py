"""Lambda handler for the loan queries API (API Gateway REST), over the live generation of the query tables.

GET /loans/{id}/summary         one loan's summary row                                  200 | 404
GET /loans?status=S&limit=N     loans in a status, most recently updated first          200
GET /portfolio                  per status: loans, principal, outstanding               200
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from core import config
from handlers import projection_setup
from loans.loan import STATUSES
from loans.projections import BY_STATUS
from loans.views import loan_view, portfolio_view
from projections.query import query_index, read_counters, read_row

logger = Logger(service="loan-queries")
tracer = Tracer(service="loan-queries")
app = APIGatewayRestResolver()


def reply(status: int, body: Any) -> Response:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body))


@app.get("/loans/<loan_id>/summary")
def summary(loan_id: str) -> Response:
    declared, tables = projection_setup.live_tables()
    row = read_row(config.dynamodb_client(), declared, tables, loan_id)
    return reply(200, loan_view(loan_id, row)) if row else reply(404, {"error": f"no loan {loan_id!r}"})


@app.get("/loans")
def by_status() -> Response:
    status = app.current_event.get_query_string_value("status", "")
    limit = app.current_event.get_query_string_value("limit", "50")
    if status not in STATUSES:
        return reply(400, {"error": f"status must be one of {', '.join(STATUSES)}, not {status!r}"})
    if not limit.isdigit() or not 1 <= int(limit) <= 1000:
        return reply(400, {"error": f"limit must be a whole number from 1 to 1000, not {limit!r}"})
    declared, tables = projection_setup.live_tables()
    rows = query_index(config.dynamodb_client(), declared, tables.rows, BY_STATUS, status, int(limit))
    return reply(200, {"status": status, "loans": [loan_view(loan_id, row) for loan_id, row in rows]})


@app.get("/portfolio")
def portfolio() -> Response:
    _, tables = projection_setup.live_tables()
    return reply(200, portfolio_view(read_counters(config.dynamodb_client(), tables)))


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
