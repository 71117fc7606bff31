"""How the command line shows an aggregate's state, a projection's row or its counters: the module's own view
when it declares one (`VIEWS = {name: view}`: an aggregate, projection or counters name), else every value
JSON-ready by one rule.

The rule for numbers: a number is an amount, printed with at least its cents as a plain decimal string
(`"120.00"`, `"0.05"`, `"0.125"`, never `"1.2E+2"`), unless it counts something. DynamoDB gives numbers back
without their trailing zeros (`240.00` reads back as `240`), so the stored value cannot say which it is: a
projection names its counting fields and counters in `Projection.counts` (its `version` always counts), and
those print as whole numbers. In an aggregate's state a Python `int` counts and a `Decimal` is an amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.errors import EventSourcingError
from handlers.registry import Registry
from projections.definition import VERSION, Projection


class UsageError(EventSourcingError):
    """A command line that names something wrongly or leaves out what it needs: exit 2, as argparse does."""


def amount(value: Decimal) -> str:
    """`Decimal("120")` -> `"120.00"`, `Decimal("5E-2")` -> `"0.05"`: at least the cents, every digit it has,
    never an exponent (formatted, not quantized, so no digits are lost at any magnitude)."""
    text = format(value, "f")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"


def shown(value: Any, counts: bool = False) -> Any:
    """A value as the command line prints it: a count as an int, any other number as an `amount`."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        return value
    if isinstance(value, int) or not value.is_finite():
        return value if isinstance(value, int) else str(value)
    if counts:
        return int(value) if value == value.to_integral_value() else format(value, "f")
    return amount(value)


def state_view(registry: Registry, kind: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """An aggregate's state (`Aggregate.state()`): its module's view, or every value `shown`."""
    view = registry.views.get(kind)
    if view is not None:
        return dict(view(state))
    return {name: value.isoformat() if isinstance(value, datetime) else shown(value) for name, value in state.items()}


def row_view(registry: Registry, declared: Projection, key: str, row: dict[str, Any]) -> dict[str, Any]:
    view = registry.views.get(declared.name)
    if view is not None:
        return dict(view(key, row))
    counted = declared.counts | {VERSION}
    return {"key": key, **{field: shown(value, field in counted) for field, value in sorted(row.items())}}


def counters_view(registry: Registry, name: str, declared: Projection,
                  counters: dict[str, dict[str, Decimal]]) -> dict[str, Any]:
    """Counters by group (the groups with a counter that is not zero); `name` is the counters' own name."""
    view = registry.views.get(name)
    if view is not None:
        return dict(view(counters))
    return {group: {field: shown(value, field in declared.counts) for field, value in sorted(values.items())}
            for group, values in sorted(counters.items()) if any(values.values())}


def print_view(counters: bool, report: dict[str, Any]) -> None:
    """A row as `name value` lines; counters as a table, one line per group."""
    if not counters:
        for name, value in report.items():
            print(f"  {name:<17} {value}")
        return
    columns = list(dict.fromkeys(field for values in report.values() for field in values))
    print(f"{'group':<12}" + "".join(f" {column:>14}" for column in columns))
    for group, values in report.items():
        print(f"{group:<12}" + "".join(f" {values.get(column, 0)!s:>14}" for column in columns))
