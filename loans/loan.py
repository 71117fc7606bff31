"""The Loan aggregate: CREATED -> (APPROVED | REJECTED) -> DISBURSED -> (PAID | ARREARS) -> (SETTLED | COLLECTIONS).

Every repayment is a `LoanPaid` event, so a loan lives for thousands of events. Money is `Decimal`
throughout; the balance owed is fixed at disbursement as `requested_amount * (1 + interest)`, to the cent.

The domain accepts amounts from 0.01 to 1,000,000,000.00 in whole cents and an interest from 0 to 10 with at
most six decimal places, so the balance (at most 11,000,000,000.00) and every sum the projections fold stay
far inside the 28 digits of the default `Decimal` context: no later computation can overflow it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from core import Aggregate, Event, IllegalEventError, requires
from core.upcasting import Upcaster, Upcasting

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
#: The largest amount (requested or repaid) the loan domain accepts; the smallest is one cent.
MAX_AMOUNT = Decimal("1000000000.00")
#: The largest interest (1000%), and its finest step (six decimal places).
MAX_INTEREST = Decimal(10)
INTEREST_STEP = Decimal("0.000001")

CREATED, APPROVED, REJECTED, DISBURSED = "CREATED", "APPROVED", "REJECTED", "DISBURSED"
PAID, ARREARS, SETTLED, COLLECTIONS = "PAID", "ARREARS", "SETTLED", "COLLECTIONS"
STATUSES = (CREATED, APPROVED, REJECTED, DISBURSED, PAID, ARREARS, SETTLED, COLLECTIONS)
#: Where a repayment is legal; a constant, since `on_loan_paid` runs once per repayment on every replay.
PAYABLE = frozenset((DISBURSED, PAID, ARREARS))
#: How a repayment came in (`LoanPaid` v2's optional `channel`); `UNRECORDED` is what every repayment stored
#: before channels existed (v1) reads as, so "not known then" differs from "not given" (no channel).
UNRECORDED = "unrecorded"
CHANNELS = frozenset(("bank-transfer", "card", "direct-debit", "cash", UNRECORDED))
#: The loans in the book (lent and not settled): what has a due date and can fall past due.
BOOK = (DISBURSED, PAID, ARREARS, COLLECTIONS)
#: A loan in the book owes its next repayment this many days after its disbursement or its last repayment.
TERM_DAYS = 30


def next_due(moment: datetime) -> date:
    """The due date set by a disbursement or a repayment at `moment`: its UTC day plus `TERM_DAYS`."""
    return moment.astimezone(UTC).date() + timedelta(days=TERM_DAYS)


def days_past_due(due: date | None, today: date) -> int:
    """Whole UTC days from `due` to `today`, 0 when not yet past due or when nothing is due (`due` None)."""
    return 0 if due is None else max(0, (today - due).days)


def loan_paid_v1(data: dict[str, object]) -> dict[str, object]:
    """`LoanPaid` v1 -> v2: v1 knew only the `amount`; its channel was never recorded."""
    return {**data, "channel": UNRECORDED}


class Loan(Aggregate):
    """A loan's life, folded from its events."""

    table = "Loans"
    #: Stored forms are versioned with care: `LoanPaid` is at v2 (an optional `channel`), v1 is upcast on read.
    upcasting = Upcasting(versions={"LoanPaid": 2}, upcasters=(Upcaster("LoanPaid", 1, loan_paid_v1),))
    #: The borrower's name is personal: sealed under the borrower's key (`borrower_id`, else the loan's id)
    #: before it is stored, and unreadable everywhere once `aws-es forget` destroys that key.
    personal = {"LoanCreated": ("borrower_name",)}
    personal_subject = "borrower_id"

    status: str | None
    requested_amount: Decimal | None
    interest: Decimal | None
    balance: Decimal
    last_updated: datetime | None
    #: When the loan was disbursed or last repaid: its due date counts from there (`due`).
    due_from: datetime | None

    def __init__(self, id: str | None = None, table: str | None = None, **kwargs) -> None:  # noqa: A002
        super().__init__(id, table, **kwargs)
        self.status = None
        self.requested_amount = None
        self.interest = None
        self.balance = ZERO
        self.last_updated = None
        self.due_from = None

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
        check_amount(event, "requested_amount", amount)
        if interest < 0:
            raise IllegalEventError(
                f"LoanCreated interest must not be negative, not {interest}", event_type=event.type, field="interest"
            )
        # Compared before quantizing: quantizing a huge or very precise value overflows the Decimal context.
        if interest > MAX_INTEREST or interest != interest.quantize(INTEREST_STEP):
            raise IllegalEventError(
                f"LoanCreated interest must be from 0 to {MAX_INTEREST} with at most six decimal places, "
                f"not {interest}", event_type=event.type, field="interest",
            )
        self.status = CREATED
        self.requested_amount = amount
        self.interest = interest
        self.last_updated = event.created
        if "borrower_name" in event.data:  # sealed (see `personal`); a loan opened without one has no such field
            self.borrower_name = event.data["borrower_name"]

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
        assert self.requested_amount is not None and self.interest is not None  # LoanCreated set both
        self.balance = (self.requested_amount * (1 + self.interest)).quantize(CENT, ROUND_HALF_UP)
        self.last_updated = event.created
        self.due_from = event.created

    @requires(amount=Decimal)
    def on_loan_paid(self, event: Event) -> None:
        if self.status not in PAYABLE:
            self._expect(event, DISBURSED, PAID, ARREARS)
        data = event.data
        amount = data["amount"]
        check_amount(event, "amount", amount)
        if "channel" in data and (type(data["channel"]) is not str or data["channel"] not in CHANNELS):
            raise IllegalEventError(
                f"LoanPaid channel must be one of {', '.join(sorted(CHANNELS))}, not {data['channel']!r}",
                event_type=event.type, field="channel",
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
        self.due_from = event.created

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

    @property
    def due(self) -> date | None:
        """The next repayment's due date (`next_due` of the disbursement or last repayment) while the loan is in
        the `BOOK` and owes something; None before disbursement, once the balance is zero, and once settled."""
        if self.status not in BOOK or not self.balance or self.due_from is None:
            return None
        return next_due(self.due_from)

    def days_past_due(self, today: date) -> int:
        """Whole days this loan is past its due date on `today` (UTC); 0 when current or owing nothing."""
        return days_past_due(self.due, today)


def check_amount(event: Event, field: str, amount: Decimal) -> None:
    """Refuse an amount outside 0.01 to `MAX_AMOUNT` or not in whole cents, naming the field.

    The range is compared first: quantizing `1E+400` raises `decimal.InvalidOperation`.
    """
    if not (ZERO < amount <= MAX_AMOUNT and amount == amount.quantize(CENT)):
        raise IllegalEventError(
            f"{event.type} {field} must be a positive amount in whole cents, not {amount} "
            f"(from 0.01 to {MAX_AMOUNT:,})",
            event_type=event.type, field=field,
        )
