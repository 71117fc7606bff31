"""The envelope: exact state, checksum, and a fingerprint that follows the code that folds events."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from core import requires
from loans import Loan
from snapshots import Snapshot, SnapshotCorruptError, fingerprint, take
from snapshots.envelope import problem, restore
from tests.snapshot_support import loan_events, replayed


def test_decimals_and_datetimes_survive_exactly():
    loan = replayed("l", loan_events(3, amount="10.10"))
    loan.last_updated = datetime(2026, 5, 1, 12, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    snapshot = Snapshot.from_document(take(loan).to_document(), "test")
    again = Loan("l")
    restore(again, snapshot)
    assert again.state() == loan.state() and again.version == loan.version
    assert str(again.balance) == str(loan.balance) and str(again.interest) == "0.05"
    assert again.last_updated == loan.last_updated


def test_the_fingerprint_is_stable_and_follows_snapshot_version(monkeypatch):
    assert fingerprint(Loan) == fingerprint(Loan)
    before = fingerprint(Loan)
    monkeypatch.setattr(Loan, "snapshot_version", 3)
    assert fingerprint(Loan) != before


def test_changing_a_handler_or_its_requirements_changes_the_fingerprint(monkeypatch):
    before = fingerprint(Loan)

    def on_loan_paid(self, event):
        self.balance -= event.data["amount"] * 2

    monkeypatch.setattr(Loan, "on_loan_paid", on_loan_paid)
    changed = fingerprint(Loan)
    assert changed != before
    monkeypatch.setattr(Loan, "on_loan_paid", requires(amount=Decimal)(on_loan_paid))
    assert fingerprint(Loan) not in (before, changed)


def test_a_constant_a_handler_uses_is_part_of_the_fingerprint(monkeypatch):
    import loans.loan

    before = fingerprint(Loan)
    monkeypatch.setattr(loans.loan, "CENT", Decimal("0.1"))
    assert fingerprint(Loan) != before


def test_a_subclass_that_changes_nothing_but_its_docstrings_keeps_its_fingerprint():
    def make(doc: str):
        class Quiet(Loan):
            def on_loan_noted(self, event):
                self.note = event.data["text"]

        Quiet.on_loan_noted.__doc__ = doc
        return Quiet

    assert fingerprint(make("one")) == fingerprint(make("two"))


def test_problems_name_what_is_wrong():
    loan = replayed("l", loan_events(2))
    snapshot = take(loan)
    assert problem(snapshot, loan) is None
    assert problem(replace(snapshot, state=snapshot.state[:-3]), loan).startswith("corrupt: checksum")
    stale = replace(snapshot, fingerprint="f" * 32)
    stale = replace(stale, checksum=stale.computed_checksum())
    assert problem(stale, loan).startswith("stale: snapshot at version 5 has fingerprint ffffffffffff")
    assert problem(snapshot, Loan("other")).startswith("corrupt: snapshot is of Loan 'l', not Loan 'other'")


def test_a_state_that_does_not_decode_is_a_corrupt_error_and_changes_nothing():
    loan = replayed("l", loan_events(2))
    snapshot = replace(take(loan), state='{"balance": {"$d": "not a number"}}')
    fresh = Loan("l")
    with pytest.raises(SnapshotCorruptError, match="malformed \\$d"):
        restore(fresh, snapshot)
    assert (fresh.version, fresh.balance) == (0, Decimal("0.00"))


def test_an_unencodable_state_is_a_snapshot_error_naming_the_field():
    loan = replayed("l", loan_events(1))
    loan.ratio = 0.5
    with pytest.raises(Exception, match=r"ratio is a float"):
        take(loan)


def test_a_state_that_would_set_framework_or_private_attributes_is_refused():
    from core import codec

    loan = replayed("l", loan_events(2))
    snapshot = replace(take(loan), state=codec.encode({"status": "PAID", "version": 99, "_repository": None}))
    fresh = Loan("l")
    with pytest.raises(SnapshotCorruptError, match="may not set _repository, version"):
        restore(fresh, snapshot)
    assert fresh.version == 0 and fresh.status is None
