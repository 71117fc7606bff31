"""Lambda handler for the loan commands API (API Gateway REST): thin, the work is in `loans.service`, the
error mappings in `handlers.api_errors`.

POST /loans                  open a loan from a LoanCreated body        201 {id, version, status, ...}
POST /loans/{id}/events      commit one event ({"type": ..., fields})   201
Both POST routes honour an `Idempotency-Key` header (see `handlers.idempotency`).
GET  /loans/{id}             the loan's current state                   200
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from handlers import idempotency
from handlers.api_errors import add_error_handlers, reply
from handlers.snapshot_metrics import published
from loans import service

logger = Logger(service="loan-commands")
metrics = Metrics(namespace="aws-es", service="loan-commands")
tracer = Tracer(service="loan-commands")
app = APIGatewayRestResolver()
add_error_handlers(app, logger)
idempotency.add_error_handlers(app)


def request() -> tuple[dict[str, Any], dict[str, str]]:
    """The event the body holds, and the meta the service records with it (from API Gateway, never the body)."""
    event = app.current_event
    body = service.parse_event(event.get("body"), base64_encoded=event.get("isBase64Encoded") is True)
    return body, service.request_meta(event.get("requestContext"))


@app.post("/loans")
def open_loan() -> Response:
    return idempotency.command(app, lambda key: service.open_loan(*request(), key=key), service.opened)


@app.post("/loans/<loan_id>/events")
def record(loan_id: str) -> Response:
    app.append_context(loan_id=loan_id)
    return idempotency.command(app, lambda key: service.record(loan_id, *request(), key=key), service.recorded)


@app.get("/loans/<loan_id>")
def get_loan(loan_id: str) -> Response:
    app.append_context(loan_id=loan_id)
    return reply(200, service.view(service.load(loan_id)))


@metrics.log_metrics
@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with published(metrics):  # snapshot hits, skips and writes this invocation caused
        return app.resolve(event, context)
