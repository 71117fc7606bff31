"""The dashboard's risk view: days-past-due buckets and PAR from the `risk` counters, the watched lists (arrears,
collections) worst first with their counts, search by id prefix, and CSV export of a whole list.

Reads are bounded whatever the book's size: the counters (one item per due day and shard), one page of a list
(one Query per index shard), a search (one Query per shard, at most `SEARCH_LIMIT` rows each). The CSV export
reads its list to the end in pages of `CSV_PAGE`.

GET /dashboard/lists/{name}[?q=PREFIX&cursor=C]   a list worst first, paged, or the loans whose id starts
                                                  with PREFIX                                    200 | 400 | 404
GET /dashboard/lists/{name}.csv                   the whole list as CSV                          200 | 404
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from html import escape
from typing import Any
from urllib.parse import urlencode

from core import EventSourcingError, InvalidIdError, check_id
from core.aggregate import MAX_ID_BYTES
from loans.dashboard_format import DEFAULT_CURRENCY, money
from loans.dashboard_pages import link, loan_href, page, table
from loans.loan import CENT, days_past_due
from loans.projections import STATUS_SHARDS
from loans.queries import InvalidQueryError, ShardedCursor
from loans.risk import BY_ID, BY_SEVERITY, LISTS, RISK, buckets
from projections.definition import Projection, Row
from projections.dynamodb_store import call, read_counters
from projections.items import from_item
from projections.query import DONE, Position, index_keys, query_partitions
from projections.tables import Tables

#: Loans a list shows per page (the dashboard shows the first page of each).
LIST_PAGE = 25
#: The most loans a search shows: the best matches by severity among the first ids of each shard.
SEARCH_LIMIT = 25
#: Rows per Query while the CSV export reads a list to its end.
CSV_PAGE = 1000
#: Characters that make a spreadsheet read a cell as a formula (and tab, carriage return: OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_HEADERS = ("loan", "status", "days past due", "due date", "outstanding", "last paid", "days since paid")


class UnknownListError(EventSourcingError):
    """Raised when a list's name is none of `LISTS` (a 404 naming the choices)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no list {name!r}: the lists are {', '.join(LISTS)}")
        self.name = name


@dataclass(frozen=True)
class Risk:
    """What the risk view reads: a client and the live generation of `loan-risk`."""

    client: Any
    projection: Projection
    tables: Tables


def list_status(name: str) -> str:
    if name not in LISTS:
        raise UnknownListError(name)
    return LISTS[name]


def read_buckets(risk: Risk, today: date) -> dict[str, Any]:
    """The book's days-past-due buckets and PAR on `today` (`loans.risk.buckets`)."""
    return buckets(read_counters(risk.client, risk.tables), today)


def listed(loan_id: str, row: Row, today: date) -> dict[str, Any]:
    """One loan of a list: what the list shows and exports."""
    paid = row.get("last_paid")
    due = row.get("due")
    return {"id": loan_id, "status": row.get("status"), "balance": Decimal(row.get("balance", 0)).quantize(CENT),
            "due": due, "days_past_due": days_past_due(date.fromisoformat(due) if due else None, today),
            "last_paid": paid,
            "days_since_paid": (today - datetime.fromisoformat(paid).date()).days if paid else None}


def read_list(risk: Risk, name: str, today: date, cursor: str | None = None, limit: int = LIST_PAGE) -> dict[str, Any]:
    """One page of list `name`, worst first (most days past due, then the largest balance), with the cursor of
    the next page if any: the status's index shards merged, one Query each at most."""
    status = list_status(name)
    positions: list[Position] = [None] * STATUS_SHARDS
    if cursor is not None:
        positions = LIST_CURSOR.decode(risk.projection, name, LISTS[name], cursor)
    rows, after = query_partitions(risk.client, risk.projection, risk.tables.rows, BY_SEVERITY, shards(status),
                                   limit, positions)
    reply: dict[str, Any] = {"name": name, "status": status, "loans": [listed(i, row, today) for i, row in rows]}
    if any(position is not DONE for position in after):
        reply["next"] = LIST_CURSOR.encode(risk.projection, name, after)
    return reply


def shards(status: str) -> list[str]:
    return [f"{status}#{shard}" for shard in range(STATUS_SHARDS)]


def check_search(text: str) -> str:
    """A search text: the start of an id (any valid id's first characters), or `InvalidQueryError` naming `q`."""
    try:
        return check_id(text)
    except InvalidIdError as exc:
        shown = text if len(text) <= 20 else f"{text[:20]}... ({len(text):,} characters)"
        raise InvalidQueryError(f"q must be the start of a loan id (1 to {MAX_ID_BYTES} bytes of UTF-8, no control "
                                f"characters), not {shown!r}", "q") from exc


def search(risk: Risk, name: str, text: str, today: date) -> dict[str, Any]:
    """The loans of list `name` whose id starts with `text` (an exact id is its own prefix), worst first: one
    Query per index shard for the first `SEARCH_LIMIT` ids, then the worst `SEARCH_LIMIT` of those."""
    status = list_status(name)
    prefix = check_search(text)
    found: list[tuple[str, Row]] = []
    partition, sort = index_keys(risk.projection, BY_ID)
    for value in shards(status):
        page = call(risk.client, "query", risk.tables.rows, TableName=risk.tables.rows, IndexName=BY_ID,
                    KeyConditionExpression="#p = :p AND begins_with(#s, :s)",
                    ExpressionAttributeNames={"#p": partition, "#s": sort},
                    ExpressionAttributeValues={":p": {"S": value}, ":s": {"S": prefix}}, Limit=SEARCH_LIMIT)
        found += [from_item(risk.projection.key, item) for item in page.get("Items", ())]
    _, severity = index_keys(risk.projection, BY_SEVERITY)
    found.sort(key=lambda entry: (entry[1].get(severity, ""), entry[0]), reverse=True)
    return {"name": name, "status": status, "q": prefix,
            "loans": [listed(loan_id, row, today) for loan_id, row in found[:SEARCH_LIMIT]]}


def whole_list(risk: Risk, name: str, today: date) -> Iterator[dict[str, Any]]:
    """Every loan of list `name`, worst first, read in pages of `CSV_PAGE`."""
    status = list_status(name)
    positions: list[Position] = [None] * STATUS_SHARDS
    while any(position is not DONE for position in positions):
        rows, positions = query_partitions(risk.client, risk.projection, risk.tables.rows, BY_SEVERITY,
                                           shards(status), CSV_PAGE, positions)
        yield from (listed(loan_id, row, today) for loan_id, row in rows)


def csv_cell(value: Any) -> str:
    """A cell a spreadsheet shows as text: a value starting with a formula character gets a leading quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(loans: Iterator[Mapping[str, Any]] | Sequence[Mapping[str, Any]]) -> str:
    """The loans as CSV (RFC 4180: CRLF, fields with a quote, comma or line break quoted), amounts with cents."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADERS)
    for loan in loans:
        writer.writerow([csv_cell(loan["id"]), csv_cell(loan["status"]), loan["days_past_due"], loan["due"] or "",
                         f"{loan['balance']:.2f}", csv_cell(loan["last_paid"]),
                         "never paid" if loan["days_since_paid"] is None else loan["days_since_paid"]])
    return out.getvalue()


#: A watched list's cursor (the by-severity index, worst first).
LIST_CURSOR = ShardedCursor(BY_SEVERITY, "list", "severity", 1024)


def list_rows(name: str) -> Callable[[Any, str | None], list[dict[str, Any]]]:
    """`aws-es query loan-risk --list NAME [--search PREFIX]`: the list (or a search of it) as the dashboard shows
    it, today (UTC), amounts as strings with their cents; `app` is the command's `handlers.app.App`."""

    def read(app: Any, text: str | None) -> list[dict[str, Any]]:
        risk = Risk(app.dynamodb, *app.live_tables(RISK))
        today = datetime.now(UTC).date()
        loans = search(risk, name, text, today)["loans"] if text is not None else whole_list(risk, name, today)
        return [{**loan, "balance": f"{loan['balance']:.2f}"} for loan in loans]

    return read


# HTML ----------------------------------------------------------------------------------------------------------

def list_href(name: str, **query: str) -> str:
    return f"/dashboard/lists/{name}" + ("?" + urlencode(query) if query else "")


def _percent(share: Decimal | None) -> str:
    return "no book" if share is None else f"{share * 100:.2f}%"


def risk_section(view: Mapping[str, Any], currency: str = DEFAULT_CURRENCY) -> str:
    """The book by days past due (loans and outstanding per bucket) and PAR30 / PAR90."""
    rows = [["current (not past due)", f"{view['current']['loans']:,}",
             escape(money(view["current"]["outstanding"], currency))]]
    rows += [[f"{bucket['days']} days", f"{bucket['loans']:,}", escape(money(bucket["outstanding"], currency))]
             for bucket in view["buckets"]]
    rows.append(["<b>book</b>", f"<b>{view['book']['loans']:,}</b>",
                 f"<b>{escape(money(view['book']['outstanding'], currency))}</b>"])
    listing = table(["days past due", "loans", "outstanding"], rows, {1, 2})
    par = (f'<p><span id="par30">PAR30 {escape(_percent(view["par30"]))}</span> · '
           f'<span id="par90">PAR90 {escape(_percent(view["par90"]))}</span> '
           f'<span class="muted">(balance more than 30 / 90 days past due over the outstanding book, '
           f'on {escape(view["today"])} UTC)</span></p>')
    return f'<section id="risk"><h2>Days past due</h2>{listing}{par}</section>'


def loan_count(count: int) -> str:
    """`1 loan`, `1,229 loans`."""
    return f"{count:,} loan" + ("" if count == 1 else "s")


def _since(days: int | None) -> str:
    return "never paid" if days is None else f"{days:,}"


def loans_table(loans: Sequence[Mapping[str, Any]], currency: str, empty: str = "none") -> str:
    rows = [[link(loan_href(loan["id"]), loan["id"]), f"{loan['days_past_due']:,}", escape(loan["due"] or ""),
             escape(money(loan["balance"], currency)), escape(_since(loan["days_since_paid"]))] for loan in loans]
    return table(["loan", "days past due", "due date", "outstanding", "days since paid"], rows, {1, 3, 4},
                 empty=empty)


def search_form(name: str, text: str = "") -> str:
    return (f'<form method="get" action="{escape(list_href(name))}" role="search">'
            f'<input type="search" name="q" value="{escape(text)}" aria-label="loan id or its start" '
            f'placeholder="loan id or its start" maxlength="{MAX_ID_BYTES}"> '
            '<button type="submit">search</button></form>')


def list_section(listing: Mapping[str, Any], count: int, more: str | None, currency: str) -> str:
    """One watched list's first page, worst first, with its count, search, the whole list and its CSV."""
    name = listing["name"]
    links = (f'<p>{link(list_href(name), "whole list")} · '
             f'<a href="{escape(list_href(name + ".csv"))}" download>CSV</a>'
             + (f" · {link(more, 'next page')}" if more else "") + "</p>")
    return (f'<section id="{escape(name)}"><h2>{escape(listing["status"])} '
            f'<span class="count">({loan_count(count)}, worst first)</span></h2>{links}{search_form(name)}'
            f'{loans_table(listing["loans"], currency)}</section>')


def list_page(listing: Mapping[str, Any], count: int, currency: str) -> str:
    """GET /dashboard/lists/{name}: a page of the list worst first, or a search's matches."""
    name = listing["name"]
    if "q" in listing:
        heading = f'<p id="found">{loan_count(len(listing["loans"]))} whose id starts with “{escape(listing["q"])}”</p>'
        body = loans_table(listing["loans"], currency, empty="no loan in this list has an id starting so")
    else:
        heading = f'<p id="count">{loan_count(count)}, worst first (most days past due, then the largest balance)</p>'
        body = loans_table(listing["loans"], currency)
    more = list_href(name, cursor=listing["next"]) if "next" in listing else None
    nav = (f'<p>{link("/dashboard", "back to the dashboard")} · '
           f'<a href="{escape(list_href(name + ".csv"))}" download>CSV of the whole list</a>'
           + (f" · {link(more, 'next page')}" if more else "") + "</p>")
    return page(f"{listing['status']} loans", f'{nav}{search_form(name, listing.get("q", ""))}'
                f'<section id="{escape(name)}">{heading}{body}</section>')


def risk_view(risk: Risk, today: date) -> dict[str, Any]:
    """The main page's risk part: the buckets and the first page of each list."""
    return {"risk": read_buckets(risk, today), "lists": {name: read_list(risk, name, today) for name in LISTS}}


def risk_sections(view: Mapping[str, Any]) -> str:
    """The buckets, then each list's first page with its count."""
    currency = view.get("currency", DEFAULT_CURRENCY)
    lists = "".join(list_section(listing, view["risk"]["lists"][name]["loans"],
                                 list_href(name, cursor=listing["next"]) if "next" in listing else None, currency)
                    for name, listing in view["lists"].items())
    return risk_section(view["risk"], currency) + lists


def add_routes(app: Any, sources: Callable[[], Any]) -> None:
    """The list routes on a powertools resolver: `/dashboard/lists/{name}` (HTML) and `{name}.csv`; `sources()`
    gives the dashboard's `Sources` (its `risk` and its `clock`)."""
    from aws_lambda_powertools.event_handler import Response

    from loans.dashboard import HEADERS, html

    def opened(name: str) -> tuple[Risk, date]:
        held = sources()
        if held.risk is None:
            raise UnknownListError(name)
        list_status(name)
        return held.risk, held.clock().date()

    @app.get("/dashboard/lists/<name>")
    def a_list(name: str) -> Any:
        parameter = app.current_event.get_query_string_value
        if name.endswith(".csv"):
            risk, today = opened(name[:-4])
            body = csv_text(whole_list(risk, name[:-4], today))
            return Response(status_code=200, content_type="text/csv; charset=utf-8", body=body,
                            headers={**HEADERS, "Content-Disposition": f'attachment; filename="{name}"'})
        risk, today = opened(name)
        text = parameter("q")
        count = read_buckets(risk, today)["lists"][name]["loans"]
        listing = search(risk, name, text, today) if text is not None else read_list(risk, name, today,
                                                                                     parameter("cursor"))
        return html(list_page(listing, count, sources().currency))
