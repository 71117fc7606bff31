"""The loan routes of the two APIs, added to the generic handlers (`handlers/commands.py`,
`handlers/queries.py`) because `loans` declares `command_routes` and `query_routes` (see `AWS_ES_MODULES`).

Commands (the work is in `loans.service`):
POST /loans                  open a loan from a LoanCreated body        201 {id, version, status, ...}
POST /loans/{id}/events      commit one event ({"type": ..., fields})   201
Both POST routes honour an `Idempotency-Key` header (see `handlers.idempotency`).
GET  /loans/{id}             the loan's current state                   200
GET  /loans/{id}?as_of=ISO    the loan as it was then (statements, audits) 200 | 400 naming as_of | 404

An `{id}` in a path is percent-encoded (`core.ids`): every valid id, `/`, `?`, `#` and emoji included.

Queries, over the live generation of the query tables (the work is in `loans.queries`):
GET /loans/{id}/summary[?min_version=N]   one loan's summary row; with N (a command's consistency token),
                                          once the row reached version N, else 409 after the wait   200 | 404 | 409
GET /loans?status=S&limit=N&cursor=C      loans in a status, most recently updated first          200
GET /portfolio                            per status: loans, principal, outstanding               200
GET /dashboard, /dashboard/loans/{id}     the dashboard's HTML pages (`loans.dashboard`)          200 | 404
GET /dashboard/lists/{name}[.csv]         a risk list worst first, searched (?q=), or as CSV       200 | 400 | 404
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from core.errors import InvalidReadError
from core.ids import id_from_segment
from core.repository import Until
from core.trace import trace_meta
from handlers import idempotency
from handlers.api_errors import map_errors, reply
from loans import dashboard, queries, service
from loans.dashboard_risk import UnknownListError
from loans.dashboard_sources import sources as dashboard_sources
from loans.loan import Loan
from loans.queries import InvalidQueryError
from loans.service import LoanNotFoundError
from loans.views import portfolio_view, revealing
from projections.consistency import Patience, parse_min_version
from projections.query import read_counters

if TYPE_CHECKING:
    from core.repository import Repository
    from handlers.app import App

#: The projection the query routes read (its counters are the portfolio).
SUMMARY = "loan-summary"


def command_routes(resolver: APIGatewayRestResolver, app: App) -> None:
    """The loan commands, on `app`'s loan repository (snapshots and the warm cache as configured)."""
    map_errors(resolver, 404, LoanNotFoundError)
    map_errors(resolver, 400, InvalidQueryError)

    def loans() -> Repository:
        return app.repository(Loan)

    def request() -> tuple[dict[str, Any], dict[str, str]]:
        """The event the body holds, and the meta the service records with it (from API Gateway, never the
        body)."""
        event = resolver.current_event
        body = service.parse_event(event.get("body"), base64_encoded=event.get("isBase64Encoded") is True)
        return body, {**service.request_meta(event.get("requestContext")),
                      **trace_meta(event.get("headers"), os.environ)}

    @resolver.post("/loans")
    def open_loan() -> Response:
        return idempotency.command(resolver, app, lambda key: service.open_loan(*request(), key=key,
                                                                                 repository=loans()),
                                   service.opened, shown=revealing(app.sealer))

    @resolver.post("/loans/<loan_id>/events")
    def record(loan_id: str) -> Response:
        loan_id = id_from_segment(loan_id)
        resolver.append_context(loan_id=loan_id)
        return idempotency.command(resolver, app, lambda key: service.record(loan_id, *request(), key=key,
                                                                              repository=loans()),
                                   service.recorded, shown=revealing(app.sealer))

    @resolver.get("/loans/<loan_id>")
    def get_loan(loan_id: str) -> Response:
        loan_id = id_from_segment(loan_id)
        resolver.append_context(loan_id=loan_id)
        text = resolver.current_event.get_query_string_value("as_of")
        reveal = revealing(app.sealer)
        if text is None:
            return reply(200, reveal(service.view(service.load(loan_id, loans()))))
        as_of = parse_as_of(text)
        return reply(200, {**reveal(service.view(service.load(loan_id, loans(), as_of))), "as_of": text})


def parse_as_of(text: str) -> datetime:
    """The `as_of` query parameter, or a 400 naming it."""
    try:
        return Until.parse_as_of(text, "as_of")
    except InvalidReadError as exc:
        raise InvalidQueryError(str(exc), "as_of") from exc


def query_routes(resolver: APIGatewayRestResolver, app: App) -> None:
    """The loan queries, over the live generation of `loan-summary` and its portfolio counters."""
    map_errors(resolver, 404, LoanNotFoundError)
    map_errors(resolver, 400, InvalidQueryError)
    map_errors(resolver, 404, UnknownListError)

    @resolver.get("/loans/<loan_id>/summary")
    def summary(loan_id: str) -> Response:
        """With `?min_version=N` (a command's consistency token), the row once it reached version N, else 409."""
        wanted = parse_min_version(resolver.current_event.get_query_string_value("min_version"))
        patience = Patience(app.settings.projections.consistency_wait)
        found = queries.summary_at_least(app.dynamodb, *app.live_tables(SUMMARY), id_from_segment(loan_id), wanted,
                                         revealing(app.sealer), patience)
        return reply(200, found, {"X-Row-Version": str(found.get("version", 0))})

    @resolver.get("/loans")
    def by_status() -> Response:
        parameter = resolver.current_event.get_query_string_value
        return reply(200, queries.by_status(app.dynamodb, *app.live_tables(SUMMARY), parameter("status"),
                                            parameter("limit"), parameter("cursor"), revealing(app.sealer)))

    @resolver.get("/portfolio")
    def portfolio() -> Response:
        _, tables = app.live_tables(SUMMARY)
        return reply(200, portfolio_view(read_counters(app.dynamodb, tables)))

    dashboard.add_routes(resolver, lambda: dashboard_sources(app))
