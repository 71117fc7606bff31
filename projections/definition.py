"""Declaring a projection: a name, the event types it folds, its key, a pure fold and optional counters.

A projection keeps one row per aggregate (keyed by the aggregate id) and the number of the last event folded
into it (`version`). Counters are declared as what one row contributes (for example one loan, its principal
and its balance under its status); the projector moves them by the difference between a row's old and new
contribution in the same transaction as the row, so the counters always equal the sum over the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from core.events import Event

#: A row: attribute name -> str, int, Decimal or None (None is not stored).
Row = dict[str, Any]
#: Counter contributions: group (for example a status) -> counter name -> amount.
Counters = Mapping[str, Mapping[str, Decimal | int]]

#: Attributes the projector owns in every row.
VERSION = "version"


@dataclass(frozen=True)
class Projection:
    """A projection's declaration; `fold(row, event)` must be pure (no I/O, no clock)."""

    name: str
    table: str
    event_types: frozenset[str]
    fold: Callable[[Row | None, Event], Row]
    key: str = "id"
    counters: Callable[[Row], Counters] | None = None
    counters_name: str | None = None
    counters_table: str | None = None
    indexes: tuple[dict[str, Any], ...] = field(default=())

    def folds(self, event_type: str) -> bool:
        return event_type in self.event_types

    def contribution(self, row: Row | None) -> Counters:
        if row is None or self.counters is None:
            return {}
        return self.counters(row)


def counter_deltas(projection: Projection, old: Row | None, new: Row | None) -> dict[str, dict[str, Decimal]]:
    """What moving a row from `old` to `new` adds to each counter; zero deltas are left out."""
    deltas: dict[str, dict[str, Decimal]] = {}
    for sign, row in ((-1, old), (1, new)):
        for group, values in projection.contribution(row).items():
            bucket = deltas.setdefault(group, {})
            for name, amount in values.items():
                bucket[name] = bucket.get(name, Decimal(0)) + sign * Decimal(amount)
    return {
        group: {name: amount for name, amount in values.items() if amount != 0}
        for group, values in deltas.items()
        if any(amount != 0 for amount in values.values())
    }


def fold_events(projection: Projection, row: Row | None, events: list[Event]) -> Row | None:
    """Fold events (already in number order) into a row; the row's version follows every event, folded or not."""
    for event in events:
        if projection.folds(event.type):
            row = projection.fold(row, event)
        row = {**(row or {}), VERSION: event.number}
    return row
