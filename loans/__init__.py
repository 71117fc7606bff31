"""The worked example domain: loans with long repayment histories, and the default `AWS_ES_MODULES`.

What this module declares is what every entry point serves: the `Loan` aggregate, the loan-summary
projection (its counters are the portfolio), `loan` as the short command-line name of the summary, and the
routes of both APIs (`loans/api.py`).
"""

from loans.api import command_routes, query_routes
from loans.loan import STATUSES, Loan
from loans.projections import loan_summary
from loans.views import loan_view, portfolio_view

AGGREGATES = (Loan,)
PROJECTIONS = (loan_summary(),)
ALIASES = {"loan": "loan-summary"}
VIEWS = {"loan-summary": loan_view, "portfolio": portfolio_view}

__all__ = ["AGGREGATES", "ALIASES", "PROJECTIONS", "STATUSES", "VIEWS", "Loan", "command_routes", "query_routes"]
