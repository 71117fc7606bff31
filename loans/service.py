"""Loan commands as plain functions, for the commands API and scripts: parse, decide, commit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core import EventSourcingError, IllegalEventError, execute
from core.events import Event
from handlers.bodies import RequestBodyError, body_text, json_object
from handlers.idempotency import caller_of
from loans.loan import Loan
from loans.views import state_view

if TYPE_CHECKING:
    from core.repository import Repository
    from handlers.idempotency import CommandKey

#: The highest explicit event `number` a request may carry (far beyond any loan's life).
MAX_NUMBER = 10**18


class LoanNotFoundError(EventSourcingError):
    """Raised when a loan id has no events."""

    def __init__(self, loan_id: str) -> None:
        super().__init__(f"no loan {loan_id!r}")
        self.loan_id = loan_id


def parse_event(body: object, *, base64_encoded: bool = False) -> dict[str, Any]:
    """A JSON event body (`handlers.bodies`); numbers become exact Decimals (never floats), an integral
    `number` an int. A body that cannot be read is refused as `IllegalEventError` (422, as the README's table
    of the commands API says), naming `body` or the field that holds text no store can keep.

    `created` and `meta` are the service's, so a body that sets them is refused.
    """
    try:
        value = json_object(body_text(body, base64_encoded), parse_int=Decimal)
    except RequestBodyError as exc:
        raise IllegalEventError(str(exc), field=exc.field) from exc
    if "number" in value:
        value["number"] = _event_number(value["number"])
    for reserved in ("created", "meta"):
        if reserved in value:
            raise IllegalEventError(f"{reserved} is set by the service, not by the request", field=reserved)
    return value


def _event_number(number: object) -> int:
    # Compared before any conversion: `int(Decimal("1E+5000"))` is a 5,001-digit int no message can print.
    if isinstance(number, Decimal) and 1 <= number <= MAX_NUMBER and number == number.to_integral_value():
        return int(number)
    if not isinstance(number, Decimal):
        shown = type(number).__name__
    else:
        shown = str(number) if number.adjusted() < 30 else "a number of more than 30 digits"
    raise IllegalEventError(f"number must be a whole number from 1 to {MAX_NUMBER}, not {shown}", field="number")


def request_meta(context: object) -> dict[str, str]:
    """The event's `meta`, from API Gateway's request context only: the correlation id (the request id) and
    the caller's identity when the API authenticates callers (an authorizer's `sub` claim or principal, or
    IAM's user ARN); never anything from the body."""
    context = context if isinstance(context, Mapping) else {}
    meta = {}
    request_id = context.get("requestId")
    if isinstance(request_id, str) and request_id:
        meta["correlation_id"] = request_id
    caller = caller_of(context)
    if caller:
        meta["caller"] = caller
    return meta


def open_loan(
    event: Mapping[str, Any], meta: Mapping[str, str] | None = None, key: CommandKey | None = None,
    repository: Repository | None = None,
) -> tuple[Loan, Event]:
    """Create a loan from a `LoanCreated` body (the type may be left out); a keyed open derives the id from
    the key, so a retry targets the same loan. `repository` is where loans live (default: `Loan`'s provider's)."""
    if event.get("type", "LoanCreated") != "LoanCreated":
        raise IllegalEventError(f"a new loan starts with LoanCreated, not {event.get('type')!r}", field="type")
    loan = Loan(key.aggregate_id if key else None, repository=repository)
    stored = loan.commit({**event, "type": "LoanCreated", "meta": dict(meta or {})}, marker=key.marker if key else None)
    return loan, stored


def record(
    loan_id: str, event: Mapping[str, Any], meta: Mapping[str, str] | None = None, key: CommandKey | None = None,
    repository: Repository | None = None,
) -> tuple[Loan, Event]:
    """Commit one event to a loan. Without an explicit `number` a conflict is retried on fresh state (the
    guards decide again); with one, the caller asked for exactly that version and a conflict is theirs."""
    loan = Loan(loan_id, repository=repository)
    event = {**event, "meta": dict(meta or {})}
    if "number" in event:
        loan.hydrate()
        _exists(loan)
        return loan, loan.commit(event, marker=key.marker if key else None)

    def commit(target: Loan) -> Event:
        _exists(target)
        return target.commit(event, marker=key.marker if key else None)

    return loan, execute(loan, commit)


def load(loan_id: str, repository: Repository | None = None, as_of: datetime | None = None) -> Loan:
    """The loan now, or as it was at `as_of` (its events created up to then): `LoanNotFoundError` if none."""
    loan = Loan(loan_id, repository=repository)
    loan.hydrate(as_of=as_of)
    _exists(loan)
    return loan


def view(loan: Loan) -> dict[str, Any]:
    """The loan as a JSON-ready dict: amounts as plain decimal strings with their cents, times as ISO-8601."""
    return {"id": loan.id, "version": loan.version, **state_view(loan.state())}


def opened(loan: Loan, event: Event) -> dict[str, Any]:
    """The reply body of an open."""
    return view(loan)


def recorded(loan: Loan, event: Event) -> dict[str, Any]:
    """The reply body of a recorded event."""
    return {**view(loan), "event": {"type": event.type, "number": event.number}}


def _exists(loan: Loan) -> None:
    if loan.version == 0:
        raise LoanNotFoundError(loan.id)
