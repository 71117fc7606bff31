"""The fingerprint is a pure function of the code: the same in every process, whatever the hash seed."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

import tests.snapshot_support as support
from loans import Loan
from snapshots import fingerprint
from tests.snapshot_support import Grade, Ledger

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ("from snapshots import fingerprint; from loans import Loan; from tests.snapshot_support import Ledger; "
          "print(fingerprint(Loan), fingerprint(Ledger))")


def fingerprints_in_a_fresh_process(seed: str) -> tuple[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=60).stdout.split()
    return out[0], out[1]


def test_every_process_computes_the_same_fingerprint_whatever_its_hash_seed():
    seen = {fingerprints_in_a_fresh_process(seed) for seed in ("0", "1", "3", "97")}
    assert len(seen) == 1, seen
    assert seen == {(fingerprint(Loan), fingerprint(Ledger))}  # and this process (a random seed) agrees


@pytest.mark.parametrize("name, value", [
    ("LEGAL", {"OPEN", "LATE", "GRACE", "FROZEN"}),
    ("CLOSED", frozenset({"PAID", "WRITTEN_OFF", "SOLD", "MERGED", "VOID"})),
    ("FEES", {"late": Decimal("25.00"), "grace": Decimal("0.00"), "review": Decimal("5.5"), "sold": Decimal("1")}),
    ("TABLES", ({"a", "b", "c"}, frozenset({"x", "y", "z"}), {"k": {"n1", "n2"}}, (Grade.PRIME, Decimal("0.01")))),
    ("RATE", Decimal("0.01250")),
])
def test_a_changed_global_constant_of_any_kind_changes_the_fingerprint(monkeypatch, name, value):
    before = fingerprint(Ledger)
    monkeypatch.setattr(support, name, value)
    assert fingerprint(Ledger) != before


def test_a_changed_enum_value_or_class_constant_changes_the_fingerprint(monkeypatch):
    import enum

    before = fingerprint(Ledger)
    monkeypatch.setattr(Ledger, "LIMITS", {"daily": Decimal("100"), "monthly": {"soft", "hard"}})
    changed = fingerprint(Ledger)
    assert changed != before
    monkeypatch.setattr(support, "Grade", enum.Enum("Grade", {"PRIME": "prime", "SUB": "subprime"}))
    assert fingerprint(Ledger) not in (before, changed)


def test_a_constant_inside_a_nested_lambda_changes_the_fingerprint():
    def make(limit: int) -> type:
        source = f"def on_thing_done(self, event):\n    self.n = (lambda v: [x for x in v if x > {limit}])([1])\n"
        scope: dict = {}
        exec(compile(source, "ledger.py", "exec"), scope)
        return type("Thing", (Ledger,), {"on_thing_done": scope["on_thing_done"], "__module__": __name__})

    assert fingerprint(make(1)) != fingerprint(make(2))
    assert fingerprint(make(1)) == fingerprint(make(1))
