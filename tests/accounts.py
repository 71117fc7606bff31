"""A second, non-loan domain for the tests: `AWS_ES_MODULES=loans,tests.accounts` makes every entry point
serve it. A bank account, its balance projection (counters: balances per owner) and an activity projection
fed by the same events table (two projections folding one batch)."""

from __future__ import annotations

from decimal import Decimal

from core import Aggregate, Event, IllegalEventError, requires
from projections.definition import Counters, Projection, Row


class BankAccount(Aggregate):
    """Opened by an owner; deposits and withdrawals move the balance, which never goes below zero."""

    table = "BankAccounts"

    def __init__(self, id: str | None = None, table: str | None = None, **kwargs: object) -> None:  # noqa: A002
        super().__init__(id, table, **kwargs)  # type: ignore[arg-type]
        self.owner: str | None = None
        self.balance = Decimal("0")

    @requires(owner=str)
    def on_account_opened(self, event: Event) -> None:
        self.owner = event.data["owner"]

    @requires(amount=Decimal)
    def on_money_deposited(self, event: Event) -> None:
        self.balance += event.data["amount"]

    @requires(amount=Decimal)
    def on_money_withdrawn(self, event: Event) -> None:
        if event.data["amount"] > self.balance:
            raise IllegalEventError(f"cannot withdraw {event.data['amount']} from {self.balance}",
                                    event_type=event.type)
        self.balance -= event.data["amount"]


def fold_balance(row: Row | None, event: Event) -> Row:
    row = dict(row or {})
    if event.type == "AccountOpened":
        row.update(owner=event.data["owner"], balance=Decimal("0"))
    elif event.type == "MoneyDeposited":
        row["balance"] = row["balance"] + event.data["amount"]
    elif event.type == "MoneyWithdrawn":
        row["balance"] = row["balance"] - event.data["amount"]
    return row


def balance_by_owner(row: Row) -> Counters:
    return {str(row["owner"]): {"accounts": 1, "balance": row["balance"]}} if "owner" in row else {}


def compare_balance(row: Row, account: Aggregate) -> list[str]:
    assert isinstance(account, BankAccount)
    shared = {"owner": account.owner, "balance": account.balance, "version": account.version}
    return [f"{name}: the row says {row.get(name)}, the account says {value}"
            for name, value in shared.items() if row.get(name) != value]


def fold_activity(row: Row | None, event: Event) -> Row:
    row = dict(row or {"movements": 0})
    if event.type != "AccountOpened":
        row["movements"] = row["movements"] + 1
    return row


TYPES = frozenset(("AccountOpened", "MoneyDeposited", "MoneyWithdrawn"))


def account_balance() -> Projection:
    return Projection(name="account-balance", table="AccountBalance", event_types=TYPES, fold=fold_balance,
                      counters=balance_by_owner, counters_name="balances-by-owner",
                      counters_table="BalancesByOwner", strict=True, aggregate=BankAccount, compare=compare_balance,
                      counts=frozenset(("accounts",)))


def account_activity() -> Projection:
    return Projection(name="account-activity", table="AccountActivity", event_types=TYPES, fold=fold_activity,
                      aggregate=BankAccount, counts=frozenset(("movements",)))


AGGREGATES = (BankAccount,)
PROJECTIONS = (account_balance(), account_activity())
ALIASES = {"account": "account-balance"}
