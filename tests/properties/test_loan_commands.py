"""Property: random command sequences on a Loan either commit, or raise IllegalEventError with nothing written.

A plain model of the loan (status and balance) predicts which; the store, the aggregate and a fresh replay
must all agree with it after every step. An event type is accepted in its one canonical spelling only: any
re-spelling (case, separators) of a Loan event type, even with a payload that would change the state, is an
`UnknownEventTypeError` naming the canonical type, on commit, apply and hydrate(events) alike.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from core import IllegalEventError, InMemoryEventStore, UnknownEventTypeError
from loans import Loan

#: Every Loan event type, spelled as the log and the projections know it (written out, not read from Loan).
LOAN_TYPES = ("LoanCreated", "LoanApproved", "LoanRejected", "LoanDisbursed", "LoanPaid", "LoanSettled",
              "LoanArrears", "LoanCollections")


@st.composite
def respellings(draw, canonical: str) -> str:
    """The same letters under another case and with separators between or around the words."""
    words = re.findall(r"[A-Z][a-z]*", canonical)
    cased = ["".join(char.upper() if draw(st.booleans()) else char.lower() for char in word) for word in words]
    separators = draw(st.lists(st.sampled_from(["", "", "_", "-", " ", "__"]), min_size=len(words) + 1,
                               max_size=len(words) + 1))
    spelled = separators[0] + "".join(word + sep for word, sep in zip(cased, separators[1:], strict=True))
    if spelled == canonical:
        spelled = canonical.lower()
    return spelled

amounts = st.decimals(min_value=Decimal("-5"), max_value=Decimal("3000"), places=2) | st.decimals(
    min_value=Decimal("0"), max_value=Decimal("50"), places=3)


def in_cents(amount: Decimal) -> bool:
    return amount == amount.quantize(Decimal("0.01"))
TRANSITIONS = {
    "LoanApproved": ({"CREATED"}, "APPROVED"),
    "LoanRejected": ({"CREATED"}, "REJECTED"),
    "LoanArrears": ({"DISBURSED", "PAID"}, "ARREARS"),
    "LoanCollections": ({"ARREARS"}, "COLLECTIONS"),
}


class LoanCommands(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = InMemoryEventStore()
        self.loan = Loan(store=self.store)
        self.status: str | None = None
        self.balance = Decimal("0.00")
        self.principal = self.interest = None
        self.stored = 0

    def attempt(self, event: dict, legal: bool) -> None:
        before = (self.loan.version, self.loan.state())
        if legal:
            self.loan.commit(event)
            self.stored += 1
        else:
            with pytest.raises(IllegalEventError):
                self.loan.commit(event)
            assert (self.loan.version, self.loan.state()) == before

    @rule(amount=amounts, interest=st.decimals(min_value=Decimal("-0.1"), max_value=Decimal("0.5"), places=3))
    def create(self, amount, interest):
        legal = self.status is None and amount > 0 and in_cents(amount) and interest >= 0
        self.attempt({"type": "LoanCreated", "requested_amount": amount, "interest": interest}, legal)
        if legal:
            self.status, self.principal, self.interest = "CREATED", amount, interest

    @rule(kind=st.sampled_from(sorted(TRANSITIONS)))
    def transition(self, kind):
        sources, target = TRANSITIONS[kind]
        legal = self.status in sources
        self.attempt({"type": kind}, legal)
        if legal:
            self.status = target

    @rule()
    def disburse(self):
        legal = self.status == "APPROVED"
        self.attempt({"type": "LoanDisbursed"}, legal)
        if legal:
            self.status = "DISBURSED"
            self.balance = (self.principal * (1 + self.interest)).quantize(Decimal("0.01"), ROUND_HALF_UP)

    @rule(amount=amounts, whole=st.booleans())
    def pay(self, amount, whole):
        amount = self.balance if whole and self.balance > 0 else amount
        legal = self.status in {"DISBURSED", "PAID", "ARREARS"} and 0 < amount <= self.balance and in_cents(amount)
        self.attempt({"type": "LoanPaid", "amount": amount}, legal)
        if legal:
            self.status, self.balance = "PAID", self.balance - amount

    @rule()
    def settle(self):
        legal = self.status in {"DISBURSED", "PAID"} and self.balance == 0
        self.attempt({"type": "LoanSettled"}, legal)
        if legal:
            self.status = "SETTLED"

    @rule(kind=st.sampled_from(["LoanPayed", "loan_paid", "Loan"]))
    def unknown(self, kind):
        self.attempt({"type": kind}, legal=False)

    def payload(self, kind: str) -> dict:
        """A payload the canonical type's handler takes: the state would change if the type were accepted."""
        if kind == "LoanCreated":
            return {"requested_amount": Decimal("100.00"), "interest": Decimal("0.05")}
        if kind == "LoanPaid":
            return {"amount": min(self.balance, Decimal("1.00")) if self.balance > 0 else Decimal("1.00")}
        return {}

    @rule(data=st.data(), kind=st.sampled_from(LOAN_TYPES), path=st.sampled_from(["commit", "apply", "hydrate"]))
    def respelled(self, data, kind, path):
        spelling = data.draw(respellings(kind), label="spelling")
        event = {"type": spelling, **self.payload(kind)}
        before = (self.loan.version, self.loan.state())
        with pytest.raises(UnknownEventTypeError, match=f"did you mean {kind}\\?") as caught:
            if path == "commit":
                self.loan.commit(event)
            elif path == "apply":
                self.loan.apply(event)
            else:
                self.loan.hydrate([{**event, "number": self.loan.version + 1}])
        assert caught.value.canonical == kind and caught.value.event_type == spelling
        assert (self.loan.version, self.loan.state()) == before

    @invariant()
    def agrees_with_the_model_the_store_and_a_replay(self):
        assert (self.loan.status, self.loan.balance) == (self.status, self.balance)
        assert self.loan.version == self.stored == len(list(self.store.read(self.loan.id)))
        replay = Loan(self.loan.id, store=self.store).hydrate()
        assert (replay.version, replay.state()) == (self.loan.version, self.loan.state())


LoanCommands.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_loan_commands = LoanCommands.TestCase


class LoanCommandsOnDynamoDB(LoanCommands):
    """The same machine on DynamoDB (moto in-process): what is refused never reaches the table."""

    def __init__(self) -> None:
        import boto3

        from tests.moto_support import empty_moto

        empty_moto()  # the moto of `shared_aws`, which `test_loan_commands_on_dynamodb` starts

        from core import DynamoDBEventStore
        from core.dynamodb import events_table_definition

        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(**events_table_definition("Loans"))
        super().__init__()
        self.store = DynamoDBEventStore("Loans", client)
        self.loan = Loan(store=self.store)


LoanCommandsOnDynamoDB.TestCase.settings = settings(max_examples=15, stateful_step_count=20, deadline=None)


def test_loan_commands_on_dynamodb(shared_aws: object) -> None:
    LoanCommandsOnDynamoDB.TestCase("runTest").runTest()
