"""The one fold's inputs: a plain dict takes a quicker constructor that accepts and refuses exactly as the
general path does; `checkpoint`/`roll_back` are the public way to undo a half-made change; the seed
benchmark's comparison refuses a tree it cannot measure, by name."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from benchmarks import seed_compare
from core import IllegalEventError
from core.aggregate import apply_events
from core.events import Event
from loans import Loan

WHEN = datetime(2026, 5, 1, tzinfo=UTC)

BAD = [
    ({"number": 1}, "event has no 'type'"),
    ({"type": ""}, "event type must be a non-empty string, not ''"),
    ({"type": 7}, "event type must be a non-empty string, not 7"),
    ({"type": "LoanPaid", "number": True}, "event number must be an int, not True"),
    ({"type": "LoanPaid", "number": 2.0}, "event number must be an int, not 2.0"),
    ({"type": "LoanPaid", "created": "tuesday"}, "event created is not ISO-8601: 'tuesday'"),
    ({"type": "LoanPaid", "created": 5}, "event created must be a datetime, not 5"),
    ({"type": "LoanPaid", "meta": "ops"}, "LoanPaid meta must be a mapping of JSON-encodable values, not str"),
    ({"type": "LoanPaid", "meta": ["ops"]}, "LoanPaid meta must be a mapping of JSON-encodable values, not list"),
]


@pytest.mark.parametrize("value, message", BAD)
def test_a_plain_dict_is_refused_with_the_general_paths_words(value: dict[str, Any], message: str) -> None:
    for shape in (value, MappingProxyType(value)):  # a dict (the quick path) and a Mapping (the general one)
        with pytest.raises(IllegalEventError) as caught:
            Event.from_input(shape)
        assert str(caught.value).startswith(message)


@pytest.mark.parametrize("value", [
    {"type": "LoanPaid", "amount": Decimal("1.50")},
    {"type": "LoanPaid", "number": 4, "amount": Decimal("1.50"), "created": WHEN, "meta": {"actor": "ops"}},
    {"type": "LoanPaid", "number": None, "created": None, "meta": None, "amount": Decimal("1.50")},
    {"type": "LoanPaid", "created": WHEN.isoformat(), "meta": {}, "note": None},
])
def test_a_plain_dict_makes_the_event_the_general_path_makes(value: dict[str, Any]) -> None:
    quick, general = Event.from_input(value), Event.from_input(MappingProxyType(value))
    assert quick == general
    payload = {key: item for key, item in value.items() if key not in ("type", "number", "created", "meta")}
    assert dict(quick.data) == payload
    assert (quick.number, quick.created) == (value.get("number"), general.created)


def test_the_event_keeps_its_own_copy_of_the_dict_and_refuses_changes() -> None:
    value = {"type": "LoanPaid", "amount": Decimal("2.00"), "meta": {"actor": "ops"}}
    event = Event.from_input(value)
    value["amount"] = Decimal("9.00")
    value["meta"]["actor"] = "someone else"
    assert (event.amount, dict(event.meta or {})) == (Decimal("2.00"), {"actor": "ops"})
    with pytest.raises(TypeError):
        event.data["amount"] = Decimal("0")  # type: ignore[index]
    with pytest.raises(AttributeError, match="immutable"):
        event.amount = Decimal("0")


def test_apply_events_counts_what_it_applied_and_skips_what_is_already_there() -> None:
    created = {"type": "LoanCreated", "requested_amount": Decimal(100), "interest": Decimal(0), "number": 1}
    approved = {"type": "LoanApproved", "number": 2}
    loan = Loan("l")
    assert apply_events(loan, [created], Event.from_input) == 1
    assert apply_events(loan, [created, approved], Event.from_input, skip_applied=True) == 1
    assert (loan.version, loan.status) == (2, "APPROVED")


def test_roll_back_puts_back_exactly_what_checkpoint_copied() -> None:
    loan = Loan("l").apply({"type": "LoanCreated", "requested_amount": Decimal(100), "interest": Decimal(0)})
    saved = loan.checkpoint()
    loan.apply({"type": "LoanApproved"})
    loan.extra = "set since"
    loan.roll_back(saved)
    assert (loan.version, loan.status, hasattr(loan, "extra")) == (1, "CREATED", False)


def test_seed_compare_refuses_a_tree_it_cannot_measure(tmp_path: Any) -> None:
    with pytest.raises(SystemExit, match="is not a directory"):
        seed_compare.check_tree(str(tmp_path / "absent"))
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "events.py").write_text("")
    with pytest.raises(SystemExit, match=r"not a source tree of this project: no loans/__init__\.py"):
        seed_compare.check_tree(str(tmp_path))


@pytest.mark.parametrize("argv, says", [
    (["--runs", "0", "."], "0 must be at least 1"),
    (["--events", "many", "."], "'many' is not a whole number"),
])
def test_seed_compare_refuses_bad_counts_by_name(argv: list[str], says: str, capsys: Any) -> None:
    with pytest.raises(SystemExit):
        seed_compare.main(argv)
    assert says in capsys.readouterr().err
