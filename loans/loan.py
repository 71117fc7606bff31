"""The Loan aggregate: CREATED -> (APPROVED | REJECTED) -> DISBURSED -> (PAID | ARREARS) -> (SETTLED | COLLECTIONS).

Every repayment is a `LoanPaid` event, so a loan lives for thousands of events. Money is `Decimal`
throughout; the balance owed is fixed at disbursement as `requested_amount * (1 + interest)`, to the cent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from core import Aggregate, Event, IllegalEventError, requires
from snapshots.settings import default_repository

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

CREATED, APPROVED, REJECTED, DISBURSED = "CREATED", "APPROVED", "REJECTED", "DISBURSED"
PAID, ARREARS, SETTLED, COLLECTIONS = "PAID", "ARREARS", "SETTLED", "COLLECTIONS"
STATUSES = (CREATED, APPROVED, REJECTED, DISBURSED, PAID, ARREARS, SETTLED, COLLECTIONS)
#: Where a repayment is legal; a constant, since `on_loan_paid` runs once per repayment on every replay.
PAYABLE = frozenset((DISBURSED, PAID, ARREARS))


class Loan(Aggregate):
    """A loan's life, folded from its events."""

    table = "Loans"
    #: With nothing injected, `Loan(id)` hydrates from snapshots and a warm cache (SNAPSHOT_* configure it).
    repository_factory = staticmethod(default_repository)

    status: str | None
    requested_amount: Decimal | None
    interest: Decimal | None
    balance: Decimal
    last_updated: datetime | None

    def __init__(self, id: str | None = None, table: str | None = None, **kwargs) -> None:  # noqa: A002
        super().__init__(id, table, **kwargs)
        self.status = None
        self.requested_amount = None
        self.interest = None
        self.balance = ZERO
        self.last_updated = None

    def _expect(self, event: Event, *statuses: str | None) -> None:
        if self.status not in statuses:
            allowed = " or ".join(str(status) for status in statuses)
            raise IllegalEventError(
                f"{event.type} is illegal for a loan in status {self.status}: it needs {allowed}",
                event_type=event.type,
            )

    @requires(requested_amount=Decimal, interest=Decimal)
    def on_loan_created(self, event: Event) -> None:
        self._expect(event, None)
        amount, interest = event.data["requested_amount"], event.data["interest"]
        if amount <= 0 or amount != amount.quantize(CENT):
            raise IllegalEventError(
                f"LoanCreated requested_amount must be a positive amount in whole cents, not {amount}",
                event_type=event.type, field="requested_amount",
            )
        if interest < 0:
            raise IllegalEventError(
                f"LoanCreated interest must not be negative, not {interest}", event_type=event.type, field="interest"
            )
        self.status = CREATED
        self.requested_amount = amount
        self.interest = interest
        self.last_updated = event.created

    def on_loan_approved(self, event: Event) -> None:
        self._expect(event, CREATED)
        self.status = APPROVED
        self.last_updated = event.created

    def on_loan_rejected(self, event: Event) -> None:
        self._expect(event, CREATED)
        self.status = REJECTED
        self.last_updated = event.created

    def on_loan_disbursed(self, event: Event) -> None:
        self._expect(event, APPROVED)
        self.status = DISBURSED
        self.balance = (self.requested_amount * (1 + self.interest)).quantize(CENT, ROUND_HALF_UP)
        self.last_updated = event.created

    @requires(amount=Decimal)
    def on_loan_paid(self, event: Event) -> None:
        if self.status not in PAYABLE:
            self._expect(event, DISBURSED, PAID, ARREARS)
        amount = event.data["amount"]
        if amount <= ZERO or amount != amount.quantize(CENT):
            raise IllegalEventError(
                f"LoanPaid amount must be a positive amount in whole cents, not {amount}",
                event_type=event.type, field="amount",
            )
        if amount > self.balance:
            raise IllegalEventError(
                f"LoanPaid amount {amount} is above the balance {self.balance} of a loan in status {self.status}",
                event_type=event.type,
                field="amount",
            )
        self.balance -= amount
        self.status = PAID
        self.last_updated = event.created

    def on_loan_arrears(self, event: Event) -> None:
        self._expect(event, DISBURSED, PAID)
        self.status = ARREARS
        self.last_updated = event.created

    def on_loan_settled(self, event: Event) -> None:
        self._expect(event, DISBURSED, PAID)
        if self.balance != 0:
            raise IllegalEventError(
                f"LoanSettled is illegal for a loan in status {self.status} with balance {self.balance}: "
                "it needs a zero balance",
                event_type=event.type,
            )
        self.status = SETTLED
        self.last_updated = event.created

    def on_loan_collections(self, event: Event) -> None:
        self._expect(event, ARREARS)
        self.status = COLLECTIONS
        self.last_updated = event.created
