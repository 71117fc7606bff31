"""The loan routes of the two APIs, added to the generic handlers (`handlers/commands.py`,
`handlers/queries.py`) because `loans` declares `command_routes` and `query_routes` (see `AWS_ES_MODULES`).

Commands (the work is in `loans.service`):
POST /loans                  open a loan from a LoanCreated body        201 {id, version, status, ...}
POST /loans/{id}/events      commit one event ({"type": ..., fields})   201
Both POST routes honour an `Idempotency-Key` header (see `handlers.idempotency`).
GET  /loans/{id}             the loan's current state                   200

Queries, over the live generation of the query tables (the work is in `loans.queries`):
GET /loans/{id}/summary                   one loan's summary row                                  200 | 404
GET /loans?status=S&limit=N&cursor=C      loans in a status, most recently updated first          200
GET /portfolio                            per status: loans, principal, outstanding               200
GET /dashboard, /dashboard/loans/{id}     the dashboard's HTML pages (`loans.dashboard`)          200 | 404
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response

from handlers import idempotency
from handlers.api_errors import map_errors, reply
from loans import dashboard, queries, service
from loans.dashboard_sources import sources as dashboard_sources
from loans.queries import InvalidQueryError
from loans.service import LoanNotFoundError
from loans.views import portfolio_view
from projections.query import read_counters

if TYPE_CHECKING:
    from handlers.root import Root

#: The projection the query routes read (its counters are the portfolio).
SUMMARY = "loan-summary"


def command_routes(app: APIGatewayRestResolver, root: Root) -> None:
    """The loan commands. `root` is unused: `loans.service` loads loans through `Loan`'s own repository."""
    map_errors(app, 404, LoanNotFoundError)

    def request() -> tuple[dict[str, Any], dict[str, str]]:
        """The event the body holds, and the meta the service records with it (from API Gateway, never the
        body)."""
        event = app.current_event
        body = service.parse_event(event.get("body"), base64_encoded=event.get("isBase64Encoded") is True)
        return body, service.request_meta(event.get("requestContext"))

    @app.post("/loans")
    def open_loan() -> Response:
        return idempotency.command(app, lambda key: service.open_loan(*request(), key=key), service.opened)

    @app.post("/loans/<loan_id>/events")
    def record(loan_id: str) -> Response:
        app.append_context(loan_id=loan_id)
        return idempotency.command(app, lambda key: service.record(loan_id, *request(), key=key), service.recorded)

    @app.get("/loans/<loan_id>")
    def get_loan(loan_id: str) -> Response:
        app.append_context(loan_id=loan_id)
        return reply(200, service.view(service.load(loan_id)))


def query_routes(app: APIGatewayRestResolver, root: Root) -> None:
    """The loan queries, over the live generation of `loan-summary` and its portfolio counters."""
    map_errors(app, 404, LoanNotFoundError)
    map_errors(app, 400, InvalidQueryError)

    @app.get("/loans/<loan_id>/summary")
    def summary(loan_id: str) -> Response:
        return reply(200, queries.summary(root.dynamodb, *root.live_tables(SUMMARY), loan_id))

    @app.get("/loans")
    def by_status() -> Response:
        parameter = app.current_event.get_query_string_value
        return reply(200, queries.by_status(root.dynamodb, *root.live_tables(SUMMARY), parameter("status"),
                                            parameter("limit"), parameter("cursor")))

    @app.get("/portfolio")
    def portfolio() -> Response:
        _, tables = root.live_tables(SUMMARY)
        return reply(200, portfolio_view(read_counters(root.dynamodb, tables)))

    dashboard.add_routes(app, lambda: dashboard_sources(root))
