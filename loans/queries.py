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
from dataclasses import dataclass
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
        positions = STATUS_CURSOR.decode(projection, status, status, cursor)
    rows, after = query_partitions(client, projection, tables.rows, BY_STATUS, status_partitions(status),
                                   parse_limit(limit), positions)
    reply = {"status": status, "loans": [loan_view(loan_id, row, reveal) for loan_id, row in rows]}
    if any(position is not DONE for position in after):
        reply["next"] = STATUS_CURSOR.encode(projection, status, after)
    return reply


def parse_limit(text: str | None) -> int:
    if text is None:
        return 50
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_LIMIT:
        shown = text if len(text) <= 20 else f"{text[:20]}... ({len(text):,} characters)"
        raise InvalidQueryError(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {shown!r}", "limit")
    return int(text)


@dataclass(frozen=True)
class ShardedCursor:
    """The cursor of a listing merged from the shards of `index`: `{<scope>: value, "after": [...]}` in URL-safe
    base64, one entry per shard: null (not read yet), false (read to its end) or `[id, <sort>]` of the last loan
    listed from it. Shard k of a listing of `value` is the index partition `<partition>#k`."""

    index: str
    #: what the listing is of ("status", "list"), the cursor's own key
    scope: str
    #: what the index's sort key holds, for the error messages
    sort: str
    #: the longest sort key value a position may hold
    sort_limit: int

    def encode(self, projection: Projection, value: str, positions: list[Position]) -> str:
        _, sort = index_keys(projection, self.index)
        after = [position if not isinstance(position, dict) else [position[projection.key]["S"], position[sort]["S"]]
                 for position in positions]
        text = json.dumps({self.scope: value, "after": after}, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def decode(self, projection: Projection, value: str, partition: str, cursor: str) -> list[Position]:
        """Each shard's position from a cursor a page of this listing gave out, or `InvalidQueryError` naming
        `cursor`."""
        try:
            if len(cursor) > MAX_CURSOR:
                raise ValueError(f"it is longer than {MAX_CURSOR} characters")
            raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
            return self._positions(projection, value, partition, json.loads(raw.decode("utf-8")))
        except (ValueError, binascii.Error, RecursionError, InvalidIdError) as exc:
            raise InvalidQueryError(f"cursor is not one this listing gave out: pass back the `next` of a page of "
                                    f"the same {self.scope}", "cursor") from exc

    def _positions(self, projection: Projection, value: str, partition_of: str, held: object) -> list[Position]:
        if not isinstance(held, dict) or set(held) != {self.scope, "after"}:
            raise ValueError(f"it must hold exactly after and {self.scope}")
        if held[self.scope] != value:
            raise ValueError(f"it belongs to a listing of another {self.scope}")
        after = held["after"]
        if not isinstance(after, list) or len(after) != STATUS_SHARDS:
            raise ValueError(f"after must list {STATUS_SHARDS} positions, one per shard")
        partition, sort = index_keys(projection, self.index)
        positions: list[Position] = []
        for shard, position in enumerate(after):
            if position is None or position is False:
                positions.append(position)
                continue
            if not (isinstance(position, list) and len(position) == 2
                    and all(isinstance(part, str) and 0 < len(part) <= self.sort_limit for part in position)):
                raise ValueError(f"each position must be null, false or [id, {self.sort}], strings of 1 to "
                                 f"{self.sort_limit} characters")
            loan_id, last = position
            check_id(loan_id)
            positions.append({projection.key: {"S": loan_id}, partition: {"S": f"{partition_of}#{shard}"},
                              sort: {"S": last}})
        return positions


#: The by-status listing's cursor.
STATUS_CURSOR = ShardedCursor(BY_STATUS, "status", "last_updated", 256)
