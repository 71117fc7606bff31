"""The worked example domain: loans with long repayment histories."""

from loans.loan import STATUSES, Loan

__all__ = ["STATUSES", "Loan"]
