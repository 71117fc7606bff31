"""What every DynamoDB module needs the same way: paging, "table not found", and cancellation reasons.

Written once so the event store, the snapshot store and the projection store agree: pages are followed on
the presence of `LastEvaluatedKey` (never on counts: moto and AWS differ on the last page, docs/local-aws.md);
a missing table becomes the caller's domain error naming the table and saying to run `aws-es init`; a
cancelled transaction is read as one code per item, in item order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from core.errors import EventSourcingError, error_code

#: One call of a paged operation (Query or Scan) with the request given: its reply, a plain dict or the
#: stubs' typed one (`QueryOutputTypeDef`, `ScanOutputTypeDef`).
Call = Callable[[dict[str, Any]], Mapping[str, Any]]
#: Cancellation codes meaning another writer got there first (a condition failed, or a concurrent transaction).
CONFLICT_REASONS = frozenset(("ConditionalCheckFailed", "TransactionConflict"))

def pages(call: Call, request: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Every page of a Query or Scan, following `LastEvaluatedKey` while the reply has one."""
    request = dict(request)
    while True:
        page = call(request)
        yield page
        if is_last_page(page):
            return
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def paged_items(call: Call, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every item of a Query or Scan, page by page, in constant memory."""
    for page in pages(call, request):
        yield from page.get("Items", ())


def is_last_page(page: Mapping[str, Any]) -> bool:
    """True when no page follows this one: the reply has no `LastEvaluatedKey`."""
    return "LastEvaluatedKey" not in page


def raise_if_missing_table(exc: BaseException, what: str, table: str | None, error: type[EventSourcingError]) -> None:
    """Raise `error` naming the missing table and what to run when `exc` says a table does not exist.

    `what` says which table it is for the reader ("events table", "control table"); any other `exc` passes.
    """
    if isinstance(exc, ClientError) and error_code(exc) == "ResourceNotFoundException":
        raise error(f"{what} {table!r} does not exist: run `aws-es init` first") from exc


def cancellation_reasons(exc: ClientError) -> list[dict[str, Any]]:
    """The per-item reasons of a cancelled transaction, in item order (empty for any other error)."""
    if error_code(exc) != "TransactionCanceledException":
        return []
    return list(exc.response.get("CancellationReasons", ()))  # type: ignore[arg-type]  # botocore types the reply loosely


def cancellation_codes(exc: ClientError) -> list[str]:
    """One code per item of a cancelled transaction ("None" for the items that were not the cause)."""
    return [reason.get("Code", "None") for reason in cancellation_reasons(exc)]


def is_conflict(codes: list[str]) -> bool:
    """True when a transaction was cancelled because another writer moved an item first."""
    return not CONFLICT_REASONS.isdisjoint(codes)
