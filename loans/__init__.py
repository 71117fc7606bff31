"""The worked example domain: loans with long repayment histories, and the default `AWS_ES_MODULES`.

What this module declares is what every entry point serves: the `Loan` aggregate, the loan-summary
projection (its counters are the portfolio), `loan` as the short command-line name of the summary, and the
routes of both APIs (`loans/api.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.metering import RequestMeter
from loans.api import command_routes, query_routes
from loans.dashboard_risk import list_rows
from loans.loan import STATUSES, Loan
from loans.projections import loan_summary
from loans.risk import LISTS as RISK_LISTS
from loans.risk import RISK, loan_risk, risk_view
from loans.views import loan_view, portfolio_view, state_view

if TYPE_CHECKING:
    from handlers.app import App

AGGREGATES = (Loan,)
PROJECTIONS = (loan_summary(), loan_risk())
#: Pages the loan routes serve, printed by `aws-es local` and `aws-es demo --serve`.
PAGES = {"dashboard": "/dashboard"}
ALIASES = {"loan": "loan-summary"}
#: `aws-es query loan-risk --list arrears`: the watched lists, worst first, as the dashboard shows them.
LISTS = {RISK: {name: list_rows(name) for name in RISK_LISTS}}
#: Every route `command_routes` and `query_routes` add (method, path, name): what `aws-es template` deploys.
ROUTES = {
    "commands": [("POST", "/loans", "OpenLoan"), ("POST", "/loans/{loan_id}/events", "RecordEvent"),
                 ("GET", "/loans/{loan_id}", "GetLoan")],
    "queries": [("GET", "/dashboard", "Dashboard"), ("GET", "/dashboard/loans/{loan_id}", "DashboardLoan"),
                ("GET", "/dashboard/lists/{name}", "DashboardList"),
                ("GET", "/dashboard/status/{status}", "DashboardStatus"),
                ("GET", "/loans/{loan_id}/summary", "Summary"), ("GET", "/loans", "ByStatus"),
                ("GET", "/portfolio", "Portfolio")],
}


def run_demo(app: App, repayments: int, meter: RequestMeter, loans: int = 0) -> None:
    """`aws-es demo`: the worked example end to end on `app`, after `loans` seeded loans (imported when run, not
    when the module loads)."""
    from loans.demo import demo as run

    run(app, repayments, meter, loans)


def summary_view(loan_id: str, row: dict[str, Any]) -> dict[str, Any]:
    """`aws-es query loan ID`: the command line opens a row's personal fields before its view sees it."""
    return loan_view(loan_id, row, dict)


VIEWS = {"Loan": state_view, "loan-summary": summary_view, "portfolio": portfolio_view, "risk": risk_view}

__all__ = ["AGGREGATES", "ALIASES", "LISTS", "PAGES", "PROJECTIONS", "ROUTES", "STATUSES", "VIEWS", "Loan",
           "command_routes", "query_routes", "run_demo"]
