"""The loan query tables as JSON-ready dicts (amounts as decimal strings), for the CLI and the queries API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from loans.loan import CENT

MONEY = ("requested_amount", "balance", "total_paid")


def loan_view(loan_id: str, row: dict[str, Any]) -> dict[str, Any]:
    view = {"id": loan_id}
    for name, value in sorted(row.items()):
        view[name] = money(value) if name in MONEY else plain(value)
    return view


def portfolio_view(counters: dict[str, dict[str, Decimal]]) -> dict[str, Any]:
    return {status: {"loans": int(values.get("loans", 0)), "principal": money(values.get("principal", 0)),
                     "outstanding": money(values.get("outstanding", 0))}
            for status, values in sorted(counters.items()) if any(values.values())}


def money(value: Any) -> str:
    return str(Decimal(value).quantize(CENT))


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value) if value != value.to_integral_value() else int(value)
    return value
