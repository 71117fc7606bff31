"""The dashboard through the queries Lambda handler, over tables the real projector filled from the stream
(moto); expectations come from the write side (the loans' own state), never from the pages' code."""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qsl, quote, urlsplit

import boto3
import pytest

from benchmarks.dashboard import portfolio, seed
from core.dynamodb import DynamoDBEventStore
from core.ids import path_segment
from core.metering import RequestMeter
from handlers import queries
from handlers.app import App
from handlers.cli import main
from handlers.tables import ensure_tables
from loans import Loan, dashboard
from loans.dashboard_sources import sources
from loans.loan import STATUSES
from loans.projections import STATUS_SHARDS, UPDATED_SHARDS
from tests.api_support import LambdaContext
from tests.dashboard_support import Page

PAYMENT = Decimal("1.00")  # every repayment open_loan makes
HOSTILE_ID = "<img src=x onerror=alert(1)>&'q'"
HOSTILE_META = '"><script>alert("x")</script> & \'quoted\''


def get(app: App, path: str, query: dict[str, str] | None = None) -> tuple[int, str]:
    event = {"httpMethod": "GET", "path": path, "resource": path, "headers": {},
             "queryStringParameters": query, "requestContext": {"requestId": "req-3", "stage": "test"},
             "body": None, "isBase64Encoded": False}
    response = queries.handler_for(app)(event, LambdaContext(function_name="loan-queries"))
    return response["statusCode"], response["body"]


def open_loan(payments: int, then: tuple[str, ...] = (), loan_id: str | None = None, meta: dict | None = None) -> Loan:
    loan = Loan(loan_id)
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0.10"),
                  "meta": meta or {}}, {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    for _ in range(payments):
        loan.commit({"type": "LoanPaid", "amount": PAYMENT})
    for kind in then:
        loan.commit({"type": kind})
    return loan


@pytest.fixture
def book(app, aws) -> dict[str, Loan]:
    ensure_tables(app)
    made = {"arrears": open_loan(2, ("LoanArrears",)), "collections": open_loan(0, ("LoanArrears", "LoanCollections")),
            "paid": open_loan(1), "new": Loan()}
    made["new"].commit({"type": "LoanCreated", "requested_amount": Decimal("5.00"), "interest": Decimal("0")})
    assert main(["project", "--once"], app) == 0
    return made


def test_the_dashboard_shows_what_the_write_side_holds(app, book):
    status, body = get(app, "/dashboard")
    page = Page(body)
    assert status == 200 and page.scripts == 1  # the one allowed by its hash: test_only_the_hashed_script_may_run
    expected: dict[str, list[Decimal]] = {}
    for loan in book.values():
        totals = expected.setdefault(loan.status, [Decimal(0), Decimal(0), Decimal(0)])
        totals[0] += 1
        totals[1] += loan.requested_amount
        totals[2] += loan.balance
    rows = {row[0]: row[1:] for row in page.rows("portfolio")[1:]}
    lent = [t for status, t in expected.items() if status not in ("CREATED", "APPROVED", "REJECTED")]
    assert rows.pop("book (lent)") == [str(sum(t[0] for t in lent)), f"${sum(t[1] for t in lent):,.2f}",
                                       f"${sum(t[2] for t in lent):,.2f}"]
    assert rows.pop("pipeline (applications)") == ["1", "$5.00", "$0.00"]
    assert rows == {status: [str(t[0]), f"${t[1]:,.2f}", f"${t[2]:,.2f}"] for status, t in expected.items()}
    today = datetime.now(UTC).date()
    for name, since in (("arrears", "0"), ("collections", "never paid")):
        loan = book[name]
        assert loan.due is not None
        assert page.rows(name)[1:] == [[loan.id, str(loan.days_past_due(today)), loan.due.isoformat(),
                                        f"${loan.balance:,.2f}", since]]
    recent = [row[0] for row in page.rows("recent")[1:]]
    newest_first = sorted(book.values(), key=lambda loan: loan.last_updated, reverse=True)
    assert recent == [loan.id for loan in newest_first]
    assert (f"/dashboard/loans/{quote(book['paid'].id)}", book["paid"].id) in page.links
    health = page.rows("health")
    assert ["live generation", "0"] in health and ["last rebuilt", "never (initial generation)"] in health
    assert ["events parked (aws-es parked)", "0"] in health


def test_the_tiles_show_the_book_the_write_side_holds(app, book):
    text = Page(get(app, "/dashboard")[1]).sections["tiles"]
    lent = [loan for loan in book.values() if loan.status not in ("CREATED", "APPROVED", "REJECTED")]
    outstanding = sum((loan.balance for loan in lent), Decimal(0))
    behind = sum((loan.balance for loan in lent if loan.status in ("ARREARS", "COLLECTIONS")), Decimal(0))
    principal = sum((loan.requested_amount for loan in lent), Decimal(0))
    paid = sum((loan.requested_amount * (1 + loan.interest) - loan.balance for loan in lent), Decimal(0))
    active = sum(1 for loan in lent if loan.status != "SETTLED")
    # every loan was opened today: each figure moved by all of itself today and this month
    assert f"Outstanding book${outstanding:,.2f}today +${outstanding:,.2f} · this month +${outstanding:,.2f}" in text
    assert f"Disbursed principal${principal:,.2f}today +${principal:,.2f}" in text
    assert f"Active loans{active}today +{active} · this month +{active}" in text
    assert f"Arrears share{behind / outstanding * 100:.1f}%${behind:,.2f} in arrears and collections" in text
    assert f"Collected this month${paid:,.2f}today +${paid:,.2f} · vs last month +${paid:,.2f}" in text
    assert "Pipeline (applications, not lent)$5.00" in text


def test_a_bar_leads_to_the_loans_of_its_status(app, book):
    page = Page(get(app, "/dashboard")[1])
    bars = {href for href, text in page.links if text.startswith("ARREARS")}
    assert bars == {"/dashboard/status/ARREARS"}
    status, body = get(app, "/dashboard/status/ARREARS")
    rows = Page(body).rows("loans")[1:]
    assert status == 200 and [row[:2] for row in rows] == [[book["arrears"].id, f"${book['arrears'].balance:,.2f}"]]


def test_the_per_day_charts_show_todays_collections_and_new_loans(app, book):
    body = get(app, "/dashboard")[1]
    today = datetime.now(UTC).date().isoformat()
    shown = re.findall(rf"<title>{today}: ([^<]+)</title>", body)
    disbursed = [loan for loan in book.values() if loan.status not in ("CREATED", "APPROVED", "REJECTED")]
    collected = sum((loan.requested_amount * (1 + loan.interest) - loan.balance for loan in disbursed), Decimal(0))
    principal = sum((loan.requested_amount for loan in book.values()), Decimal(0))
    assert shown == [f"${collected:,.2f}", str(int(collected / PAYMENT)),
                     str(len(book)), f"${principal:,.2f}"]
    assert len(Page(body).bars) >= 4 * dashboard.DAYS


def test_the_page_reads_a_bounded_number_of_items_and_scans_only_counters(app, book):
    calls: Counter[str] = Counter()
    scanned: list[str] = []

    def count(model, params, **_) -> None:
        calls.update([model.name])
        if model.name == "Scan":
            scanned.append(params["TableName"])

    app.dynamodb.meta.events.register("before-parameter-build.dynamodb.*", count)
    assert get(app, "/dashboard")[0] == 200
    # the portfolio's counters (one item per status and part) and the risk view's (one item per due day and part),
    # however many loans: no table of rows
    assert sorted(scanned) == sorted([sources(app).tables.counters, sources(app).risk.tables.counters])
    # the newest loans (every shard of the by-updated index) and one page of each watched status (every by-status
    # shard of each), one key per day of the daily counters and one of this month and the last, and the parked
    # aggregates of each of the two projections (the parking table's index of markers)
    assert calls["Query"] == UPDATED_SHARDS + 2 * STATUS_SHARDS + dashboard.DAYS + 2 + 2
    assert "BatchGetItem" not in calls


def test_the_read_side_panel_shows_every_projection_the_page_reads(app, book):
    health = dashboard.dashboard_view(sources(app), {})["health"]
    assert [item["name"] for item in health["projections"]] == ["loan-summary", "loan-risk"]
    assert all(item["live"] == 0 and item["parked"] == 0 for item in health["projections"])
    shown = Page(get(app, "/dashboard")[1]).sections["health"]
    assert "loan-summary" in shown and "loan-risk" in shown


def test_after_a_rebuild_the_portfolio_still_counts_every_loan(app, book, monkeypatch):
    before = Page(get(app, "/dashboard")[1]).rows("portfolio")
    monkeypatch.setenv("PROJECTION_CONTROL_TTL", "0")  # this App reads the live generation afresh
    fresh = App.from_env()
    assert main(["rebuild", "loan-summary"], fresh) == 0
    assert sources(fresh).tables != sources(app).tables  # the page now reads the rebuilt generation
    after = Page(get(fresh, "/dashboard")[1]).rows("portfolio")
    assert after == before and sum(int(row[1]) for row in after if row[0] in STATUSES) == len(book)


def test_the_page_costs_the_same_requests_with_20_loans_as_with_200(app, aws):
    ensure_tables(app)
    now = datetime.now(UTC)
    meter = RequestMeter()
    meter.attach(app.dynamodb)
    assert get(app, "/dashboard")[0] == 200  # the App has looked up each projection's live generation once
    costs, pages = [], []
    for loans in (20, 200):
        seed(app, loans, now)
        before = dict(meter.by_operation)
        status, body = get(app, "/dashboard")
        assert status == 200
        costs.append({name: count - before.get(name, 0) for name, count in meter.by_operation.items()})
        pages.append(Page(body))
    assert costs[0] == costs[1] and sum(costs[1].values()) < 70
    newest = sorted(portfolio(200, now), key=lambda loan: loan[1][-1].created, reverse=True)[:dashboard.RECENT]
    recent = [row[0] for row in pages[1].rows("recent")[1:]]
    assert recent == [loan_id for loan_id, _ in newest]
    portfolio_rows = pages[1].rows("portfolio")
    statuses = [row for row in portfolio_rows if row[0] in STATUSES]
    assert [row[0] for row in statuses] == list(STATUSES) and sum(int(row[1]) for row in statuses) == 200


def test_days_since_the_last_payment_follow_the_clock(app, book):
    paid = book["arrears"].last_updated
    later = dataclasses.replace(sources(app), clock=lambda: paid + timedelta(days=3, hours=1))
    listing = dashboard.read_watch(later, "ARREARS", None)
    assert [loan["days_since_payment"] for loan in listing["loans"]] == [3]


def test_a_watched_status_pages_through_the_index(app, aws):
    ensure_tables(app)
    ids = {open_loan(0, ("LoanArrears",)).id for _ in range(dashboard.WATCH_PAGE + 3)}
    assert main(["project", "--once"], app) == 0
    seen, path, query, pages = [], "/dashboard", None, 0
    while True:
        page = Page(get(app, path, query)[1])
        pages += 1
        seen += [row[0] for row in page.rows("arrears")[1:]]
        more = [href for href, text in page.links if text == "next page"]
        if not more:
            break
        path, query = urlsplit(more[0]).path, dict(parse_qsl(urlsplit(more[0]).query))
    assert pages == 2 and len(seen) == len(ids) and set(seen) == ids


def test_a_loan_page_pages_its_history_newest_first(app, aws):
    ensure_tables(app)
    loan = open_loan(dashboard.HISTORY_PAGE + 7)
    assert main(["project", "--once"], app) == 0
    path = f"/dashboard/loans/{loan.id}"
    numbers, query = [], None
    while True:
        status, body = get(app, path, query)
        assert status == 200
        page = Page(body)
        numbers += [int(row[0]) for row in page.rows("events")[1:]]
        older = [href for href, text in page.links if text == "older events"]
        if not older:
            break
        query = dict(parse_qsl(urlsplit(older[0]).query))
    assert numbers == list(range(loan.version, 0, -1))
    assert ["Events", str(loan.version)] in page.rows("summary")


def test_a_loan_page_reads_its_events_through_the_store_in_one_small_request(app, aws):
    ensure_tables(app)
    loan = open_loan(dashboard.HISTORY_PAGE * 2)
    assert main(["project", "--once"]) == 0
    current = sources(app)
    client = boto3.client("dynamodb", region_name="us-east-1")
    meter = RequestMeter()
    meter.attach(client)
    metered = dataclasses.replace(current, client=client, events=DynamoDBEventStore(app.table(Loan), client))
    view = dashboard.loan_history_view(metered, loan.id, loan.version - 10)
    assert [event["number"] for event in view["events"]] == list(range(loan.version - 11, loan.version - 61, -1))
    assert view["before"] == loan.version - 60
    assert meter.by_operation.get("Query") == 1  # the newest page of events: one Query


@pytest.mark.parametrize(("path", "query", "status", "field"), [
    ("/dashboard/loans/nope", None, 404, None),
    ("/dashboard/loans/x", {"before": "0"}, 400, "before"),
    ("/dashboard/loans/x", {"before": "ten"}, 400, "before"),
    ("/dashboard/loans/x", {"before": "9" * 400}, 400, "before"),
    ("/dashboard/lists/arrears", {"cursor": "not-a-cursor"}, 400, "cursor"),
    ("/dashboard/status/OPEN", None, 400, "status"),
    ("/dashboard/status/PAID", {"after": "not-a-cursor"}, 400, "cursor"),
])
def test_bad_requests_name_what_was_wrong(app, book, path, query, status, field):
    code, body = get(app, path, query)
    reply = json.loads(body)
    assert code == status and reply.get("field") == field and len(reply["error"]) < 200


def test_hostile_ids_and_meta_show_as_text(app, aws):
    ensure_tables(app)
    loan = open_loan(1, ("LoanArrears",), loan_id=HOSTILE_ID, meta={"note": HOSTILE_META})
    assert main(["project", "--once"], app) == 0
    status, body = get(app, "/dashboard")
    assert status == 200 and "<img" not in body and body.count("<script") == 1
    page = Page(body)
    assert page.rows("arrears")[1][0] == HOSTILE_ID
    assert (f"/dashboard/loans/{quote(HOSTILE_ID, safe='')}", HOSTILE_ID) in page.links
    status, body = get(app, f"/dashboard/loans/{path_segment(loan.id)}")
    assert status == 200 and "<img" not in body and body.count("<script") == 1
    page = Page(body)
    created = page.rows("events")[-1]
    assert created[3] == "LoanCreated" and created[5] == f"note: {HOSTILE_META}"
    assert ["Loan", HOSTILE_ID] in page.rows("summary")


def daily_stub(days: int) -> list[dict]:
    """Per-day counters in the shape the read side's `daily(days)` reader returns (renderer test only)."""
    return [{"day": f"2026-11-{day + 1:02d}", "collected": Decimal(day * 10), "repayments": day,
             "new_loans": days - day, "new_principal": Decimal("100.00")} for day in range(days)]


def test_the_per_day_charts_draw_one_bar_a_day_scaled_to_the_largest():
    from loans.dashboard_pages import daily_section

    page = Page(daily_section(daily_stub(30)))
    charts = [page.bars[start:start + 30] for start in range(0, 120, 30)]
    assert len(page.bars) == 120
    heights = [[float(bar["width"]) for bar in chart] for chart in charts]  # bar lengths: the bars lie flat
    assert heights[0].index(max(heights[0])) == 29 and heights[0][0] == 0  # collected grows by the day
    assert heights[2].index(max(heights[2])) == 0  # new loans shrink by the day
    assert len(set(heights[3])) == 1  # the same principal every day: equal bars
    assert "not available" in Page(daily_section(None)).sections["daily"]


def test_statuses_are_shown_in_the_order_of_a_loans_life():
    from loans.dashboard_pages import portfolio_section
    from loans.loan import STATUSES

    figures = {"loans": 1, "principal": "1.00", "outstanding": "1.00"}
    page = Page(portfolio_section({status: figures for status in sorted(STATUSES, reverse=True)}))
    assert [row[0] for row in page.rows("portfolio")[1:-2]] == list(STATUSES)
