"""What both API handlers share: JSON replies, the error mappings of the library's own errors (powertools
exception handlers), and `map_errors`, with which a module's routes map their domain's errors to a status.

Each reply is a JSON object with `error`, and `field` where one field of the request is at fault. A store that
is throttled, failing or unreachable is a 503 with `Retry-After` (the request may be sent again as is); an
event already stored that cannot be read is a 500, logged, since the fault is the service's.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as ConnectionFailedError

from core import (
    CodecError,
    ConcurrencyError,
    EventTooLargeError,
    IllegalEventError,
    IllegalEventNumberError,
    InvalidIdError,
    StoredEventError,
    StoreUnavailableError,
)
from core.errors import ConfigurationError, error_code
from handlers.bodies import RequestBodyError
from projections.consistency import InvalidVersionError, RowBehindError

#: Seconds a client should wait before sending a request the store could not take.
RETRY_AFTER = 2
#: AWS error codes that mean "not now" rather than "never" (botocore's own retry list, for DynamoDB and S3).
TRANSIENT_CODES = frozenset((
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling", "ThrottledException",
    "RequestLimitExceeded", "RequestThrottled", "RequestThrottledException", "TooManyRequestsException",
    "SlowDown", "TransactionInProgressException", "InternalServerError", "InternalError", "ServiceUnavailable",
))


def reply(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=headers)


def unavailable(exc: BaseException) -> bool:
    """True when `exc` says the store cannot take the request for now (throttled, 5xx, connection lost)."""
    if isinstance(exc, (StoreUnavailableError, ConnectionFailedError, HTTPClientError)):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error_code(exc) in TRANSIENT_CODES or int(status) >= 500
    return False


def map_errors(app: APIGatewayRestResolver, status: int, *errors: type[Exception]) -> None:
    """Answer each of `errors` with `status` and `{"error": message}`, plus `field` when the error names one:
    how a module's routes map their domain's errors (an unknown id, a malformed query) on `app`."""
    if not errors or not 400 <= status <= 499:
        raise ConfigurationError(f"map_errors takes a 4xx status and at least one error class, not {status} "
                                 f"and {errors!r}")

    @app.exception_handler(list(errors))
    def mapped(exc: Exception) -> Response:
        field = getattr(exc, "field", None)
        return reply(status, {"error": str(exc), **({"field": field} if field is not None else {})})


def add_error_handlers(app: APIGatewayRestResolver, logger: Logger) -> None:
    """Register the mappings of the library's errors on `app`; a route may put the id of the aggregate it works
    on in `app.context["aggregate_id"]` for the log of an unreadable event that does not carry it."""

    @app.exception_handler(InvalidIdError)
    def bad_request(exc: InvalidIdError) -> Response:
        return reply(400, {"error": str(exc), "field": exc.field})

    @app.exception_handler(RequestBodyError)
    def bad_body(exc: RequestBodyError) -> Response:
        return reply(exc.status, {"error": str(exc), "field": exc.field})

    @app.exception_handler([ConcurrencyError, IllegalEventNumberError])
    def conflict(exc: Exception) -> Response:
        return reply(409, {"error": str(exc)})

    @app.exception_handler(EventTooLargeError)
    def too_large(exc: EventTooLargeError) -> Response:
        return reply(413, {"error": str(exc), "field": "body"})

    @app.exception_handler(IllegalEventError)
    def refused(exc: IllegalEventError) -> Response:
        return reply(422, {"error": str(exc), "field": exc.field})

    @app.exception_handler([StoredEventError, CodecError])
    def unreadable(exc: Exception) -> Response:
        """An event already in the log cannot be decoded or applied. (A payload a caller sends that cannot be
        encoded is `UnencodablePayloadError`, an `IllegalEventError` answered 422 above, so a `CodecError`
        here is the log's.)"""
        aggregate_id = getattr(exc, "aggregate_id", app.context.get("aggregate_id"))
        logger.error("a stored event cannot be read", extra={
            "aggregate_id": aggregate_id, "event_number": getattr(exc, "number", None), "reason": str(exc)})
        return reply(500, {"error": "this aggregate's stored events cannot be read; the fault is the service's and "
                                    "is logged, the request was not applied"})

    @app.exception_handler(InvalidVersionError)
    def bad_version(exc: InvalidVersionError) -> Response:
        return reply(400, {"error": str(exc), "field": exc.field})

    @app.exception_handler(RowBehindError)
    def behind(exc: RowBehindError) -> Response:
        """Read-your-writes not reached within the wait: 409, no row (never a stale one passed off as current),
        the version the row holds in `X-Row-Version`, and when to ask again."""
        return reply(409, {"error": str(exc), "field": exc.field, "id": exc.key, "min_version": exc.wanted,
                           "version": exc.version, "waited_seconds": round(exc.waited, 3)},
                     {"X-Row-Version": str(exc.version), "Retry-After": "1"})

    @app.exception_handler([StoreUnavailableError, ClientError, ConnectionFailedError, HTTPClientError])
    def store_unavailable(exc: Exception) -> Response:
        if not unavailable(exc):
            raise exc  # any other AWS error is a fault of ours: re-raised untouched
        return reply(503, {"error": "the store is unavailable for now: try again shortly"},
                     {"Retry-After": str(RETRY_AFTER)})
