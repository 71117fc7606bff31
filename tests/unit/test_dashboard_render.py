"""The dashboard's pages rendered from plain data: figures written one way everywhere (currency, separators,
percentages, times), no chart label cut at the largest figures the loan domain allows, and a loan page a reader
can follow. Widths are estimated here on their own terms, not with the renderer's constants."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest

from core.errors import ConfigurationError
from core.events import Event
from handlers.settings import Settings
from loans.dashboard_format import LOCAL_TIMES, SCRIPT_HASH, count, money, percent, time_html
from loans.dashboard_pages import (
    balance_series,
    daily_section,
    dashboard_page,
    loan_page,
    portfolio_section,
    status_page,
)
from loans.loan import MAX_AMOUNT, MAX_INTEREST, STATUSES
from tests.dashboard_support import Page

#: The most a loan can owe, and a book of ten million such loans.
MOST_OWED = MAX_AMOUNT * (1 + MAX_INTEREST)
LOANS = 10**7
#: A glyph of the page's sans serif is at most this wide in ems for digits, letters and separators (bold: more).
EM, BOLD_EM = 0.6, 0.66


class Charts(HTMLParser):
    """Each `<svg>`'s box and its texts: (x, y, anchor, text, bold)."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.charts: list[dict[str, Any]] = []
        self._text: dict[str, Any] | None = None
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        values = dict(attrs)
        if tag == "svg":
            _, _, width, height = (float(part) for part in values["viewbox"].split())
            self.charts.append({"width": width, "height": height, "texts": []})
        elif tag == "text":
            self._text = {"x": float(values["x"]), "y": float(values["y"]), "anchor": values.get("text-anchor",
                          "start"), "bold": values.get("class") == "chart-title", "text": ""}

    def handle_endtag(self, tag: str) -> None:
        if tag == "text" and self._text is not None:
            self.charts[-1]["texts"].append(self._text)
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text["text"] += data


def clipped(document: str) -> list[str]:
    """Every chart text whose estimated extent leaves its chart's box."""
    out = []
    charts = Charts(document).charts
    assert charts, "no chart rendered"
    for chart in charts:
        for text in chart["texts"]:
            width = len(text["text"]) * 13 * (BOLD_EM if text["bold"] else EM)
            left = text["x"] - {"start": 0, "middle": width / 2, "end": width}[text["anchor"]]
            if left < 0 or left + width > chart["width"] or not 10 <= text["y"] <= chart["height"]:
                out.append(f"{text['text']!r} spans {left:.0f}..{left + width:.0f} in 0..{chart['width']:.0f}")
    return out


@pytest.mark.parametrize("currency", ["USD", "CHF"])
@pytest.mark.parametrize("scale", [Decimal("0.01"), Decimal(1), MOST_OWED, MOST_OWED * LOANS])
def test_no_chart_label_is_cut_at_any_figure_up_to_the_largest(currency, scale):
    portfolio = {status: {"loans": LOANS if scale > 1 else 1, "principal": str(scale / 11 if scale > 1 else scale),
                          "outstanding": str(scale)} for status in STATUSES}
    portfolio["PAID"] = {"loans": 1, "principal": "0.01", "outstanding": "0.01"}  # a tiny bar beside huge ones
    days = [{"day": (datetime(2026, 11, 3) + timedelta(days=n)).date().isoformat(), "collected": scale,
             "repayments": LOANS, "new_loans": LOANS, "new_principal": scale / 11} for n in range(30)]
    assert clipped(portfolio_section(portfolio, currency)) == []
    assert clipped(daily_section(days, currency)) == []
    owed = min(scale, MOST_OWED)
    events = [{"number": 1, "type": "LoanCreated", "created": "2026-11-02T10:15:00+00:00",
               "data": json.dumps({"requested_amount": str(owed / 11), "interest": "10"}), "meta": None},
              {"number": 2, "type": "LoanApproved", "created": "2026-11-02T10:16:00+00:00", "data": "{}",
               "meta": None},
              {"number": 3, "type": "LoanDisbursed", "created": "2026-11-02T10:17:00+00:00", "data": "{}",
               "meta": None}]
    summary = {"id": "L-1", "status": "DISBURSED", "balance": str(owed), "version": 3}
    assert clipped(loan_page({"summary": summary, "events": events[::-1], "before": None,
                              "currency": currency})) == []


def test_figures_are_written_one_way():
    assert money(Decimal("10014148.87")) == "$10,014,148.87"
    assert money("-5", "EUR") == "-€5.00" and money(1234, "CHF") == "CHF 1,234.00"
    assert money("12.5", "GBP", signed=True) == "+£12.50"
    assert count(1234567) == "1,234,567" and count(-3, signed=True) == "-3"
    assert percent("0.05") == "5%" and percent("0.123456") == "12.3456%" and percent("0") == "0%"
    assert percent(Decimal(1) / 3, 1) == "33.3%"
    shown = time_html("2026-12-02T10:15:30.123456+00:00")
    assert shown == ('<time datetime="2026-12-02T10:15:30.123456+00:00" title="2026-12-02T10:15:30.123456+00:00">'
                     "2 Dec 2026, 10:15 UTC</time>")
    assert time_html("2026-12-02T23:30:00-05:00").endswith(">3 Dec 2026, 04:30 UTC</time>")


def test_the_currency_is_one_setting_checked_by_name():
    assert Settings.from_env({}).currency == "USD" and Settings.from_env({"CURRENCY": "EUR"}).currency == "EUR"
    for bad in ("usd", "EURO", "$"):
        with pytest.raises(ConfigurationError, match=f"CURRENCY must be a three-letter ISO 4217 code.*"
                                                     f"{re.escape(bad)}"):
            Settings.from_env({"CURRENCY": bad})


def view(currency: str = "EUR") -> dict[str, Any]:
    """A dashboard view with large figures everywhere a figure is shown."""
    big = "10014148.87"
    loans = [{"id": "L-1", "status": "ARREARS", "balance": big, "last_updated": "2026-12-02T10:15:00+00:00",
              "days_since_payment": 3}]
    return {"now": "2026-12-02T10:20:00+00:00", "currency": currency,
            "tiles": {"book": [{"name": "Outstanding book", "kind": "money", "value": Decimal(big),
                                "day": Decimal("-12.5"), "month": Decimal(big)}],
                      "pipeline": {"loans": 12345, "requested": Decimal(big)}},
            "portfolio": {status: {"loans": 12345, "principal": big, "outstanding": big} for status in STATUSES},
            "daily": [{"day": "2026-12-02", "collected": Decimal(big), "repayments": 12345, "new_loans": 12345,
                       "new_principal": Decimal(big)}],
            "watch": {"ARREARS": {"loans": loans, "more": None}},
            "recent": loans,
            "health": {"lag_seconds": 2.5, "failures": 1234,
                       "projections": [{"name": "loan-summary", "live": 0, "rebuilt": None, "building": None,
                                        "parked": 5678,
                                        "state": "idle", "reason": "nothing waits", "lag": None,
                                        "last_projected_seconds": 125.0, "runner": None}]}}


def test_no_figure_is_shown_without_its_separators_or_currency():
    document = dashboard_page(view())
    page = Page(document)
    body = re.sub(r"<(style|script)>.*?</\1>", "", document, flags=re.S)
    texts = [text for text in re.findall(r">([^<]+)<", body) if not re.fullmatch(r"\d{4}-\d\d-\d\d.*", text)]
    dated = re.compile(r"\d{1,2} [A-Z][a-z]{2} \d{4}")  # "2 Dec 2026": a year, not a figure
    assert [text for text in texts if re.search(r"\d{4,}", dated.sub("", text))] == []  # no 10014148.87, 12345
    assert "€10,014,148.87" in page.sections["arrears"] and "12,345" in page.sections["portfolio"]
    assert page.rows("tiles") == [] and "€10,014,148.87" in page.sections["tiles"]
    assert "today -€12.50" in page.sections["tiles"]
    assert ["events parked (aws-es parked)", "5,678"] in page.rows("health")
    assert ["last made a row visible", "2 min 5 s ago"] in page.rows("health")
    assert '<time datetime="2026-12-02T10:15:00+00:00"' in document


def test_each_bar_and_status_leads_to_its_loans():
    page = Page(portfolio_section({"ARREARS": {"loans": 2, "principal": "1.00", "outstanding": "2.00"}}))
    assert ("/dashboard/status/ARREARS", "ARREARS") in page.links
    assert sum(1 for href, _ in page.links if href == "/dashboard/status/ARREARS") == 4  # three bars, one row
    listing = Page(status_page({"status": "PAID", "loans": [{"id": "a/b", "balance": "1.00"}],
                                "more": "/dashboard/status/PAID?after=x", "currency": "USD"}))
    assert ("/dashboard/loans/a%2Fb", "a/b") in listing.links and ("/dashboard/status/PAID?after=x", "next page") in \
        listing.links


def test_only_the_hashed_script_may_run():
    import base64
    import hashlib

    from loans.dashboard import HEADERS

    digest = base64.b64encode(hashlib.sha256(LOCAL_TIMES.encode()).digest()).decode()
    assert f"'sha256-{digest}'" == SCRIPT_HASH
    policy = HEADERS["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == f"'sha256-{digest}'" and directives["default-src"] == "'none'"
    assert dashboard_page(view()).count(f"<script>{LOCAL_TIMES}</script>") == 1


def history(paid: list[str]) -> list[dict[str, Any]]:
    """A loan's events as the loan page gets them, newest first: 1,000.00 at 5%, then the repayments."""
    at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    events = [("LoanCreated", {"requested_amount": "1000.00", "interest": "0.05"}, {"caller": "alice"}),
              ("LoanApproved", {}, {"caller": "bob", "correlation_id": "c-1"}), ("LoanDisbursed", {}, None)]
    events += [("LoanPaid", {"amount": amount, "channel": "card"}, None) for amount in paid]
    return [{"number": number, "type": kind, "created": (at + timedelta(hours=number)).isoformat(),
             "data": json.dumps(data), "meta": json.dumps(meta) if meta else None}
            for number, (kind, data, meta) in enumerate(events, 1)][::-1]


def test_a_loan_page_reads_as_a_story():
    events = history(["120.00", "30.50"])
    summary = {"id": "L-1", "balance": "899.50", "interest": "0.05", "version": 5, "status": "PAID",
               "requested_amount": "1000.00", "total_paid": "150.50", "payments": 2, "status_shard": "PAID#3",
               "day_of_last_event": "2026-12-01", "created": "2026-12-01T10:00:00+00:00"}
    page = Page(loan_page({"summary": summary, "events": events, "before": None, "currency": "USD"}))
    assert page.rows("summary")[1:] == [
        ["Loan", "L-1"], ["Status", "PAID"], ["Outstanding balance", "$899.50"], ["Principal", "$1,000.00"],
        ["Interest", "5%"], ["Repaid so far", "$150.50"], ["Repayments", "2"], ["Opened", "1 Dec 2026, 10:00 UTC"],
        ["Events", "5"]]
    timeline = page.rows("events")[1:]
    assert [row[2] for row in timeline] == ["Paid $30.50 by card", "Paid $120.00 by card", "Disbursed", "Approved",
                                            "Opened: $1,000.00 requested at 5% interest"]
    assert [row[4] for row in timeline] == ["", "", "", "bob", "alice"]
    assert timeline[3][5] == "correlation_id: c-1" and timeline[0][1] == "1 Dec 2026, 14:00 UTC"


@pytest.mark.parametrize("paid", [[], ["120.00"], ["120.00", "30.50", "899.50"]])
def test_the_balance_series_follows_the_repayments(paid):
    events = history(paid)
    owed = Decimal("1050.00")
    expected = [Decimal(0), Decimal(0), owed]
    for amount in paid:
        expected.append(expected[-1] - Decimal(amount))
    assert [value for _, _, value in balance_series({}, events)] == expected
    newest = {"version": len(events), "balance": str(expected[-1])}
    assert [value for _, _, value in balance_series(newest, events[:2])] == expected[-2:]  # back from the summary
    assert balance_series({"version": len(events) + 1, "balance": "1"}, events[:2]) == []  # neither: not drawn


def test_the_summary_shown_leaves_out_the_read_sides_period_fields():
    from loans.projections import fold_summary
    from loans.views import loan_view

    created = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    row = fold_summary(None, Event("LoanCreated", {"requested_amount": Decimal("10.00"), "interest": Decimal(0)},
                                   created=created))
    row = fold_summary(row, Event("LoanApproved", {}, created=created + timedelta(days=1)))
    assert row["day_start_status"] == "CREATED" and "month_start_status" not in row  # opened this month
    assert set(loan_view("L-1", row, dict)) == {"id", "requested_amount", "interest", "balance", "total_paid",
                                                "payments", "created", "status", "status_shard", "updated_shard",
                                                "last_updated"}
