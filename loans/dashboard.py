"""The loan dashboard's data and routes: every read is bounded (keyed reads, one page per index query, and two
small counters tables read whole: the portfolio's, one item per status and part, and the risk view's, see
`loans.dashboard_risk`), so the pages cost the same with 100 loans or 100,000; no table of rows is scanned.

GET /dashboard                      headline tiles, portfolio, days-past-due buckets and PAR, ARREARS and COLLECTIONS
                                    worst first, per-day charts, recent loans, read-side health  200 text/html
GET /dashboard/status/{S}?after=C   one page of the loans in status S, most recently updated first   200 | 400
GET /dashboard/loans/{id}?before=N  a loan's summary and one page of its events, newest first   200 | 404
GET /dashboard/lists/{name}[.csv]   a risk list, searched or as CSV (`loans.dashboard_risk`)    200 | 400 | 404
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from itertools import islice
from typing import Any
from urllib.parse import urlencode

from core import codec
from core.events import RecordedEvent
from core.ids import id_from_segment
from core.store import EventStore
from loans import dashboard_risk, queries
from loans.dashboard_format import DEFAULT_CURRENCY, SCRIPT_HASH
from loans.dashboard_pages import dashboard_page, loan_page, status_page
from loans.dashboard_tiles import month_keys, tiles_view
from loans.loan import ARREARS, COLLECTIONS, Loan
from loans.projections import BY_UPDATED, read_daily, updated_partitions
from loans.views import Reveal, loan_view, portfolio_view, without_personal
from projections.definition import Projection
from projections.dynamodb_store import read_event_counters
from projections.lag import projection_health
from projections.query import query_partitions, read_counters
from projections.tables import Control, Tables

#: Statuses listed on the dashboard with their outstanding balance, each paged with its own cursor.
WATCHED = (ARREARS, COLLECTIONS)
WATCH_PAGE = 25
RECENT = 10
HISTORY_PAGE = 50
DAYS = 30
#: No script may run on these pages but the one showing times in the viewer's zone (allowed by its hash), and
#: nothing is fetched from elsewhere (styles are inline).
HEADERS = {"Content-Security-Policy": f"default-src 'none'; style-src 'unsafe-inline'; script-src {SCRIPT_HASH}",
           "X-Content-Type-Options": "nosniff"}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Sources:
    """What the pages read, built from the App (`loans.dashboard_sources`): a client, the live tables, the control
    table, the loans' event store, the failure queue's depth, what opens personal fields, and the per-day counters
    when the read side has them."""

    client: Any
    projection: Projection
    tables: Tables
    control: Control
    events: EventStore
    failures: Callable[[], int | None]
    #: opens personal fields (the borrower's name) in rows and event payloads (`loans.views.revealing`)
    reveal: Reveal
    daily: Callable[[int], list[dict[str, Any]]] | None = None
    #: events the projector parked for a projection, by default this one (None: no parking table)
    parked: Callable[..., int | None] | None = None
    clock: Callable[[], datetime] = field(default=_now)
    #: the risk view's reads (`loans.dashboard_risk`); None: the watched lists by last update, no buckets
    risk: dashboard_risk.Risk | None = None
    #: The ISO 4217 code every amount is shown in (the `CURRENCY` setting).
    currency: str = DEFAULT_CURRENCY


def daily_reader(client: Any, tables: Tables) -> Callable[[int], list[dict[str, Any]]]:
    """`daily(days)` over the `daily` event counters (`loans.projections.read_daily`), in the charts' shape."""

    def daily(days: int) -> list[dict[str, Any]]:
        return [{"day": day.day.isoformat(), "collected": day.collected, "repayments": day.repayments,
                 "new_loans": day.new_loans, "new_principal": day.requested}
                for day in read_daily(client, tables, days)]

    return daily


def read_portfolio(sources: Sources) -> dict[str, Any]:
    """The portfolio counters as `aws-es query portfolio` reads them: every item of the counters table, summed per
    status. The table holds one item per group (a status, or a day's or a month's book figures for the tiles) and
    counter shard or rebuild part (a rebuild writes its totals as `<group>#r<k>of<n>` parts), never one per loan:
    one Scan page whatever the book's size, growing only with the days the book has changed on."""
    return portfolio_view(read_totals(sources))


def read_totals(sources: Sources) -> dict[str, dict[str, Decimal]]:
    """Every counter group of the counters table, summed over its shards and rebuild parts ({} without one)."""
    if not sources.tables.counters:
        return {}
    return read_counters(sources.client, sources.tables)


def read_tiles(sources: Sources, totals: Mapping[str, Mapping[str, Decimal]],
               daily: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The headline tiles from the counters (the groups `period_groups` names), and money collected this month and the
    last (two keyed Queries of the `daily` event counters; none without them)."""
    today = sources.clock().date()
    collected: dict[str, Decimal] = {}
    if daily is not None:
        months = read_event_counters(sources.client, sources.tables, month_keys(today))
        collected = {month: Decimal(values.get("collected", 0)) for month, values in months.items()}
        collected.update({day["day"]: Decimal(day["collected"]) for day in daily[-1:]})
    return tiles_view(totals, today, collected)


def read_watch(sources: Sources, status: str, cursor: str | None) -> dict[str, Any]:
    """One page of loans in `status` with days since their last payment, and the link to the next page."""
    listing = queries.by_status(sources.client, sources.projection, sources.tables, status, str(WATCH_PAGE), cursor,
                                without_personal)  # the list shows no name
    today = sources.clock()
    for loan in listing["loans"]:
        paid = loan.get("last_paid")
        loan["days_since_payment"] = (today - datetime.fromisoformat(paid)).days if paid else None
    more = "/dashboard?" + urlencode({status.lower(): listing["next"]}) if "next" in listing else None
    return {"loans": listing["loans"], "more": more}


def read_recent(sources: Sources) -> list[dict[str, Any]]:
    """The most recently updated loans, whatever their status: the by-updated index's partitions merged (one
    Query of `RECENT` rows each, however many loans there are)."""
    partitions = updated_partitions()
    page, _ = query_partitions(sources.client, sources.projection, sources.tables.rows, BY_UPDATED, partitions, RECENT,
                               [None] * len(partitions))
    return [loan_view(loan_id, row, without_personal) for loan_id, row in page]  # the list shows no name


def read_health(sources: Sources, recent: list[dict[str, Any]]) -> dict[str, Any]:
    """Each projection the page reads (the summary, and the risk view when there is one): its live generation and
    when that generation's table was made (the last rebuild) and its truthful lag; the age of the newest projected
    event, and the records waiting in the failure queue."""
    newest = max((loan["last_updated"] for loan in recent if "last_updated" in loan), default=None)
    lag = (sources.clock() - datetime.fromisoformat(newest)).total_seconds() if newest else None
    read = [(sources.projection, sources.tables)] + ([(sources.risk.projection, sources.risk.tables)]
                                                       if sources.risk else [])
    return {"lag_seconds": lag, "failures": sources.failures(),
            "projections": [projection_state(sources, projection, tables) for projection, tables in read]}


def projection_state(sources: Sources, projection: Projection, tables: Tables) -> dict[str, Any]:
    """One projection's live generation, when its table was made, whether a rebuild is building, and its lag."""
    state = sources.control.state(projection.name, fresh=True)
    rebuilt = None
    if state["live"]:
        table = sources.client.describe_table(TableName=tables.rows)["Table"]
        rebuilt = table["CreationDateTime"].astimezone(UTC).isoformat(timespec="seconds")
    return {"name": projection.name, "live": state["live"], "rebuilt": rebuilt, "building": state["building"],
            "parked": sources.parked(projection.name) if sources.parked else None,
            **read_projection_lag(sources, projection.name)}


def read_projection_lag(sources: Sources, name: str | None = None) -> dict[str, Any]:
    """A projection's (by default the summary's) truthful lag (projections/lag.py): `state` (idle, behind, stuck,
    never projected) and `reason`, its last batch's commit-to-visible `lag` (p50, p99, max seconds),
    `last_projected_seconds`, and the local stream `runner`'s heartbeat (`state`, `age_seconds`; None where none
    ran, as on AWS). Two keyed reads of the control table."""
    table = getattr(sources.events, "table", "")
    return projection_health(sources.control, name or sources.projection.name, str(table),
                             sources.clock().timestamp())


def dashboard_view(sources: Sources, cursors: Mapping[str, str | None]) -> dict[str, Any]:
    recent = read_recent(sources)
    risk = dashboard_risk.risk_view(sources.risk, sources.clock().date()) if sources.risk else {}
    totals = read_totals(sources)
    daily = sources.daily(DAYS) if sources.daily else None
    return {
        "now": sources.clock().isoformat(timespec="seconds"),
        "currency": sources.currency,
        "tiles": read_tiles(sources, totals, daily),
        "portfolio": portfolio_view(totals),
        "daily": daily,
        "watch": {} if risk else {status: read_watch(sources, status, cursors.get(status)) for status in WATCHED},
        "recent": recent,
        "health": read_health(sources, recent),
        **risk,
    }


def parse_before(text: str | None) -> int | None:
    if text is None:
        return None
    if not re.fullmatch(r"[0-9]{1,12}", text) or int(text) < 1:
        shown = text if len(text) <= 20 else f"{text[:20]}... ({len(text):,} characters)"
        raise queries.InvalidQueryError(f"before must be an event number from 1, not {shown!r}", "before")
    return int(text)


def loan_history_view(sources: Sources, loan_id: str, before: int | None) -> dict[str, Any]:
    """The summary (404 when the loan has none) and one page of events, newest first, before `before`: the
    newest `HISTORY_PAGE` events the store reads backwards (one request). Event numbers run 1..n with no gap,
    so older events exist exactly when the page's last is above 1."""
    summary = queries.summary(sources.client, sources.projection, sources.tables, loan_id, sources.reveal)
    newest = islice(sources.events.read_backwards(loan_id, before), HISTORY_PAGE)
    events = [_event_view(event, sources.reveal) for event in newest]
    older = events[-1]["number"] if events and events[-1]["number"] > 1 else None
    return {"summary": summary, "events": events, "before": older, "currency": sources.currency}


def status_view(sources: Sources, status: str, cursor: str | None) -> dict[str, Any]:
    """One page of the loans in `status` (a bar of the portfolio charts leads here), and the next page's link."""
    listing = queries.by_status(sources.client, sources.projection, sources.tables, status, str(WATCH_PAGE), cursor,
                                without_personal)  # the list shows no name
    more = (f"/dashboard/status/{status}?" + urlencode({"after": listing["next"]})) if "next" in listing else None
    return {"status": status, "loans": listing["loans"], "more": more, "currency": sources.currency}


def _event_view(event: RecordedEvent, reveal: Reveal) -> dict[str, Any]:
    """A stored event as the loan reads it (an older schema upcast to today's, personal fields opened), with its
    data and meta as plain JSON (amounts as strings, not the codec's tags)."""
    today = Loan.upcasting.decode(event) if Loan.upcasting else None
    data = _plain_mapping(reveal(today.data if today is not None else codec.decode(event.data)))
    return {"number": event.number, "type": today.type if today is not None else event.type,
            "created": event.created, "data": data, "meta": _plain(event.meta) if event.meta else None}


def _plain_mapping(data: Mapping[str, Any]) -> str:
    return json.dumps(dict(data), default=str, ensure_ascii=False, sort_keys=True)


def _plain(text: str) -> str:
    return json.dumps(codec.decode(text), default=str, ensure_ascii=False, sort_keys=True)


def html(body: str, status: int = 200) -> Any:
    from aws_lambda_powertools.event_handler import Response

    return Response(status_code=status, content_type="text/html; charset=utf-8", body=body, headers=dict(HEADERS))


def add_routes(app: Any, sources: Callable[[], Sources]) -> None:
    """The dashboard's routes on a powertools resolver; `sources` is called per request (live tables)."""

    @app.get("/dashboard")
    def dashboard() -> Any:
        parameter = app.current_event.get_query_string_value
        cursors = {status: parameter(status.lower()) for status in WATCHED}
        return html(dashboard_page(dashboard_view(sources(), cursors)))

    @app.get("/dashboard/status/<status>")
    def status_list(status: str) -> Any:
        cursor = app.current_event.get_query_string_value("after")
        return html(status_page(status_view(sources(), status, cursor)))

    @app.get("/dashboard/loans/<loan_id>")
    def loan(loan_id: str) -> Any:
        before = parse_before(app.current_event.get_query_string_value("before"))
        return html(loan_page(loan_history_view(sources(), id_from_segment(loan_id), before)))

    dashboard_risk.add_routes(app, sources)
