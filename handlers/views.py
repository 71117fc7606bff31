"""How the command line shows a projection's row or counters: the module's own view when it declares one
(`VIEWS = {name: view}`: an aggregate, projection or counters name), else every attribute as JSON-ready
plain values (decimals as plain strings, never an exponent).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from core.errors import EventSourcingError
from handlers.registry import Registry


class UsageError(EventSourcingError):
    """A command line that names something wrongly or leaves out what it needs: exit 2, as argparse does."""


def plain(value: Any) -> Any:
    """A whole Decimal as an int, any other as a plain decimal string (`"0.05"`, never `"5E-2"`)."""
    if isinstance(value, Decimal):
        return format(value, "f") if value != value.to_integral_value() else int(value)
    return value


def row_view(registry: Registry, name: str, key: str, row: dict[str, Any]) -> dict[str, Any]:
    view = registry.views.get(name)
    if view is not None:
        return dict(view(key, row))
    return {"key": key, **{field: plain(value) for field, value in sorted(row.items())}}


def counters_view(registry: Registry, name: str, counters: dict[str, dict[str, Decimal]]) -> dict[str, Any]:
    view = registry.views.get(name)
    if view is not None:
        return dict(view(counters))
    return {group: {field: plain(value) for field, value in sorted(values.items())}
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
