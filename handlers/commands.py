"""Lambda handler for the loan commands API (API Gateway REST): thin, the work is in `loans.service`.

POST /loans                  open a loan from a LoanCreated body        201 {id, version, status, ...}
POST /loans/{id}/events      commit one event ({"type": ..., fields})   201
GET  /loans/{id}             the loan's current state                   200
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from core import CodecError, ConcurrencyError, IllegalEventError, IllegalEventNumberError
from loans import service

logger = Logger(service="loan-commands")
tracer = Tracer(service="loan-commands")
app = APIGatewayRestResolver()


def reply(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body, default=str))


@app.post("/loans")
def open_loan() -> Response:
    loan, _ = service.open_loan(service.parse_event(app.current_event.body))
    return reply(201, service.view(loan))


@app.post("/loans/<loan_id>/events")
def record(loan_id: str) -> Response:
    loan, event = service.record(loan_id, service.parse_event(app.current_event.body))
    return reply(201, {**service.view(loan), "event": {"type": event.type, "number": event.number}})


@app.get("/loans/<loan_id>")
def get_loan(loan_id: str) -> Response:
    return reply(200, service.view(service.load(loan_id)))


@app.exception_handler(service.LoanNotFoundError)
def not_found(exc: Exception) -> Response:
    return reply(404, {"error": str(exc)})


@app.exception_handler([ConcurrencyError, IllegalEventNumberError])
def conflict(exc: Exception) -> Response:
    return reply(409, {"error": str(exc)})


@app.exception_handler([IllegalEventError, CodecError])
def refused(exc: Exception) -> Response:
    return reply(422, {"error": str(exc), "field": getattr(exc, "field", None)})


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
