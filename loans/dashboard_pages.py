"""The dashboard's pages as HTML strings from plain data (the dicts `loans.dashboard` gathers): no I/O here,
so every page can be rendered and checked from a list of dicts. Every text from data is escaped, attribute
values too, and ids in URLs are percent-encoded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import urlencode

from core.ids import path_segment
from loans.dashboard_svg import day_chart, hbar_chart
from loans.loan import STATUSES

STYLE = """
body{font:15px/1.4 system-ui,sans-serif;margin:0;padding:12px;color:#1c2430;background:#f5f6f8}
h1{font-size:1.3em;margin:4px 0 12px}h2{font-size:1.05em;margin:0 0 8px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,440px),1fr));gap:12px}
.wide{grid-column:1/-1}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,300px),1fr));gap:8px}
th{white-space:nowrap}td a{font:13px ui-monospace,monospace;word-break:break-all}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:10px;overflow-x:auto}
table{border-collapse:collapse;width:100%}td,th{padding:3px 6px;border-bottom:1px solid #eceef1;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.chart{width:100%;height:auto;font-size:13px}.chart rect{fill:#3c72b0}.chart-title{font-weight:600}
.axis{fill:#667}a{color:#1f5fa8}.muted{color:#667}pre{white-space:pre-wrap;word-break:break-all;margin:0}
"""


def page(title: str, body: str) -> str:
    """A whole document: viewport meta and inline CSS, nothing fetched from elsewhere."""
    return ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
            f"<body><h1>{escape(title)}</h1>{body}</body></html>")


def loan_href(loan_id: str) -> str:
    return "/dashboard/loans/" + path_segment(loan_id)


def link(href: str, text: str) -> str:
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: set[int] | frozenset[int] = frozenset(),
          empty: str = "none") -> str:
    """A table of cells already escaped (a cell may hold a link); `numeric` columns align right."""
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f'<th{" class=n" if i in numeric else ""}>{escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=n" if i in numeric else ""}>{cell}</td>'
                                    for i, cell in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def portfolio_section(portfolio: Mapping[str, Mapping[str, Any]]) -> str:
    """Loans, principal and outstanding per status (the `portfolio_view` shape), as charts and a table, the
    statuses in the order of a loan's life (`loans.loan.STATUSES`)."""
    statuses = [status for status in STATUSES if status in portfolio] + sorted(set(portfolio) - set(STATUSES))
    charts = "".join(hbar_chart(title, [(status, Decimal(portfolio[status][name])) for status in statuses], money)
                     for title, name, money in (("Loans", "loans", False), ("Principal", "principal", True),
                                                ("Outstanding", "outstanding", True)))
    totals = {name: sum((Decimal(values[name]) for values in portfolio.values()), Decimal(0))
              for name in ("loans", "principal", "outstanding")}
    rows = [[escape(status), str(portfolio[status]["loans"]), escape(str(portfolio[status]["principal"])),
             escape(str(portfolio[status]["outstanding"]))] for status in statuses]
    rows.append(["<b>total</b>", f"<b>{totals['loans']}</b>", f"<b>{totals['principal']:.2f}</b>",
                 f"<b>{totals['outstanding']:.2f}</b>"])
    listing = table(["status", "loans", "principal", "outstanding"], rows, {1, 2, 3})
    return (f'<section id="portfolio" class="wide"><h2>Portfolio by status</h2><div class="charts">{charts}</div>'
            f"{listing}</section>")


def daily_section(daily: Sequence[Mapping[str, Any]] | None) -> str:
    """Collections and new loans per day (the `daily(days)` shape), or a line saying there are none."""
    if daily is None:
        return ('<section id="daily"><h2>Per day</h2><p class="muted">per-day counters are not '
                'available from this read side</p></section>')
    charts = "".join(day_chart(title, [(str(day["day"]), Decimal(day[name])) for day in daily], money)
                     for title, name, money in (("Collected per day", "collected", True),
                                                ("Repayments per day", "repayments", False),
                                                ("New loans per day", "new_loans", False),
                                                ("New principal per day", "new_principal", True)))
    return (f'<section id="daily" class="wide"><h2>Last {len(daily)} days</h2>'
            f'<div class="charts">{charts}</div></section>')


def watch_section(status: str, listing: Mapping[str, Any], more: str | None) -> str:
    """Loans in one status with their outstanding balance and days since their last payment, paged."""
    rows = [[link(loan_href(loan["id"]), loan["id"]), escape(str(loan.get("balance", ""))),
             escape(_days(loan.get("days_since_payment")))] for loan in listing["loans"]]
    listing_html = table(["loan", "outstanding", "days since paid"], rows, {1, 2})
    pager = f"<p>{link(more, 'next page')}</p>" if more else ""
    return (f'<section id="{escape(status.lower())}"><h2>{escape(status)}</h2>'
            f"{listing_html}{pager}</section>")


def recent_section(loans: Sequence[Mapping[str, Any]]) -> str:
    rows = [[link(loan_href(loan["id"]), loan["id"]), escape(str(loan.get("status", ""))),
             escape(str(loan.get("balance", ""))), escape(str(loan.get("last_updated", "")))] for loan in loans]
    listing = table(["loan", "status", "balance", "last updated"], rows, {2})
    return f'<section id="recent" class="wide"><h2>Recently updated</h2>{listing}</section>'


def health_section(health: Mapping[str, Any]) -> str:
    """Projection lag, records in the failure queue, events parked, and each projection's live generation."""
    lag = health.get("lag_seconds")
    failures = health.get("failures")
    parked = health.get("parked")
    facts = [["age of the newest projected event (not the lag: see each projection's state)",
              "no events projected" if lag is None else f"{lag:,.1f} s"],
             ["records in the failure queue", "no queue" if failures is None else f"{failures:,}"],
             ["events parked (aws-es parked)", "no parking table" if parked is None else f"{parked:,}"]]
    summary = table(["", ""], [[escape(a), escape(b)] for a, b in facts], {1})
    rows = [[escape(item["name"]), str(item["live"]), escape(item.get("rebuilt") or "never (initial generation)"),
             escape(str(item.get("building")) if item.get("building") is not None else ""), *lag_cells(item)]
            for item in health.get("projections", ())]
    listing = table(["projection", "live generation", "last rebuilt", "rebuilding", "state", "commit-to-visible lag",
                     "local runner"], rows, {1})
    return f'<section id="health"><h2>Read side</h2>{summary}{listing}</section>'


def lag_cells(item: Mapping[str, Any]) -> list[str]:
    """A projection's state (idle, behind, stuck) with why, its last batch's lag, and its runner's heartbeat."""
    if "state" not in item:
        return ["", "", ""]
    lag = item.get("lag")
    figures = "none measured yet" if not lag else (f"p50 {lag['p50']:,.2f} s, p99 {lag['p99']:,.2f} s, "
                                                     f"max {lag['max']:,.2f} s")
    runner = item.get("runner")
    beat = "none (on AWS: the event source mapping)" if not runner else (
        f"{runner['state']}, heartbeat {runner['age_seconds']:,.0f} s ago"
        + (f" ({runner['error']})" if runner.get("error") else ""))
    return [f'<span class="state-{escape(item["state"].split()[0])}">{escape(item["state"])}</span>: '
            f'{escape(str(item.get("reason", "")))}', escape(figures), escape(beat)]


def dashboard_page(view: Mapping[str, Any]) -> str:
    """GET /dashboard: `view` holds portfolio, daily, watch ({status: {loans, more}}), recent, health, now, and with
    the risk view, risk and lists (`loans.dashboard_risk.risk_view`)."""
    watch = "".join(watch_section(status, listing, listing.get("more")) for status, listing in view["watch"].items())
    if "risk" in view:
        from loans.dashboard_risk import risk_sections

        watch += risk_sections(view)
    body = (f'<p class="muted">as of {escape(str(view["now"]))}</p><div class="grid">'
            f'{portfolio_section(view["portfolio"])}{watch}{daily_section(view.get("daily"))}'
            f'{recent_section(view["recent"])}{health_section(view["health"])}</div>')
    return page("Loan portfolio", body)


def loan_page(view: Mapping[str, Any]) -> str:
    """GET /dashboard/loans/{id}: the summary row and one page of its events, newest first."""
    summary = view["summary"]
    facts = table(["field", "value"], [[escape(str(name)), escape(str(value))] for name, value in summary.items()])
    events = [[str(event["number"]), escape(event["type"]), escape(event["created"]),
               f"<pre>{escape(event['data'])}</pre>", f"<pre>{escape(event.get('meta') or '')}</pre>"]
              for event in view["events"]]
    history = table(["#", "type", "created", "data", "meta"], events, {0}, empty="no events")
    before = view.get("before")
    pager = (f"<p>{link(loan_href(summary['id']) + '?' + urlencode({'before': before}), 'older events')}</p>"
             if before else "")
    body = (f'<p>{link("/dashboard", "back to the dashboard")}</p><div class="grid">'
            f'<section id="summary"><h2>Summary</h2>{facts}</section></div>'
            f'<section id="events"><h2>Event history</h2>{history}{pager}</section>')
    return page(f"Loan {summary['id']}", body)


def _days(days: Any) -> str:
    return "never paid" if days is None else str(days)
