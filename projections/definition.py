"""Declaring a projection: a name, the event types it folds, its key, a pure fold and optional counters.

A projection keeps one row per aggregate (keyed by the aggregate id) and the number of the last event folded
into it (`version`). Counters are declared as what one row contributes (for example one loan, its principal
and its balance under its status); the projector moves them by the difference between a row's old and new
contribution in the same transaction as the row, so the counters always equal the sum over the rows.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from core.errors import CodecError, UpcastError
from core.events import Event, RecordedEvent
from core.upcasting import Upcasting, stored_decoder
from projections.errors import UnfoldableEventError

if TYPE_CHECKING:
    from core.aggregate import Aggregate

#: A row: attribute name -> str, int, Decimal or None (None is not stored).
Row = dict[str, Any]
#: Counter contributions: group (for example a status) -> counter name -> amount.
Counters = Mapping[str, Mapping[str, Decimal | int]]

#: Attributes the projector owns in every row.
VERSION = "version"


@dataclass(frozen=True)
class Projection:
    """A projection's declaration; `fold(row, event)` must be pure (no I/O, no clock).

    `event_types` are the types it folds. Another type is skipped, unless the projection is `strict`: then
    only `ignored_types` (types it knows and leaves out) are skipped, and any other type is an error, since
    an event the projection does not know may change what it shows (tests/unit/test_projector_unfoldable.py).

    `event_counters(event)` declares what each event adds to counters of its own (per group, for example the
    event's day), moved in the same guarded write as the row, so each event counts once; they live in
    `event_counters_table` and are named `event_counters_name` on the command line.

    `counts` names the row fields and counters (of either kind) that count things, such as a number of
    payments; every other number is an amount, printed with its cents (`handlers/views.py` says why the
    stored value cannot tell). The row's `version` always counts.

    `aggregate` and `compare` let `rebuild --verify` compare each row with the write side's own state: the
    aggregate folded from the log by its own handlers, and `compare(row, aggregate)`, the differences (each
    naming a field) on what both hold.
    """

    name: str
    table: str
    event_types: frozenset[str]
    fold: Callable[[Row | None, Event], Row]
    key: str = "id"
    counters: Callable[[Row], Counters] | None = None
    counters_name: str | None = None
    counters_table: str | None = None
    indexes: tuple[dict[str, Any], ...] = field(default=())
    strict: bool = False
    ignored_types: frozenset[str] = frozenset()
    aggregate: type[Aggregate] | None = None
    #: `compare(row, aggregate)`: the aggregate is an instance of `aggregate`
    compare: Callable[[Row, Any], list[str]] | None = None
    event_counters: Callable[[Event], Counters] | None = None
    event_counters_name: str | None = None
    event_counters_table: str | None = None
    counts: frozenset[str] = frozenset()
    #: How stored events of older schemas are read (`core.upcasting`); None: the `aggregate`'s, if any.
    upcasting: Upcasting | None = None

    def decoder(self) -> Callable[[RecordedEvent], Event]:
        """The decoder of stored events this projection folds: today's shapes, as the write side reads them."""
        upcasting = self.upcasting
        if upcasting is None and self.aggregate is not None:
            upcasting = self.aggregate.upcasting
        return stored_decoder(upcasting)

    def handles(self, event_type: str) -> bool:
        return event_type in self.event_types

    def knows(self, event_type: str) -> bool:
        return not self.strict or event_type in self.event_types or event_type in self.ignored_types

    def contribution(self, row: Row | None) -> Counters:
        if row is None or self.counters is None:
            return {}
        return self.counters(row)


def add_counts(totals: dict[str, dict[str, Decimal]], moves: Counters, sign: int = 1) -> dict[str, dict[str, Decimal]]:
    """`totals` plus `moves` (times `sign`), in place; returned for chaining."""
    for group, values in moves.items():
        bucket = totals.setdefault(group, {})
        for name, amount in values.items():
            bucket[name] = bucket.get(name, Decimal(0)) + sign * Decimal(amount)
    return totals


def nonzero(counts: dict[str, dict[str, Decimal]]) -> dict[str, dict[str, Decimal]]:
    """The counts without zero amounts, and without groups left empty."""
    kept = {group: {name: amount for name, amount in values.items() if amount != 0} for group, values in counts.items()}
    return {group: values for group, values in kept.items() if values}


def counter_deltas(projection: Projection, old: Row | None, new: Row | None) -> dict[str, dict[str, Decimal]]:
    """What moving a row from `old` to `new` adds to each counter; zero deltas are left out."""
    deltas: dict[str, dict[str, Decimal]] = {}
    for sign, row in ((-1, old), (1, new)):
        add_counts(deltas, projection.contribution(row), sign)
    return nonzero(deltas)


def counter_totals(projection: Projection, rows: Iterable[Row]) -> dict[str, dict[str, Decimal]]:
    """The counters `rows` add up to: what the counter table must hold for exactly these rows."""
    totals: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        add_counts(totals, projection.contribution(row))
    return totals


def project_records(projection: Projection, aggregate_id: str, row: Row | None,
                 records: Iterable[RecordedEvent], tally: dict[str, dict[str, Decimal]] | None = None) -> Row | None:
    """Decode and fold stored events (in number order) into a row; the row's version follows every event,
    folded or skipped. An event that cannot be folded raises `UnfoldableEventError` naming it. With `tally`,
    what each event adds to the projection's event counters is added into it."""
    decode = projection.decoder()
    for record in records:
        try:
            event = decode(record)
        except (CodecError, UpcastError) as exc:
            raise UnfoldableEventError(projection.name, aggregate_id, record.number, record.type, str(exc)) from exc
        if tally is not None and projection.event_counters is not None:
            _count_event(projection, projection.event_counters, aggregate_id, record, event, tally)
        if projection.handles(event.type):
            try:
                row = projection.fold(row, event)
            except Exception as exc:  # a pure fold fails only because of the event it was given: name that event
                reason = f"the fold raised {type(exc).__name__}: {exc}"
                raise UnfoldableEventError(projection.name, aggregate_id, record.number, record.type, reason) from exc
        elif not projection.knows(event.type):
            raise UnfoldableEventError(projection.name, aggregate_id, record.number, record.type,
                                       _unknown_type(projection, event.type))
        row = {**(row or {}), VERSION: record.number}
    return row


def _count_event(projection: Projection, count: Callable[[Event], Counters], aggregate_id: str,
                 record: RecordedEvent, event: Event, tally: dict[str, dict[str, Decimal]]) -> None:
    try:
        add_counts(tally, count(event))
    except Exception as exc:  # a pure count fails only because of the event it was given: name that event
        reason = f"its event counters raised {type(exc).__name__}: {exc}"
        raise UnfoldableEventError(projection.name, aggregate_id, record.number, record.type, reason) from exc


def _unknown_type(projection: Projection, event_type: str) -> str:
    known = sorted(projection.event_types | projection.ignored_types)
    spelled = {name.lower(): name for name in known}
    closest = difflib.get_close_matches(event_type.replace("_", "").lower(), list(spelled), n=1)
    hint = f"; did you mean {spelled[closest[0]]}?" if closest else ""
    return f"its type is not one this projection knows ({', '.join(known)}){hint}"
