"""The README's "Test it with the kit", run as written: the walkthrough's `bank.py` and the section's
`test_bank.py` in a temporary folder, its shell block run there with the project's `pytest` on the PATH; and the
kit's properties catching bugs planted in `bank.py`, deterministically and within a minute each."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import settings

from tests.readme_support import blocks, section, shows

WALKTHROUGH = "Your own aggregate and projection"
KIT = "Test it with the kit"


def written(folder: Path) -> tuple[str, str]:
    """Save the walkthrough's module and the kit section's test file in `folder`; their sources."""
    sources = []
    for title in (WALKTHROUGH, KIT):
        block = blocks(section(title))[0]
        assert block.language == "python"
        name = block.text.splitlines()[0].removeprefix("# ").strip()
        (folder / name).write_text(block.text, encoding="utf-8")
        sources.append(block.text)
    return sources[0], sources[1]


def test_the_kit_section_runs_as_written(tmp_path: Path) -> None:
    written(tmp_path)
    kit = blocks(section(KIT))
    assert [block.language for block in kit] == ["python", "sh", "text"]
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(["bash", "-e", "-c", kit[1].text], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"the README's block failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    assert not shows(kit[2].text, done.stdout), f"the README shows\n{kit[2].text}\nbut pytest printed\n{done.stdout}"


# -- planted bugs ---------------------------------------------------------------------------------------------

#: (what the bug is, the text of bank.py it replaces, the planted text, the test of test_bank.py that must fail,
#:  words its failure must say)
BUGS = [
    ("a fold that drops the second deposit",
     '    else:\n        row.update(balance=row["balance"] + event.data["amount"]',
     '    elif row["deposits"] != 1:\n        row.update(balance=row["balance"] + event.data["amount"]',
     "test_the_balance_rows_are_the_log_applied_once_whatever_the_stream_does",
     "disagree with the BankAccount's own state"),
    ("a handler that changes the state before refusing",
     '        if self.owner is None or event.amount <= 0:\n'
     '            raise IllegalEventError("deposits go to an open account and must be positive", field="amount")\n'
     '        self.balance += event.amount\n',
     '        self.balance += event.amount\n'
     '        if self.owner is None or event.amount <= 0:\n'
     '            raise IllegalEventError("deposits go to an open account and must be positive", field="amount")\n',
     "test_the_account_loads_the_same_from_its_log_and_from_any_snapshot",
     "changed the state before refusing"),
    ("state the snapshot leaves out",
     '    @requires(amount=Decimal)\n',
     '    def snapshot(self):\n        return {"balance": self.balance}\n\n    @requires(amount=Decimal)\n',
     "test_the_account_loads_the_same_from_its_log_and_from_any_snapshot",
     "loaded from the snapshot at version"),
]


@pytest.fixture
def derandomized() -> Iterator[None]:
    """Hypothesis draws the same examples every run, so a planted bug is caught (or not) the same way in CI."""
    before = settings.get_current_profile_name()
    settings.register_profile("testkit-derandomized", derandomize=True, database=None)
    settings.load_profile("testkit-derandomized")
    yield
    settings.load_profile(before)


def load(folder: Path, bank: str, kit: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import `test_bank.py` over the given `bank.py` source, as a module of its own."""
    (folder / "bank.py").write_text(bank, encoding="utf-8")
    (folder / "test_bank.py").write_text(kit, encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delitem(sys.modules, "bank", raising=False)
    spec = importlib.util.spec_from_file_location(f"test_bank_{folder.name}", folder / "test_bank.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.delitem(sys.modules, "bank", raising=False)
    return module


PROPERTIES = ("test_the_account_loads_the_same_from_its_log_and_from_any_snapshot",
              "test_the_balance_rows_are_the_log_applied_once_whatever_the_stream_does")


@pytest.mark.usefixtures("derandomized")
def test_the_unmodified_walkthrough_passes_the_kit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bank, kit = written(tmp_path)
    module = load(tmp_path, bank, kit, monkeypatch)
    for name in PROPERTIES:
        getattr(module, name)()


@pytest.mark.usefixtures("derandomized")
@pytest.mark.parametrize(("bug", "original", "planted", "test", "says"), BUGS, ids=[bug[0] for bug in BUGS])
def test_the_kit_catches_a_planted_bug_within_a_minute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bug: str,
                                                       original: str, planted: str, test: str, says: str) -> None:
    bank, kit = written(tmp_path)
    assert bank.count(original) == 1, f"bank.py in the README no longer holds the code this test plants {bug} in"
    module = load(tmp_path, bank.replace(original, planted), kit, monkeypatch)
    started = time.monotonic()
    with pytest.raises(AssertionError) as caught:
        getattr(module, test)()
    assert time.monotonic() - started < 60
    assert says in str(caught.value), str(caught.value)
