"""Loan commands as plain functions, for the commands API and scripts: parse, decide, commit."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from core import EventSourcingError, IllegalEventError, execute
from core.events import Event
from loans.loan import Loan


class LoanNotFoundError(EventSourcingError):
    """Raised when a loan id has no events."""

    def __init__(self, loan_id: str) -> None:
        super().__init__(f"no loan {loan_id!r}")
        self.loan_id = loan_id


def parse_event(body: str | None) -> dict[str, Any]:
    """A JSON event body; numbers become exact Decimals (never floats), an integral `number` an int."""
    if not body:
        raise IllegalEventError("the request has no body: send a JSON object with a 'type'")
    try:
        value = json.loads(body, parse_float=Decimal, parse_int=Decimal)
    except ValueError as exc:
        raise IllegalEventError(f"the request body is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise IllegalEventError(f"the request body must be a JSON object, not {type(value).__name__}")
    number = value.get("number")
    if isinstance(number, Decimal):
        if number != number.to_integral_value():
            raise IllegalEventError(f"number must be a whole number, not {number}", field="number")
        value["number"] = int(number)
    if "created" in value:
        raise IllegalEventError("created is set by the service, not by the request", field="created")
    return value


def open_loan(event: Mapping[str, Any]) -> tuple[Loan, Event]:
    """Create a loan from a `LoanCreated` body (the type may be left out)."""
    if event.get("type", "LoanCreated") != "LoanCreated":
        raise IllegalEventError(f"a new loan starts with LoanCreated, not {event.get('type')!r}", field="type")
    loan = Loan()
    stored = loan.commit({**event, "type": "LoanCreated"})
    return loan, stored


def record(loan_id: str, event: Mapping[str, Any]) -> tuple[Loan, Event]:
    """Commit one event to a loan. Without an explicit `number` a conflict is retried on fresh state (the
    guards decide again); with one, the caller asked for exactly that version and a conflict is theirs."""
    loan = Loan(loan_id)
    if "number" in event:
        loan.hydrate()
        _exists(loan)
        return loan, loan.commit(event)

    def commit(target: Loan) -> Event:
        _exists(target)
        return target.commit(event)

    return loan, execute(loan, commit)


def load(loan_id: str) -> Loan:
    loan = Loan(loan_id)
    loan.hydrate()
    _exists(loan)
    return loan


def view(loan: Loan) -> dict[str, Any]:
    """The loan as a JSON-ready dict: amounts as decimal strings, times as ISO-8601."""
    state = {key: (str(value) if isinstance(value, Decimal) else value) for key, value in loan.state().items()}
    if state.get("last_updated") is not None:
        state["last_updated"] = loan.last_updated.isoformat()
    return {"id": loan.id, "version": loan.version, **state}


def _exists(loan: Loan) -> None:
    if loan.version == 0:
        raise LoanNotFoundError(loan.id)
