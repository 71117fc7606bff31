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


def fingerprints_in_fresh_processes(*seeds: str) -> list[tuple[str, str]]:
    """The fingerprints printed by one fresh process per hash seed, the processes run at once."""
    processes = [subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": seed},
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in seeds]
    try:
        replies = [process.communicate(timeout=60) for process in processes]
    finally:
        for process in processes:
            process.kill()  # none is left running when one failed or ran out of time
            process.wait()
    assert [process.returncode for process in processes] == [0] * len(seeds), [err for _, err in replies]
    return [(out.split()[0], out.split()[1]) for out, _ in replies]


def test_every_process_computes_the_same_fingerprint_whatever_its_hash_seed():
    seen = set(fingerprints_in_fresh_processes("0", "1", "3", "97"))
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
