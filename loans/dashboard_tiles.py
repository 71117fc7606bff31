"""The dashboard's headline figures, from the portfolio counters (`loans.projections`): the book (lent loans)
apart from the pipeline (applications), each book figure with its change over the UTC day and month.

The book's figures now are sums over the statuses' counters; how they moved is `day#D` minus `day-start#D`
(and `month#M` minus `month-start#M`), the counters `portfolio_share` keeps for the rows touched in that period.
Collected money comes from the `daily` event counters of the day and of the month.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from loans.loan import APPROVED, ARREARS, COLLECTIONS, CREATED
from loans.projections import ACTIVE, BEHIND, LENT

Totals = Mapping[str, Mapping[str, Decimal]]
#: The book's figures each period group holds (`loans.projections.book_figures`).
FIGURES = ("outstanding", "principal", "active", "behind", "behind_outstanding")
#: Applications not yet decided or lent: the pipeline (REJECTED is in neither the book nor the pipeline).
PIPELINE = (CREATED, APPROVED)


def period_groups(today: date) -> list[str]:
    """The counter groups holding how the book moved today and this month."""
    day, month = today.isoformat(), today.isoformat()[:7]
    return [f"day#{day}", f"day-start#{day}", f"month#{month}", f"month-start#{month}"]


def month_keys(today: date) -> list[str]:
    """This month and the one before it, as `daily` event counter groups (`YYYY-MM`)."""
    previous = date(today.year - 1, 12, 1) if today.month == 1 else date(today.year, today.month - 1, 1)
    return [today.isoformat()[:7], previous.isoformat()[:7]]


def book_now(totals: Totals) -> dict[str, Decimal]:
    """The book's figures summed over the statuses' counters."""
    def total(statuses: frozenset[str], name: str) -> Decimal:
        return sum((Decimal(totals.get(status, {}).get(name, 0)) for status in statuses), Decimal(0))

    return {"outstanding": total(LENT, "outstanding"), "principal": total(LENT, "principal"),
            "active": total(ACTIVE, "loans"), "behind": total(BEHIND, "loans"),
            "behind_outstanding": total(BEHIND, "outstanding")}


def moved(totals: Totals, group: str) -> dict[str, Decimal]:
    """How much each book figure moved in the period `group` names (`day#D` or `month#M`)."""
    kind, key = group.split("#", 1)
    after, before = totals.get(group, {}), totals.get(f"{kind}-start#{key}", {})
    return {name: Decimal(after.get(name, 0)) - Decimal(before.get(name, 0)) for name in FIGURES}


def share(behind: Decimal, outstanding: Decimal) -> Decimal | None:
    return behind / outstanding if outstanding > 0 else None


def tiles_view(totals: Totals, today: date, collected: Mapping[str, Decimal]) -> dict[str, Any]:
    """`{"book": [tile...], "pipeline": {...}}`; a tile is `{"name", "kind" (money, count, share), "value",
    "day", "month"}` (changes; None when there is nothing to compare), plus `"href"` where its loans are listed.
    `collected` holds the `daily` counters' `collected` for today's date and the months of `month_keys`."""
    now = book_now(totals)
    groups = period_groups(today)
    day, month = moved(totals, groups[0]), moved(totals, groups[2])
    tiles = [{"name": "Outstanding book", "kind": "money", "value": now["outstanding"],
              "day": day["outstanding"], "month": month["outstanding"]},
             {"name": "Disbursed principal", "kind": "money", "value": now["principal"],
              "day": day["principal"], "month": month["principal"]},
             {"name": "Active loans", "kind": "count", "value": now["active"], "day": day["active"],
              "month": month["active"]}]
    current = share(now["behind_outstanding"], now["outstanding"])
    changes = {}
    for period, change in (("day", day), ("month", month)):
        before = share(now["behind_outstanding"] - change["behind_outstanding"],
                       now["outstanding"] - change["outstanding"])
        changes[period] = None if current is None or before is None else current - before
    tiles.append({"name": "Arrears share", "kind": "share", "value": current, "detail": now["behind_outstanding"],
                  "loans": now["behind"], "href": f"/dashboard/status/{ARREARS}", "also": f"/dashboard/status/"
                  f"{COLLECTIONS}", **changes})
    this_month, last_month = month_keys(today)
    collected_month = collected.get(this_month, Decimal(0))
    tiles.append({"name": "Collected this month", "kind": "money", "value": collected_month,
                  "day": collected.get(today.isoformat(), Decimal(0)),
                  "month": collected_month - collected.get(last_month, Decimal(0)), "month_name": "vs last month"})
    pipeline = {"loans": sum((int(totals.get(status, {}).get("loans", 0)) for status in PIPELINE), 0),
                "requested": sum((Decimal(totals.get(status, {}).get("principal", 0)) for status in PIPELINE),
                                 Decimal(0))}
    return {"book": tiles, "pipeline": pipeline}
