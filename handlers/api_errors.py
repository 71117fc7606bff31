"""What both API handlers share: JSON replies, and the error mappings every route needs.

A store that is throttled, failing or unreachable is a 503 with `Retry-After` (the request may be sent again
as is); an id that no store could take is a 400 naming `id`, before any request.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as ConnectionFailedError

from core import InvalidIdError, StoreUnavailableError
from core.errors import error_code

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


def add_error_handlers(app: APIGatewayRestResolver) -> None:
    """Register the mappings both APIs share on `app`."""

    @app.exception_handler(InvalidIdError)
    def invalid_id(exc: InvalidIdError) -> Response:
        return reply(400, {"error": str(exc), "field": exc.field})

    @app.exception_handler([StoreUnavailableError, ClientError, ConnectionFailedError, HTTPClientError])
    def store_unavailable(exc: Exception) -> Response:
        if not unavailable(exc):
            raise exc  # any other AWS error is a fault of ours: re-raised untouched
        return reply(503, {"error": "the store is unavailable for now: try again shortly"},
                     {"Retry-After": str(RETRY_AFTER)})
