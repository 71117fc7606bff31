"""Property: every way into the fold agrees, on good input and bad.

`hydrate(list of dicts)`, `apply` one event at a time, `commit` one event at a time and a replay of what the
commits stored (`core.repository.apply_stored`) must reach the same state and version, and must stop at the same
event with the same error type. Each bad input is drawn with the error type it must raise (written out here,
not read from the code), so a path that accepts it, or refuses it differently, fails the test.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core import IllegalEventError, IllegalEventNumberError, InMemoryEventStore, UnknownEventTypeError
from loans import Loan

START = datetime(2026, 3, 1, tzinfo=UTC)
AMOUNTS = st.sampled_from([Decimal("1.00"), Decimal("25.50"), Decimal("400.00"), Decimal("999.99")])
#: Well-formed events; the domain may still refuse one (a payment before disbursal: IllegalEventError).
PAYLOADS = {
    "LoanCreated": st.fixed_dictionaries({"requested_amount": st.sampled_from([Decimal(500), Decimal(9000)]),
                                          "interest": st.sampled_from([Decimal(0), Decimal("0.05")])}),
    "LoanPaid": st.fixed_dictionaries({"amount": AMOUNTS}),
    **{name: st.just({}) for name in ("LoanApproved", "LoanRejected", "LoanDisbursed", "LoanArrears",
                                       "LoanSettled", "LoanCollections")},
}
#: Ways to spoil an event, each with the error every path must raise for it.
SPOILERS: list[tuple[str, Any, type[Exception]]] = [
    ("type", "LoanFrozen", UnknownEventTypeError),
    ("type", "", IllegalEventError),
    ("type", 5, IllegalEventError),
    ("type", None, IllegalEventError),
    ("number", True, IllegalEventError),
    ("number", "2", IllegalEventError),
    ("number", 1.0, IllegalEventError),
    ("number", "gap", IllegalEventNumberError),
    ("created", "yesterday", IllegalEventError),
    ("created", 12, IllegalEventError),
    ("meta", "actor", IllegalEventError),
    ("meta", ["actor"], IllegalEventError),
    ("amount", None, IllegalEventError),
    ("amount", "10.00", IllegalEventError),
    ("amount", True, IllegalEventError),
    ("amount", "missing", IllegalEventError),
]


@st.composite
def event_inputs(draw: Any, position: int, spoiled: bool, detour: bool) -> tuple[Any, type[Exception] | None]:
    """The event at `position` (0-based; it is reached only if every one before it was applied)."""
    life = ("LoanCreated", "LoanApproved", "LoanDisbursed")[position] if position < 3 else "LoanPaid"
    kind = draw(st.sampled_from(sorted(PAYLOADS))) if detour else life
    value: dict[str, Any] = {"type": kind, **draw(PAYLOADS[kind])}
    created = START + timedelta(hours=position)
    value["created"] = draw(st.sampled_from([created, created.isoformat()]))
    if draw(st.booleans()):
        value["number"] = position + 1
    if draw(st.booleans()):
        value["meta"] = {"actor": draw(st.sampled_from(["ops", "api"]))}
    expected = None
    if spoiled:
        field, bad, expected = draw(st.sampled_from(SPOILERS))
        if field == "amount":
            value["type"] = "LoanPaid"
            value.pop("amount", None)
            if bad != "missing":
                value["amount"] = bad
        elif field == "type" and bad is None:
            del value["type"]
        else:
            value[field] = position + 3 if bad == "gap" else bad
    if draw(st.booleans()):
        return MappingProxyType(value), expected  # a Mapping that is not a dict: the general path
    return value, expected


@st.composite
def histories(draw: Any) -> list[tuple[Any, type[Exception] | None]]:
    size = draw(st.integers(1, 14))
    spoiled = draw(st.none() | st.integers(0, size - 1))  # at most one spoiled event, anywhere
    detour = draw(st.none() | st.integers(0, size - 1))  # at most one event off a loan's usual life
    return [draw(event_inputs(position, position == spoiled, position == detour)) for position in range(size)]


def outcome(loan: Loan, error: Exception | None) -> tuple[int, dict[str, Any], type[Exception] | None]:
    return loan.version, loan.state(), type(error) if error else None


def by_hydrate(values: list[Any]) -> tuple[int, dict[str, Any], type[Exception] | None]:
    loan = Loan("seeded")
    try:
        loan.hydrate(values)
    except IllegalEventError as exc:
        return outcome(loan, exc)
    except IllegalEventNumberError as exc:
        return outcome(loan, exc)
    return outcome(loan, None)


def one_by_one(loan: Loan, values: list[Any], act: str) -> tuple[int, dict[str, Any], type[Exception] | None]:
    for value in values:
        try:
            getattr(loan, act)(value)
        except (IllegalEventError, IllegalEventNumberError) as exc:
            return outcome(loan, exc)
    return outcome(loan, None)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_hydrate_apply_commit_and_replay_agree(history: list[tuple[Any, type[Exception] | None]]) -> None:
    values = [value for value, _ in history]
    seeded = by_hydrate(values)
    applied = one_by_one(Loan("seeded"), values, "apply")
    store = InMemoryEventStore()
    committed = one_by_one(Loan("seeded", store=store), values, "commit")
    replayed = Loan("seeded", store=store).hydrate()
    assert applied == seeded
    assert committed == seeded
    assert outcome(replayed, None)[:2] == seeded[:2]
    version, _, error = seeded
    planted = [position for position, (_, expected) in enumerate(history) if expected is not None]
    if planted:
        assert version <= planted[0], f"the spoiled event #{planted[0]} was accepted: {history[planted[0]][0]}"
    if version < len(history):  # stopped at the event after the last one applied
        assert error is not None
        expected = history[version][1]
        if expected is not None:
            assert error is expected, (history[version][0], error, expected)
    else:
        assert error is None
