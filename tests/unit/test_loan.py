"""The loan workflow and its guards: every illegal transition names the status and the event."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core import IllegalEventError, InMemoryEventStore
from loans import Loan

CREATED = {"type": "LoanCreated", "requested_amount": Decimal("1000.00"), "interest": Decimal("0.05")}
ALL = ["LoanCreated", "LoanApproved", "LoanRejected", "LoanDisbursed", "LoanPaid", "LoanArrears", "LoanSettled",
       "LoanCollections"]
PATHS = {
    None: [],
    "CREATED": [CREATED],
    "APPROVED": [CREATED, {"type": "LoanApproved"}],
    "REJECTED": [CREATED, {"type": "LoanRejected"}],
    "DISBURSED": [CREATED, {"type": "LoanApproved"}, {"type": "LoanDisbursed"}],
    "PAID": [CREATED, {"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanPaid", "amount": Decimal(1)}],
    "ARREARS": [CREATED, {"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanArrears"}],
    "SETTLED": [CREATED, {"type": "LoanApproved"}, {"type": "LoanDisbursed"},
                {"type": "LoanPaid", "amount": Decimal("1050.00")}, {"type": "LoanSettled"}],
    "COLLECTIONS": [CREATED, {"type": "LoanApproved"}, {"type": "LoanDisbursed"}, {"type": "LoanArrears"},
                    {"type": "LoanCollections"}],
}
LEGAL = {
    None: {"LoanCreated"},
    "CREATED": {"LoanApproved", "LoanRejected"},
    "APPROVED": {"LoanDisbursed"},
    "REJECTED": set(),
    "DISBURSED": {"LoanPaid", "LoanArrears"},
    "PAID": {"LoanPaid", "LoanArrears"},
    "ARREARS": {"LoanPaid", "LoanCollections"},
    "SETTLED": set(),
    "COLLECTIONS": set(),
}


def event(kind: str) -> dict:
    if kind == "LoanCreated":
        return CREATED
    if kind == "LoanPaid":
        return {"type": kind, "amount": Decimal("1.00")}
    return {"type": kind}


def loan_in(status) -> Loan:
    loan = Loan(store=InMemoryEventStore())
    if PATHS[status]:
        loan.commit(PATHS[status])
    assert loan.status == status
    return loan


@pytest.mark.parametrize("status", list(PATHS))
@pytest.mark.parametrize("kind", ALL)
def test_transitions(status, kind):
    loan = loan_in(status)
    if kind in LEGAL[status]:
        loan.commit(event(kind))
        assert loan.version == len(PATHS[status]) + 1
    else:
        with pytest.raises(IllegalEventError) as caught:
            loan.commit(event(kind))
        assert kind in str(caught.value)
        assert str(status) in str(caught.value)
        assert loan.status == status and loan.version == len(PATHS[status])


def test_balance_is_set_at_disbursement_to_the_cent():
    loan = Loan(store=InMemoryEventStore())
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("333.33"), "interest": Decimal("0.075")},
                 {"type": "LoanApproved"}])
    assert loan.balance == Decimal("0.00")
    loan.commit({"type": "LoanDisbursed"})
    assert loan.balance == Decimal("358.33")  # 358.329750 rounded half up
    assert (loan.requested_amount, loan.interest) == (Decimal("333.33"), Decimal("0.075"))


def test_repayments_reduce_the_balance_and_settle_at_zero():
    loan = loan_in("DISBURSED")
    for _ in range(3):
        loan.commit({"type": "LoanPaid", "amount": Decimal("350.00")})
    assert loan.balance == Decimal("0.00") and loan.status == "PAID"
    loan.commit({"type": "LoanSettled"})
    assert loan.status == "SETTLED"


def test_settling_needs_a_zero_balance():
    loan = loan_in("PAID")
    message = "LoanSettled is illegal for a loan in status PAID with balance 1049.00"
    with pytest.raises(IllegalEventError, match=message):
        loan.commit({"type": "LoanSettled"})


def test_a_payment_in_arrears_brings_the_loan_back_to_paid():
    loan = loan_in("ARREARS")
    loan.commit({"type": "LoanPaid", "amount": Decimal("50.00")})
    assert loan.status == "PAID" and loan.balance == Decimal("1000.00")


@pytest.mark.parametrize(("amount", "message"), [
    (Decimal("1050.01"), "above the balance 1050.00"),
    (Decimal("0"), "must be a positive amount in whole cents, not 0"),
    (Decimal("-5"), "must be a positive amount in whole cents, not -5"),
    (Decimal("1.001"), "must be a positive amount in whole cents, not 1.001"),
])
def test_bad_payment_amounts(amount, message):
    loan = loan_in("DISBURSED")
    with pytest.raises(IllegalEventError, match=message) as caught:
        loan.commit({"type": "LoanPaid", "amount": amount})
    assert caught.value.field == "amount" and loan.balance == Decimal("1050.00")


def test_interest_must_not_be_negative():
    with pytest.raises(IllegalEventError, match="interest must not be negative"):
        Loan(store=InMemoryEventStore()).commit({**CREATED, "interest": Decimal("-0.01")})


def test_public_state_attributes():
    loan = loan_in("PAID")
    assert set(loan.state()) == {"status", "requested_amount", "interest", "balance", "last_updated",
                                 "due_from"}
    assert loan.last_updated == list(loan.events())[-1].created


# -- the range of amounts and rates the domain accepts (README "Commands API") ------------------------------

@pytest.mark.parametrize(("field", "value"), [
    ("requested_amount", Decimal("1E+400")), ("requested_amount", Decimal(10**30)),
    ("requested_amount", Decimal("1000000000.01")), ("requested_amount", Decimal("0.001")),
    ("requested_amount", Decimal("1E-1000000")), ("interest", Decimal("1E+30")), ("interest", Decimal("10.000001")),
    ("interest", Decimal("0.0000001")), ("interest", Decimal("1E-400")),
])
def test_amounts_and_rates_outside_the_domain_are_refused_at_creation(field, value):
    store = InMemoryEventStore()
    loan = Loan(store=store)
    with pytest.raises(IllegalEventError) as caught:
        loan.commit({**CREATED, field: value})
    assert caught.value.field == field and loan.version == 0 and list(store.read(loan.id)) == []


@pytest.mark.parametrize("amount", [Decimal("1E+400"), Decimal(10**30), Decimal("1000000000.01")])
def test_a_repayment_outside_the_domain_is_refused(amount):
    loan = loan_in("DISBURSED")
    with pytest.raises(IllegalEventError) as caught:
        loan.commit({"type": "LoanPaid", "amount": amount})
    assert caught.value.field == "amount" and loan.balance == Decimal("1050.00")


def test_the_largest_loan_at_the_highest_rate_disburses_and_repays_exactly():
    loan = Loan(store=InMemoryEventStore())
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("1000000000.00"), "interest": Decimal("10")},
                 {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    assert loan.balance == Decimal(1_000_000_000 * 11)
    for _ in range(11):
        loan.commit({"type": "LoanPaid", "amount": Decimal("1000000000.00")})
    loan.commit({"type": "LoanSettled"})
    assert loan.status == "SETTLED" and loan.balance == 0


def test_the_finest_rate_rounds_half_up_to_the_cent():
    loan = Loan(store=InMemoryEventStore())
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("999999999.99"), "interest": Decimal("9.999999")},
                 {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    exact = Decimal(99999999999) * Decimal(10999999) / Decimal(10**8)  # cents * (1 + rate), in whole units
    assert loan.balance == exact.quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
