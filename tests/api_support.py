"""Support for the API handler tests: API Gateway REST events, and store faults injected through botocore."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

#: Where a faulted request is pointed, so in-process moto (whose before-send hook runs after ours, and whose
#: effects would land although our reply wins) leaves it alone: a refused request must change nothing.
NOWHERE = "https://faulted.invalid/"


@dataclass
class LambdaContext:
    """What powertools reads from a Lambda context, for any of the functions the tests invoke."""

    function_name: str = "loan-commands"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 20_000  # the API functions' timeout

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"


def rest_event(method: str, path: str, body: str | None = None, *, query: dict[str, str] | None = None,
               base64_encoded: bool = False, request_context: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"httpMethod": method, "path": path, "resource": path, "headers": {"Content-Type": "application/json"},
            "queryStringParameters": query, "body": body, "isBase64Encoded": base64_encoded,
            "requestContext": request_context or {"requestId": "req-1", "stage": "test"}}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body

    def read(self, *_: Any) -> bytes:
        return self._body


def refusing(status: int, code: str) -> Callable[..., AWSResponse]:
    """A before-send hook answering every request with HTTP `status` and the AWS error `code`."""

    def before_send(request: Any, **_: Any) -> AWSResponse:
        response = AWSResponse(request.url, status, {}, _Raw(json.dumps({"__type": code, "message": code}).encode()))
        request.url = NOWHERE
        return response

    return before_send


def resetting(request: Any, **_: Any) -> None:
    """A before-send hook whose every connection is closed before a reply."""
    url, request.url = request.url, NOWHERE
    raise ConnectionClosedError(endpoint_url=url)


def reply_of(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return response["statusCode"], json.loads(response["body"])
