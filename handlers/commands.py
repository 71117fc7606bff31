"""Lambda handler for the loan commands API (API Gateway REST): thin, the work is in `loans.service`.

POST /loans                  open a loan from a LoanCreated body        201 {id, version, status, ...}
POST /loans/{id}/events      commit one event ({"type": ..., fields})   201
GET  /loans/{id}             the loan's current state                   200
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from core import (
    CodecError,
    ConcurrencyError,
    EventTooLargeError,
    IllegalEventError,
    IllegalEventNumberError,
    StoredEventError,
)
from handlers.api_errors import add_error_handlers, reply
from loans import service

logger = Logger(service="loan-commands")
app = APIGatewayRestResolver()
add_error_handlers(app)


def request() -> tuple[dict[str, Any], dict[str, str]]:
    """The event the body holds, and the meta the service records with it (from API Gateway, never the body)."""
    event = app.current_event
    body = service.parse_event(event.get("body"), base64_encoded=event.get("isBase64Encoded") is True)
    return body, service.request_meta(event.get("requestContext"))


@app.post("/loans")
def open_loan() -> Response:
    loan, _ = service.open_loan(*request())
    return reply(201, service.view(loan))


@app.post("/loans/<loan_id>/events")
def record(loan_id: str) -> Response:
    app.append_context(loan_id=loan_id)
    loan, event = service.record(loan_id, *request())
    return reply(201, {**service.view(loan), "event": {"type": event.type, "number": event.number}})


@app.get("/loans/<loan_id>")
def get_loan(loan_id: str) -> Response:
    app.append_context(loan_id=loan_id)
    return reply(200, service.view(service.load(loan_id)))


@app.exception_handler(service.LoanNotFoundError)
def not_found(exc: Exception) -> Response:
    return reply(404, {"error": str(exc)})


@app.exception_handler([ConcurrencyError, IllegalEventNumberError])
def conflict(exc: Exception) -> Response:
    return reply(409, {"error": str(exc)})


@app.exception_handler(IllegalEventError)
def refused(exc: IllegalEventError) -> Response:
    return reply(422, {"error": str(exc), "field": exc.field})


@app.exception_handler(EventTooLargeError)
def too_large(exc: EventTooLargeError) -> Response:
    return reply(413, {"error": str(exc), "field": "body"})


@app.exception_handler([StoredEventError, CodecError])
def unreadable(exc: Exception) -> Response:
    """An event already in the log cannot be decoded or applied: the service's fault, never the caller's.
    (Payloads a caller sends that cannot be encoded are refused as `IllegalEventError` before any write.)"""
    loan_id = getattr(exc, "aggregate_id", app.context.get("loan_id"))
    logger.error("a stored event cannot be read",
                 extra={"loan_id": loan_id, "event_number": getattr(exc, "number", None), "reason": str(exc)})
    return reply(500, {"error": "this loan's stored events cannot be read; the fault is the service's and is "
                                "logged, the request was not applied"})


@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
