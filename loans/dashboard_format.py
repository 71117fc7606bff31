"""How the dashboard writes figures and times: money in one currency (the `CURRENCY` setting) with thousands
separators and cents, counts with separators, rates as percentages, times as "2 Dec 2026, 10:15 UTC" in a
`<time>` element that carries the exact UTC instant (a browser with scripts shows it in the viewer's zone).
Every function returns escaped HTML or plain text as its docstring says."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from decimal import Decimal
from html import escape
from typing import Any

#: Currencies written with a symbol; any other ISO 4217 code is written before the figure ("CHF 12.00").
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}
#: The currency when none is set (`handlers.settings.Settings.currency` is the one setting).
DEFAULT_CURRENCY = "USD"


def money(value: Any, currency: str = DEFAULT_CURRENCY, signed: bool = False) -> str:
    """`1234567.5` -> `$1,234,567.50` (plain text); `signed` writes a + before a positive change."""
    amount = Decimal(value)
    sign = "-" if amount < 0 else "+" if signed and amount > 0 else ""
    symbol = SYMBOLS.get(currency)
    figure = f"{abs(amount):,.2f}"
    return f"{sign}{symbol}{figure}" if symbol else f"{sign}{currency} {figure}"


def count(value: Any, signed: bool = False) -> str:
    """`12345` -> `12,345` (plain text)."""
    number = int(value)
    return f"{number:+,}" if signed and number else f"{number:,}"


def percent(rate: Any, places: int | None = None, signed: bool = False) -> str:
    """A rate as a percentage: `0.05` -> `5%`, `0.123456` -> `12.3456%`; with `places`, rounded to them."""
    value = Decimal(rate) * 100
    text = (format(value.normalize(), "f") if value else "0") if places is None else f"{value:,.{places}f}"
    sign = "+" if signed and value > 0 else ""
    return f"{sign}{text}%"


def points(change: Decimal, signed: bool = True) -> str:
    """A change of a share in percentage points: `0.0125` -> `+1.3 pt`."""
    value = change * 100
    return f"{value:+,.1f} pt" if signed else f"{value:,.1f} pt"


def human_time(moment: datetime) -> str:
    """`2 Dec 2026, 10:15 UTC` (plain text)."""
    utc = moment.astimezone(UTC)
    return f"{utc.day} {utc:%b %Y, %H:%M} UTC"


def time_html(iso: str | None, empty: str = "") -> str:
    """`<time>` holding the human UTC time; its `datetime` and title hold the exact ISO instant (escaped HTML).
    Text that is not an ISO time is shown as it is."""
    if not iso:
        return escape(empty)
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return escape(iso)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    exact = moment.astimezone(UTC).isoformat()
    return f'<time datetime="{escape(exact)}" title="{escape(exact)}">{escape(human_time(moment))}</time>'


def duration(seconds: float | None, empty: str = "") -> str:
    """`0.42` -> `0.4 s`, `125` -> `2 min 5 s`, `7300` -> `2 h 1 min` (plain text)."""
    if seconds is None:
        return empty
    if seconds < 60:
        return f"{seconds:,.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400:,} d {whole % 86400 // 3600} h"


#: Shows every `<time>` in the viewer's own zone; the page reads the same without it (UTC). Allowed by its
#: hash in the Content-Security-Policy (`SCRIPT_HASH`), so no other script can run.
LOCAL_TIMES = ('for(const t of document.querySelectorAll("time[datetime]")){const d=new Date(t.dateTime);'
               'if(!isNaN(d))t.textContent=d.toLocaleString(undefined,{day:"numeric",month:"short",'
               'year:"numeric",hour:"2-digit",minute:"2-digit"})}')


def script_hash(source: str) -> str:
    """The CSP source expression allowing exactly this inline script."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


SCRIPT_HASH = script_hash(LOCAL_TIMES)
