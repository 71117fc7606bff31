"""The loan queries as plain functions, for the queries API: validate the request, read, shape the reply.

A listing pages with an opaque cursor: the base64url of the last key DynamoDB returned, checked on the way
back in (its attributes, their types and sizes, and that it belongs to the same status), so a tampered cursor
is a 400 naming `cursor`, never a request DynamoDB refuses.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

from core import EventSourcingError, InvalidIdError, check_id
from loans.loan import STATUSES
from loans.projections import BY_STATUS
from loans.service import LoanNotFoundError
from loans.views import loan_view
from projections.definition import Projection
from projections.query import query_index, read_row
from projections.tables import Tables

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

#: A listing's page size: ASCII digits only (`isdigit()` also takes "²" and "⑤"), 1 to 1000.
MAX_LIMIT = 1000
#: The longest cursor accepted; one this service issues is about 200 characters.
MAX_CURSOR = 2048


class InvalidQueryError(EventSourcingError):
    """Raised when a query parameter is malformed or out of range; `field` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def summary(client: DynamoDBClient, projection: Projection, tables: Tables, loan_id: str) -> dict[str, Any]:
    row = read_row(client, projection, tables, check_id(loan_id))
    if row is None:
        raise LoanNotFoundError(loan_id)
    return loan_view(loan_id, row)


def by_status(client: DynamoDBClient, projection: Projection, tables: Tables, status: str | None, limit: str | None,
              cursor: str | None) -> dict[str, Any]:
    """One page of loans in `status`, most recently updated first, and the cursor of the next page if any."""
    if status not in STATUSES:
        raise InvalidQueryError(f"status must be one of {', '.join(STATUSES)}, not {status!r}", "status")
    start = decode_cursor(projection, status, cursor) if cursor is not None else None
    rows, last = query_index(client, projection, tables.rows, BY_STATUS, status, parse_limit(limit), start)
    reply = {"status": status, "loans": [loan_view(loan_id, row) for loan_id, row in rows]}
    if last is not None:
        reply["next"] = encode_cursor(last)
    return reply


def parse_limit(text: str | None) -> int:
    if text is None:
        return 50
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_LIMIT:
        shown = text if len(text) <= 20 else f"{text[:20]}... ({len(text):,} characters)"
        raise InvalidQueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {shown!r}", "limit")
    return int(text)


def encode_cursor(key: dict[str, Any]) -> str:
    text = json.dumps(key, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(projection: Projection, status: str, cursor: str) -> dict[str, Any]:
    """The last key a previous page returned, or `InvalidQueryError` naming `cursor`."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError(f"it is longer than {MAX_CURSOR} characters")
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        key = json.loads(raw.decode("utf-8"))
        _check_key(projection, status, key)
    except (ValueError, binascii.Error, RecursionError, InvalidIdError) as exc:
        raise InvalidQueryError("cursor is not one this listing gave out: pass back the `next` of a page of "
                                "the same status", "cursor") from exc
    return key


def _check_key(projection: Projection, status: str, key: object) -> None:
    (spec,) = [spec for spec in projection.indexes if spec["IndexName"] == BY_STATUS]
    names = {projection.key, *(part["AttributeName"] for part in spec["KeySchema"])}
    if not isinstance(key, dict) or set(key) != names:
        raise ValueError(f"it must hold exactly {', '.join(sorted(names))}")
    for name, value in key.items():
        if not (isinstance(value, dict) and list(value) == ["S"] and isinstance(value["S"], str)
                and 0 < len(value["S"]) <= 256):
            raise ValueError(f"{name} must be a string of 1 to 256 characters")
    check_id(key[projection.key]["S"])
    partition = next(part["AttributeName"] for part in spec["KeySchema"] if part["KeyType"] == "HASH")
    if key[partition]["S"] != status:
        raise ValueError(f"it belongs to a listing of another {partition}")
