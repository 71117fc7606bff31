"""A route's JSON request body, read as the library reads its own: `json_body(app.current_event)`.

Numbers keep their digits (`parse_float=Decimal`: `0.10` is `Decimal("0.10")`, never a float, which the event
codec refuses); a body that is not a JSON object is a 400 naming the problem in our words (never a Python
decode message); text no store can keep (a lone surrogate such as `"\\ud800"`) is a 422 naming the field,
before anything is read or written. Both are `RequestBodyError`, answered by `add_error_handlers`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from core.codec import unstorable_text
from core.errors import EventSourcingError

#: The deepest nesting a body may have; deeper JSON would exhaust the recursion of the codec.
MAX_DEPTH = 32


class RequestBodyError(EventSourcingError):
    """Raised when a request body is not a JSON object a route can read (`status` 400, `field` "body"), or
    holds text no store can keep (`status` 422, `field` the top-level field that holds it)."""

    def __init__(self, message: str, *, field: str = "body", status: int = 400) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


def json_body(event: Mapping[str, Any]) -> dict[str, Any]:
    """The body of an API Gateway proxy event (or powertools' `app.current_event`) as a JSON object, with
    exact Decimals; base64-encoded bodies (`isBase64Encoded`) are decoded first."""
    return json_object(body_text(event.get("body"), event.get("isBase64Encoded") is True))


def body_text(body: object, base64_encoded: bool = False) -> str:
    if body is None or body == "":
        raise RequestBodyError("the request has no body: send a JSON object")
    if not isinstance(body, str):
        raise RequestBodyError(f"the request body must be text, not {type(body).__name__}")
    if not base64_encoded:
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestBodyError(f"the request body is not UTF-8 text (byte {exc.start} cannot start a "
                               "character)") from exc
    except ValueError as exc:  # binascii.Error, and text outside ASCII, which base64 never holds
        raise RequestBodyError("the request body is marked base64-encoded but is not base64") from exc


def json_object(text: str, parse_int: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """`text` as a JSON object of at most `MAX_DEPTH` levels whose text a store can keep; whole numbers are
    ints unless `parse_int` says otherwise (`Decimal`, to check every number the same way)."""
    try:
        value = json.loads(text, parse_float=Decimal, parse_int=parse_int, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise RequestBodyError(f"the request body is not JSON: {_not_json(exc)}") from exc
    except RecursionError as exc:
        raise RequestBodyError(f"the request body nests deeper than {MAX_DEPTH} levels") from exc
    except (ValueError, ArithmeticError) as exc:  # NaN or Infinity; a number beyond Decimal's or int's range
        raise RequestBodyError("the request body is not JSON this service can read exactly: it holds NaN, "
                               "Infinity or a number of thousands of digits") from exc
    if not isinstance(value, dict):
        raise RequestBodyError(f"the request body must be a JSON object, not {_json_kind(value)}")
    if _depth_exceeds(value, MAX_DEPTH):
        raise RequestBodyError(f"the request body nests deeper than {MAX_DEPTH} levels")
    for field, item in value.items():  # the field named is the top-level one, the message gives the path
        path = unstorable_text({field: item})
        if path is not None:
            raise RequestBodyError(f"{path} holds a lone surrogate (such as \\ud800), text no store can keep: "
                                   "send valid Unicode text", field=field, status=422)
    return value


def _not_json(exc: json.JSONDecodeError) -> str:
    """Where a body stops being JSON, in our words (never Python's decoder message)."""
    return f"it stops being valid JSON at line {exc.lineno}, column {exc.colno}"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _json_kind(value: object) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _depth_exceeds(value: object, limit: int) -> bool:
    """True when `value` nests deeper than `limit` levels (walked without recursion)."""
    level: list[object] = [value]
    for _ in range(limit):
        level = [child for item in level
                 for child in (item.values() if isinstance(item, dict) else item if isinstance(item, list) else ())]
        if not level:
            return False
    return True
