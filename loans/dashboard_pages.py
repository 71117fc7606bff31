"""The dashboard's pages as HTML strings from plain data (the dicts `loans.dashboard` gathers): no I/O here,
so every page can be rendered and checked from a list of dicts. Every text from data is escaped, attribute
values too, and ids in URLs are percent-encoded. Figures are written by `loans.dashboard_format`: money in
the view's `currency` with separators, rates as percentages, times as `<time>` with the UTC instant on hover."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from html import escape
from typing import Any
from urllib.parse import urlencode

from core.ids import path_segment
from loans.dashboard_format import (
    DEFAULT_CURRENCY,
    LOCAL_TIMES,
    SYMBOLS,
    count,
    duration,
    human_time,
    money,
    percent,
    points,
    time_html,
)
from loans.dashboard_svg import Bar, Units, compact, hbar_chart, line_chart
from loans.loan import CENT, STATUSES, UNRECORDED
from loans.projections import LENT, PERIOD_FIELDS
from loans.views import MONEY

STYLE = """
*{box-sizing:border-box}
body{font:15px/1.4 system-ui,sans-serif;margin:0;padding:12px;color:#1c2430;background:#f5f6f8}
h1{font-size:1.3em;margin:4px 0 12px}h2{font-size:1.05em;margin:0 0 8px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,440px),1fr));gap:12px}
.wide{grid-column:1/-1}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,300px),1fr));gap:8px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,230px),1fr));gap:8px}
.tile{border:1px solid #dde1e6;border-radius:6px;padding:8px;background:#fbfcfd;min-width:0}
.tile-name{color:#556;font-size:.9em}
.tile-value{font-size:1.35em;font-weight:600;font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
.tile-value.long{font-size:1.05em}.tile-value.longer{font-size:.9em}
.tile-change{font-size:.85em;color:#556}.up{color:#1d7a3a}.down{color:#b3261e}
th{white-space:nowrap}td a{font:13px ui-monospace,monospace;word-break:break-all}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px;overflow-x:auto;min-width:0}
table{border-collapse:collapse;width:100%}td,th{padding:3px 6px;border-bottom:1px solid #eceef1;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.total td{font-weight:600;border-top:2px solid #ccd}
.chart{width:100%;height:auto;font-size:13px}.chart rect{fill:#3c72b0}.chart a:hover rect{fill:#23548c}
.chart-title{font-weight:600}.chart .value{fill:#1c2430}.axis{fill:#667}.axis-line{stroke:#99a}
.grid-line{stroke:#e3e6ea}.line{fill:none;stroke:#3c72b0;stroke-width:2}.chart circle{fill:#3c72b0}
a{color:#1f5fa8}.muted{color:#667}.grid+section{margin-top:12px}
.state{display:inline-block;padding:0 6px;border-radius:4px;font-weight:600}
.state-idle{background:#e3f4e8;color:#1d5e31}.state-behind{background:#fff3d6;color:#7a5200}
.state-stuck{background:#fde3e1;color:#8c1d18}.state-never{background:#eceef1;color:#445}
"""

#: The summary's fields in the order a reader wants them, with their labels; fields not named here are shown
#: after these, labelled from their names. `HIDDEN` fields are the read side's bookkeeping.
FIELDS = (("id", "Loan"), ("status", "Status"), ("balance", "Outstanding balance"),
          ("requested_amount", "Principal"), ("interest", "Interest"), ("total_paid", "Repaid so far"),
          ("payments", "Repayments"), ("last_paid", "Last repayment"), ("borrower_name", "Borrower"),
          ("created", "Opened"), ("last_updated", "Last updated"), ("version", "Events"))
HIDDEN = frozenset(("status_shard", *PERIOD_FIELDS))
TIMES = frozenset(("created", "last_updated", "last_paid"))
#: What each event type did, as a reader says it.
DONE = {"LoanApproved": "Approved", "LoanRejected": "Rejected", "LoanDisbursed": "Disbursed",
        "LoanArrears": "Fell into arrears", "LoanSettled": "Settled", "LoanCollections": "Sent to collections"}
#: The meta fields naming who did it, the first present wins.
ACTORS = ("caller", "actor", "user")


def page(title: str, body: str) -> str:
    """A whole document: viewport meta, inline CSS, and the one script allowed (times in the viewer's zone)."""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>{escape(title)}</h1>{body}<script>{LOCAL_TIMES}</script></body></html>")


def loan_href(loan_id: str) -> str:
    return "/dashboard/loans/" + path_segment(loan_id)


def status_href(status: str) -> str:
    return "/dashboard/status/" + path_segment(status)


def link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int] | frozenset[int] = frozenset(),
          empty: str = "none", totals: int = 0) -> str:
    """A table of cells already escaped (a cell may hold a link); `numeric` columns align right; the last
    `totals` rows are set apart as totals."""
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f'<th{" class=n" if i in numeric else ""}>{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join(("<tr class=total>" if index >= len(rows) - totals else "<tr>")
                   + "".join(f'<td{" class=n" if i in numeric else ""}>{cell}</td>' for i, cell in enumerate(row))
                   + "</tr>" for index, row in enumerate(rows))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def money_units(currency: str) -> Units:
    symbol = SYMBOLS.get(currency)
    return Units(lambda value: money(value, currency),
                 lambda value: f"{symbol}{compact(float(value))}" if symbol else f"{compact(float(value))} {currency}")


#: Counts: an axis tick that would fall between two whole numbers is left unlabelled.
COUNT_UNITS = Units(count, lambda value: compact(float(value)) if value == value.to_integral_value() else "")


def _change(kind: str, change: Any, currency: str) -> str:
    if change is None:
        return "n/a"
    text = (money(change, currency, signed=True) if kind == "money" else points(change) if kind == "share"
            else count(change, signed=True))
    tone = " up" if change > 0 else " down" if change < 0 else ""
    return f'<span class="change{tone}">{escape(text)}</span>'


def tiles_section(tiles: Mapping[str, Any], currency: str) -> str:
    """The book's headline figures, each with its change today and this month (UTC), and the pipeline apart."""
    cards = []
    for tile in tiles["book"]:
        kind, value = tile["kind"], tile["value"]
        shown = (money(value, currency) if kind == "money" else count(value) if kind == "count"
                 else "no book" if value is None else percent(value, 1))
        note = ""
        if kind == "share":
            note = (f'<div class="tile-change">{escape(money(tile["detail"], currency))} in '
                    f'{link(tile["href"], "arrears")} and {link(tile["also"], "collections")}</div>')
        slug = tile["name"].lower().replace(" ", "-")
        size = _size(shown)
        cards.append(f'<div class="tile" id="tile-{escape(slug)}"><div class="tile-name">{escape(tile["name"])}'
                     f'</div><div class="tile-value{size}">{escape(shown)}</div>{note}<div class="tile-change">today '
                     f'{_change(kind, tile["day"], currency)} · {escape(tile.get("month_name", "this month"))} '
                     f'{_change(kind, tile["month"], currency)}</div></div>')
    pipeline = tiles["pipeline"]
    cards.append(f'<div class="tile" id="tile-pipeline"><div class="tile-name">Pipeline (applications, not lent)'
                 f'</div><div class="tile-value{_size(money(pipeline["requested"], currency))}">'
                 f'{escape(money(pipeline["requested"], currency))}</div>'
                 f'<div class="tile-change">{escape(count(pipeline["loans"]))} '
                 f'{"application" if pipeline["loans"] == 1 else "applications"} created or approved'
                 f"</div></div>")
    return (f'<section id="tiles" class="wide"><h2>The book</h2><div class="tiles">{"".join(cards)}</div>'
            '<p class="muted">The book is every loan lent (disbursed, repaid, in arrears, settled or in '
            "collections); changes are since 00:00 UTC today and since the 1st of the month.</p></section>")


def _size(figure: str) -> str:
    """A smaller type for a long figure, so it stays on one line in its tile."""
    return " longer" if len(figure) > 20 else " long" if len(figure) > 13 else ""


def portfolio_section(portfolio: Mapping[str, Mapping[str, Any]], currency: str = DEFAULT_CURRENCY) -> str:
    """Loans, principal and outstanding per status (the `portfolio_view` shape), as charts and a table, the
    statuses in the order of a loan's life (`loans.loan.STATUSES`); the book's and the pipeline's totals apart."""
    statuses = [status for status in STATUSES if status in portfolio] + sorted(set(portfolio) - set(STATUSES))
    units = money_units(currency)
    charts = "".join(
        hbar_chart(title, [Bar(status, Decimal(portfolio[status][name]), status_href(status)) for status in statuses],
                   kind)
        for title, name, kind in (("Loans by status (number)", "loans", COUNT_UNITS),
                                  (f"Principal by status ({currency})", "principal", units),
                                  (f"Outstanding by status ({currency})", "outstanding", units)))
    rows = [[link(status_href(status), status), count(portfolio[status]["loans"]),
             escape(money(portfolio[status]["principal"], currency)),
             escape(money(portfolio[status]["outstanding"], currency))] for status in statuses]
    for name, members in (("book (lent)", LENT), ("pipeline (applications)", frozenset(("CREATED", "APPROVED")))):
        held = [portfolio[status] for status in statuses if status in members]
        rows.append([escape(name), count(sum(int(values["loans"]) for values in held)),
                     escape(money(sum((Decimal(values["principal"]) for values in held), Decimal(0)), currency)),
                     escape(money(sum((Decimal(values["outstanding"]) for values in held), Decimal(0)), currency))])
    listing = table(["status", "loans", "principal", "outstanding"], rows, {1, 2, 3}, totals=2)
    return (f'<section id="portfolio" class="wide"><h2>Portfolio by status</h2><div class="charts">{charts}</div>'
            f"{listing}</section>")


def daily_section(daily: Sequence[Mapping[str, Any]] | None, currency: str = DEFAULT_CURRENCY) -> str:
    """Collections and new loans per day (the `daily(days)` shape), or a line saying there are none."""
    if daily is None:
        return ('<section id="daily"><h2>Per day</h2><p class="muted">per-day counters are not '
                'available from this read side</p></section>')
    units = money_units(currency)
    charts = "".join(
        hbar_chart(title, [Bar(_short_day(str(day["day"])), Decimal(day[name]), name=str(day["day"]))
                           for day in daily], kind, row=17)
        for title, name, kind in ((f"Collected per day ({currency})", "collected", units),
                                  ("Repayments per day (number)", "repayments", COUNT_UNITS),
                                  ("New loans per day (number)", "new_loans", COUNT_UNITS),
                                  (f"New principal per day ({currency})", "new_principal", units)))
    return (f'<section id="daily" class="wide"><h2>Last {len(daily)} days (UTC)</h2>'
            f'<div class="charts">{charts}</div></section>')


def _short_day(iso: str) -> str:
    try:
        day = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    return f"{day.day} {day:%b}"


def watch_section(status: str, listing: Mapping[str, Any], more: str | None,
                  currency: str = DEFAULT_CURRENCY) -> str:
    """Loans in one status with their outstanding balance and days since their last payment, paged."""
    rows = [[link(loan_href(loan["id"]), loan["id"]), escape(_money(loan.get("balance"), currency)),
             escape(_days(loan.get("days_since_payment")))] for loan in listing["loans"]]
    listing_html = table(["loan", "outstanding", "days since paid"], rows, {1, 2})
    pager = f"<p>{link(more, 'next page')}</p>" if more else ""
    return (f'<section id="{escape(status.lower())}"><h2>{escape(status)}</h2>'
            f"{listing_html}{pager}</section>")


def recent_section(loans: Sequence[Mapping[str, Any]], currency: str = DEFAULT_CURRENCY) -> str:
    rows = [[link(loan_href(loan["id"]), loan["id"]), link(status_href(str(loan.get("status", ""))),
                                                           str(loan.get("status", ""))),
             escape(_money(loan.get("balance"), currency)), time_html(loan.get("last_updated"))] for loan in loans]
    listing = table(["loan", "status", "balance", "last updated"], rows, {2})
    return f'<section id="recent" class="wide"><h2>Recently updated</h2>{listing}</section>'


def health_section(health: Mapping[str, Any]) -> str:
    """Per projection: its state (idle, behind, stuck) and why, its true lag, events parked, records in the
    failure queue, and its live generation; then the age of the newest projected event."""
    failures, lag = health.get("failures"), health.get("lag_seconds")
    blocks = []
    for item in health.get("projections", ()):
        facts = [["state", _state(item)],
                 ["commit-to-visible lag (last batch)", escape(_lag(item.get("lag")))],
                 ["last made a row visible", escape(duration(item.get("last_projected_seconds"), "never") +
                                                    (" ago" if item.get("last_projected_seconds") is not None
                                                     else ""))],
                 ["events parked (aws-es parked)", escape("no parking table" if item.get("parked") is None
                                                          else count(item["parked"]))],
                 ["records in the failure queue", escape("no queue" if failures is None else count(failures))],
                 ["live generation", escape(str(item["live"]))],
                 ["last rebuilt", time_html(item.get("rebuilt"), "never (initial generation)")],
                 ["rebuilding", escape("no" if item.get("building") is None else f"generation {item['building']}")],
                 ["local runner", escape(_runner(item.get("runner")) if "state" in item else "")]]
        blocks.append(f"<h3>{escape(item['name'])}</h3>" + table(["", ""], facts))
    newest = ("no events projected" if lag is None else duration(lag) + " ago")
    return (f'<section id="health"><h2>Read side</h2>{"".join(blocks)}<p class="muted">newest projected event: '
            f"{escape(newest)}</p></section>")


def _state(item: Mapping[str, Any]) -> str:
    if "state" not in item:
        return ""
    state = str(item["state"])
    return (f'<span class="state state-{escape(state.split()[0])}">{escape(state)}</span> '
            f'{escape(str(item.get("reason", "")))}')


def _lag(lag: Mapping[str, Any] | None) -> str:
    if not lag:
        return "none measured yet"
    return f"p50 {duration(lag['p50'])} · p99 {duration(lag['p99'])} · max {duration(lag['max'])}"


def _runner(runner: Mapping[str, Any] | None) -> str:
    if not runner:
        return "none (on AWS: the event source mapping)"
    return (f"{runner['state']}, heartbeat {duration(runner['age_seconds'])} ago"
            + (f" ({runner['error']})" if runner.get("error") else ""))


def dashboard_page(view: Mapping[str, Any]) -> str:
    """GET /dashboard: `view` holds tiles, portfolio, daily, watch ({status: {loans, more}}), recent, health, now
    and the currency, and with the risk view, risk and lists (`loans.dashboard_risk.risk_view`)."""
    currency = view.get("currency", DEFAULT_CURRENCY)
    watch = "".join(watch_section(status, listing, listing.get("more"), currency)
                    for status, listing in view["watch"].items())
    if "risk" in view:
        from loans.dashboard_risk import risk_sections

        watch += risk_sections(view)
    tiles = tiles_section(view["tiles"], currency) if view.get("tiles") else ""
    body = (f'<p class="muted">as of {time_html(str(view["now"]))}; amounts in {escape(currency)}</p>'
            f'<div class="grid">{tiles}{portfolio_section(view["portfolio"], currency)}{watch}'
            f'{daily_section(view.get("daily"), currency)}{recent_section(view["recent"], currency)}'
            f'{health_section(view["health"])}</div>')
    return page("Loan portfolio", body)


def status_page(view: Mapping[str, Any]) -> str:
    """GET /dashboard/status/{status}: one page of its loans, most recently updated first, and the next."""
    currency = view.get("currency", DEFAULT_CURRENCY)
    rows = [[link(loan_href(loan["id"]), loan["id"]), escape(_money(loan.get("balance"), currency)),
             escape(_money(loan.get("requested_amount"), currency)), time_html(loan.get("last_updated"))]
            for loan in view["loans"]]
    listing = table(["loan", "outstanding", "principal", "last updated"], rows, {1, 2}, empty="no loans")
    pager = f"<p>{link(view['more'], 'next page')}</p>" if view.get("more") else ""
    body = (f'<p>{link("/dashboard", "back to the dashboard")}</p>'
            f'<section id="loans"><h2>Most recently updated first</h2>{listing}{pager}</section>')
    return page(f"Loans in {view['status']}", body)


def summary_rows(summary: Mapping[str, Any], currency: str) -> list[list[str]]:
    """The summary's fields as `[label, value]` cells (escaped HTML), in `FIELDS` order, then any others."""
    named = dict(FIELDS)
    order = [name for name, _ in FIELDS if name in summary] + sorted(set(summary) - set(named) - HIDDEN)
    rows = []
    for name in order:
        value = summary[name]
        if name in MONEY:
            shown = escape(_money(value, currency))
        elif name == "interest":
            shown = escape(percent(value))
        elif name in TIMES:
            shown = time_html(str(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            shown = escape(count(value))
        else:
            shown = escape(str(value))
        rows.append([escape(named.get(name, name.replace("_", " ").capitalize())), shown])
    return rows


def event_story(event_type: str, data: Mapping[str, Any], currency: str) -> str:
    """What an event did, as a reader says it: `Paid $120.00 by card` (plain text)."""
    if event_type == "LoanCreated":
        return (f"Opened: {money(data['requested_amount'], currency)} requested at "
                f"{percent(data['interest'])} interest")
    if event_type == "LoanPaid":
        channel = data.get("channel")
        by = f" by {str(channel).replace('-', ' ')}" if channel and channel != UNRECORDED else ""
        return f"Paid {money(data['amount'], currency)}{by}"
    return DONE.get(event_type, event_type)


def balance_series(summary: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, Decimal]]:
    """The balance after each event of the page, oldest first, as `(time, hover name, balance)`: folded forward
    from the loan's creation when the page holds it, else reckoned back from the summary's balance when the
    summary stands at the page's newest event; empty when neither holds (a middle page of a long history)."""
    ordered = list(reversed(events))
    if not ordered:
        return []
    balances: list[Decimal] = []
    if ordered[0]["number"] == 1:
        balance, owed = Decimal("0.00"), Decimal("0.00")
        for event in ordered:
            data = json.loads(event["data"])
            if event["type"] == "LoanCreated":
                owed = (Decimal(data["requested_amount"]) * (1 + Decimal(data["interest"]))).quantize(
                    CENT, ROUND_HALF_UP)
            elif event["type"] == "LoanDisbursed":
                balance = owed
            elif event["type"] == "LoanPaid":
                balance -= Decimal(data["amount"])
            balances.append(balance)
    elif summary.get("version") == ordered[-1]["number"] and "balance" in summary:
        balance = Decimal(summary["balance"])
        for event in reversed(ordered):
            balances.append(balance)
            if event["type"] == "LoanPaid":
                balance += Decimal(json.loads(event["data"])["amount"])
            elif event["type"] == "LoanDisbursed":
                balance = Decimal("0.00")
        balances.reverse()
    else:
        return []
    return [(_event_time(event), f"#{event['number']} {event['type']}", balance)
            for event, balance in zip(ordered, balances, strict=True)]


def _event_time(event: Mapping[str, Any]) -> str:
    try:
        return human_time(datetime.fromisoformat(str(event["created"])))
    except ValueError:
        return str(event["created"])


def timeline_rows(events: Sequence[Mapping[str, Any]], currency: str) -> list[list[str]]:
    """One row per event: number, when, what it did, its type, who did it and the rest of its metadata."""
    rows = []
    for event in events:
        data = json.loads(event["data"])
        meta = json.loads(event["meta"]) if event.get("meta") else {}
        meta = meta if isinstance(meta, dict) else {"meta": meta}
        who = next((str(meta[name]) for name in ACTORS if meta.get(name)), "")
        details = "; ".join(f"{name}: {value if isinstance(value, str) else json.dumps(value)}"
                            for name, value in sorted(meta.items()) if name not in ACTORS)
        rows.append([count(event["number"]), time_html(str(event["created"])),
                     escape(event_story(event["type"], data, currency)), escape(event["type"]), escape(who),
                     escape(details)])
    return rows


def loan_page(view: Mapping[str, Any]) -> str:
    """GET /dashboard/loans/{id}: the summary, the balance over the page's events, and the page of events as a
    timeline, newest first."""
    summary, currency = view["summary"], view.get("currency", DEFAULT_CURRENCY)
    facts = table(["", ""], summary_rows(summary, currency))
    series = balance_series(summary, view["events"])
    chart = (line_chart(f"Balance over these {len(series)} events ({currency})", series, money_units(currency))
             if series else '<p class="muted">the balance is drawn on the newest and the oldest page of events</p>')
    history = table(["#", "when", "what", "event", "who", "details"], timeline_rows(view["events"], currency), {0},
                    empty="no events")
    before = view.get("before")
    pager = (f"<p>{link(loan_href(summary['id']) + '?' + urlencode({'before': before}), 'older events')}</p>"
             if before else "")
    body = (f'<p>{link("/dashboard", "back to the dashboard")}</p><div class="grid">'
            f'<section id="summary"><h2>Summary</h2>{facts}</section>'
            f'<section id="balance"><h2>Balance</h2>{chart}</section></div>'
            f'<section id="events"><h2>Event history</h2>{history}{pager}</section>')
    return page(f"Loan {summary['id']}", body)


def _money(value: Any, currency: str) -> str:
    if value is None or value == "":
        return ""
    try:
        return money(value, currency)
    except ArithmeticError:
        return str(value)


def _days(days: Any) -> str:
    return "never paid" if days is None else str(days)
