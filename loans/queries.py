"""The loan queries as plain functions, for the queries API: validate the request, read, shape the reply.

A listing reads every index partition of its status (`STATUS_SHARDS`) and merges them, newest first; it pages
with an opaque cursor: the base64url of where each partition stands (not read yet, read to its end, or the last
loan listed from it), checked on the way back in (its shape, types and sizes, and that it belongs to the same
status), so a tampered cursor is a 400 naming `cursor`, never a request DynamoDB refuses.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Any

from core import EventSourcingError, InvalidIdError, check_id
from loans.loan import STATUSES
from loans.projections import BY_STATUS, STATUS_SHARDS, status_partitions
from loans.service import LoanNotFoundError
from loans.views import Reveal, loan_view
from projections.consistency import Patience, read_at_least
from projections.definition import Projection
from projections.query import DONE, Position, index_keys, query_partitions, read_row
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


def summary(client: DynamoDBClient, projection: Projection, tables: Tables, loan_id: str, reveal: Reveal
            ) -> dict[str, Any]:
    row = read_row(client, projection, tables, check_id(loan_id))
    if row is None:
        raise LoanNotFoundError(loan_id)
    return loan_view(loan_id, row, reveal)


def summary_at_least(client: DynamoDBClient, projection: Projection, tables: Tables, loan_id: str,
                     min_version: int | None, reveal: Reveal, patience: Patience | None = None) -> dict[str, Any]:
    """`summary`, once the row reached `min_version` (a command's consistency token); `RowBehindError` when it
    has not within the wait (projections/consistency.py)."""
    check_id(loan_id)
    row = read_at_least(lambda: read_row(client, projection, tables, loan_id), loan_id, min_version, patience)
    if row is None:
        raise LoanNotFoundError(loan_id)
    return loan_view(loan_id, row, reveal)


def by_status(client: DynamoDBClient, projection: Projection, tables: Tables, status: str | None, limit: str | None,
              cursor: str | None, reveal: Reveal) -> dict[str, Any]:
    """One page of loans in `status`, most recently updated first, and the cursor of the next page if any: the
    status's index partitions (`STATUS_SHARDS`) merged, at most one Query each per page."""
    if status not in STATUSES:
        raise InvalidQueryError(f"status must be one of {', '.join(STATUSES)}, not {status!r}", "status")
    positions: list[Position] = [None] * STATUS_SHARDS
    if cursor is not None:
        positions = decode_cursor(projection, status, cursor)
    rows, after = query_partitions(client, projection, tables.rows, BY_STATUS, status_partitions(status),
                                   parse_limit(limit), positions)
    reply = {"status": status, "loans": [loan_view(loan_id, row, reveal) for loan_id, row in rows]}
    if any(position is not DONE for position in after):
        reply["next"] = encode_cursor(projection, status, after)
    return reply


def parse_limit(text: str | None) -> int:
    if text is None:
        return 50
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_LIMIT:
        shown = text if len(text) <= 20 else f"{text[:20]}... ({len(text):,} characters)"
        raise InvalidQueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {shown!r}", "limit")
    return int(text)


def encode_cursor(projection: Projection, status: str, positions: list[Position]) -> str:
    """`{"status": ..., "after": [...]}`, one entry per shard: null (not read yet), false (read to its end) or
    `[id, last_updated]` of the last loan listed from it."""
    _, sort = index_keys(projection, BY_STATUS)
    after = [position if not isinstance(position, dict) else [position[projection.key]["S"], position[sort]["S"]]
             for position in positions]
    text = json.dumps({"status": status, "after": after}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(projection: Projection, status: str, cursor: str) -> list[Position]:
    """Each shard's position from a cursor a previous page gave out, or `InvalidQueryError` naming `cursor`."""
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError(f"it is longer than {MAX_CURSOR} characters")
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        return _positions(projection, status, json.loads(raw.decode("utf-8")))
    except (ValueError, binascii.Error, RecursionError, InvalidIdError) as exc:
        raise InvalidQueryError("cursor is not one this listing gave out: pass back the `next` of a page of "
                                "the same status", "cursor") from exc


def _positions(projection: Projection, status: str, value: object) -> list[Position]:
    if not isinstance(value, dict) or set(value) != {"status", "after"}:
        raise ValueError("it must hold exactly after and status")
    if value["status"] != status:
        raise ValueError("it belongs to a listing of another status")
    after = value["after"]
    if not isinstance(after, list) or len(after) != STATUS_SHARDS:
        raise ValueError(f"after must list {STATUS_SHARDS} positions, one per shard")
    partition, sort = index_keys(projection, BY_STATUS)
    positions: list[Position] = []
    for shard, position in enumerate(after):
        if position is None or position is False:
            positions.append(position)
            continue
        if not (isinstance(position, list) and len(position) == 2
                and all(isinstance(part, str) and 0 < len(part) <= 256 for part in position)):
            raise ValueError("each position must be null, false or [id, last_updated], strings of 1 to 256 "
                             "characters")
        loan_id, updated = position
        check_id(loan_id)
        positions.append({projection.key: {"S": loan_id}, partition: {"S": f"{status}#{shard}"},
                          sort: {"S": updated}})
    return positions
