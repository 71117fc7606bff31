"""What the kit's properties and given/when/then helpers take as a command, and how one is decided.

A command is what a caller asks an aggregate to do, in one of three shapes:
- an event mapping (`{"type": "MoneyDeposited", "amount": Decimal("5.00")}`) or an `Event`: commit it;
- a list of them: commit them together, atomically;
- a callable `decide(aggregate)` returning one of those, or None (or an empty list) when, in the state it
  is given, the command decides nothing. It reads the state and does no I/O.

An event the aggregate's handlers refuse (`IllegalEventError`, a `CodecError` for a float, an event too
large) is a refused command: nothing is written and the aggregate is left as it was. Strategies may generate
refused commands freely; the properties check that refusing them changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Union

from hypothesis import strategies as st

from core.aggregate import Aggregate
from core.errors import CodecError, EventTooLargeError, IllegalEventError
from core.events import Event

#: An event as a caller gives it.
EventInput = Union[Event, Mapping[str, Any]]  # noqa: UP007 - a runtime alias: `|` on a typing generic fails
#: What a command decides: one event, several (committed together), or nothing.
Decision = Union[EventInput, Sequence[EventInput], None]  # noqa: UP007
#: A command: an event, a list of events, or a function of the aggregate's state deciding them.
Command = Union[EventInput, Sequence[EventInput], Callable[[Aggregate], Decision]]  # noqa: UP007

#: What `commit` raises when it refuses the events themselves (not the store's faults or conflicts).
REFUSALS: tuple[type[Exception], ...] = (IllegalEventError, CodecError, EventTooLargeError)

#: When events given without `created` happened: a fixed time, so every run folds the same events.
START = datetime(2026, 1, 1, tzinfo=UTC)


def histories(commands: st.SearchStrategy[Command], max_commands: int) -> st.SearchStrategy[list[Command]]:
    """Lists of up to `max_commands` commands, their length drawn evenly (hypothesis's own lists are mostly
    short, and a history must outgrow the snapshot intervals to test them); they shrink to fewer commands."""
    if not isinstance(max_commands, int) or max_commands < 0:
        raise ValueError(f"max_commands must be a whole number, not {max_commands!r}")
    return st.integers(0, max_commands).flatmap(lambda size: st.lists(commands, min_size=size, max_size=size))


def decide(command: Command, aggregate: Aggregate) -> list[EventInput] | None:
    """The events `command` decides on the aggregate as it is, or None when it decides nothing."""
    decision: Any = command(aggregate) if callable(command) else command
    if decision is None:
        return None
    if isinstance(decision, (Event, Mapping)):
        return [decision]
    if isinstance(decision, (list, tuple)):
        return list(decision) or None
    raise TypeError(f"a command decides an event mapping, a list of them or None, not {decision!r}")


def numbered(events: Sequence[EventInput], version: int) -> list[Event]:
    """The events as a commit would store them after `version`: numbered on, and timestamped at a fixed time
    where they have none (so a handler that reads `event.created` folds the same value every run)."""
    prepared = []
    for offset, value in enumerate(events, start=1):
        event = Event.from_input(value)
        number = version + offset
        prepared.append(event.replace(number=event.number or number,
                                      created=event.created or START + timedelta(minutes=number)))
    return prepared


def same_decision(first: Sequence[EventInput] | None, second: Sequence[EventInput] | None) -> bool:
    """Whether two decisions are the same events (type, payload and meta; numbers and times aside)."""
    return _shape(first) == _shape(second)


def _shape(events: Sequence[EventInput] | None) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    shaped = []
    for value in events or ():
        event = Event.from_input(value)
        shaped.append((event.type, dict(event.data), dict(event.meta or {})))
    return shaped


def describe(events: Sequence[EventInput] | None) -> str:
    """A short listing of events for a failure message."""
    if not events:
        return "nothing"
    return ", ".join(f"{event_type} {data}" for event_type, data, _ in _shape(events))
