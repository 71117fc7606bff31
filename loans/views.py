"""Loans as JSON-ready dicts (amounts as plain decimal strings with their cents), for the CLI and the APIs.

The borrower's name is sealed wherever it is stored (the events, the snapshots, the summary rows); every view a
reader sees opens it with a `Reveal` (`revealing(sealer)`): the name while its key exists, `<forgotten>` after."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.personal import Sealer, reveal_fields
from loans.loan import CENT, STATUSES, Loan
from loans.projections import PERIOD_FIELDS

MONEY = ("requested_amount", "balance", "total_paid", "principal", "outstanding")

#: A row's, a state's or an event payload's personal fields opened (`revealing`).
Reveal = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def revealing(sealer: Sealer) -> Reveal:
    """Opens the loan's personal fields with `sealer`'s keys (`core.personal.reveal_fields`)."""
    return functools.partial(reveal_fields, sealer, Loan.personal)


def without_personal(values: Mapping[str, Any]) -> dict[str, Any]:
    """A `Reveal` for views that never show a personal field (the dashboard's lists): it leaves them out, at no
    key's cost (opening costs a key read per borrower)."""
    return {name: value for name, value in values.items()
            if not any(name in fields for fields in Loan.personal.values())}


def loan_view(loan_id: str, row: Mapping[str, Any], reveal: Reveal) -> dict[str, Any]:
    """A summary row, its personal fields opened by `reveal`, without the fields the read side keeps for the book's
    changes (`PERIOD_FIELDS`)."""
    view = {"id": loan_id}
    for name, value in sorted(reveal(row).items()):
        if name not in PERIOD_FIELDS:
            view[name] = money(value) if name in MONEY else plain(value)
    return view


def state_view(state: Mapping[str, Any]) -> dict[str, Any]:
    """An aggregate's folded state (`Loan.state()`): amounts with their cents, other decimals as plain
    strings (`"0.05"`), times as ISO-8601."""
    view: dict[str, Any] = {}
    for name, value in state.items():
        if name in MONEY and value is not None:
            view[name] = money(value)
        elif isinstance(value, Decimal):
            view[name] = format(value, "f")
        elif isinstance(value, datetime):
            view[name] = value.isoformat()
        else:
            view[name] = value
    return view


def portfolio_view(counters: dict[str, dict[str, Decimal]]) -> dict[str, Any]:
    """Loans, principal and outstanding per status (the counters' other groups, the book's days and months,
    are the dashboard's: `loans.dashboard_tiles`)."""
    return {status: {"loans": int(values.get("loans", 0)), "principal": money(values.get("principal", 0)),
                     "outstanding": money(values.get("outstanding", 0))}
            for status, values in sorted(counters.items()) if status in STATUSES and any(values.values())}


def money(value: Any) -> str:
    """`Decimal("1E+2")` -> `"100.00"`: never an exponent, always the cents."""
    return format(Decimal(value).quantize(CENT), "f")


def plain(value: Any) -> Any:
    """A whole Decimal as an int, any other as a plain decimal string (`"0.05"`, never `"5E-2"`)."""
    if isinstance(value, Decimal):
        return format(value, "f") if value != value.to_integral_value() else int(value)
    return value
