"""Event types and their handlers: the one spelling of a type, and the payload fields a handler requires.

The handler of `LoanCreated` is `on_loan_created`; a type is canonical when its handler's name maps back to
exactly that type, the only spelling the log may hold (readers match types exactly).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from core.errors import IllegalEventError, UnknownEventTypeError

if TYPE_CHECKING:
    from core.events import Event

F = TypeVar("F", bound=Callable[..., Any])

def requires(**fields: type | tuple[type, ...]) -> Callable[[F], F]:
    """Declare the payload fields a handler needs and their types; a missing or mistyped one is refused.

    >>> @requires(amount=Decimal)
    ... def on_loan_paid(self, event): ...
    """

    def mark(handler: F) -> F:
        vars(handler)["__requires__"] = dict(fields)  # the function's own attributes: `F` declares none
        return handler

    return mark


def handler_name(event_type: str) -> str:
    """`LoanCreated` -> `on_loan_created`."""
    return "on_" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", event_type).lower()


def canonical_type(handler: str) -> str:
    """`on_loan_created` -> `LoanCreated`: the one spelling of the type that handler handles."""
    return "".join(part.capitalize() for part in handler[3:].split("_"))


def spelling_key(event_type: str) -> str:
    """An event type without case or separators: how a re-spelling is matched to its canonical type."""
    return "".join(char for char in event_type.lower() if char.isalnum())


def check_fields(event: Event, needs: tuple[tuple[str, Any], ...]) -> None:
    """Refuse an event whose required fields are missing or mistyped, naming the first such field."""
    data = event.data
    for name, kind in needs:
        if name not in data:
            raise IllegalEventError(f"{event.type} is missing field {name!r}", event_type=event.type, field=name)
        value = data[name]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise IllegalEventError(
                f"{event.type} field {name!r} must be {expected}, not {type(value).__name__} ({value!r})",
                event_type=event.type,
                field=name,
            )


def unknown_type(aggregate: str, event_type: str, handlers: list[str]) -> UnknownEventTypeError:
    """The refusal of a type no handler takes: it names the canonical type when only case or separators
    differ (`loan_paid`, `LOAN-PAID`), else the closest of the aggregate's `handlers` (`on_...` names)."""
    name = handler_name(event_type)
    types = {spelling_key(canonical_type(attr)): canonical_type(attr) for attr in handlers}
    canonical = types.get(spelling_key(event_type))
    if canonical is not None:
        return UnknownEventTypeError(aggregate, event_type, handler_name(canonical), None, canonical=canonical)
    close = difflib.get_close_matches(name, handlers, n=1)
    closest = f"{canonical_type(close[0])} ({close[0]})" if close else None
    return UnknownEventTypeError(aggregate, event_type, name, closest)
