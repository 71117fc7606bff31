"""The type-check `make test` runs: strict where pyproject.toml says, normal elsewhere, on the project's config."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]
UNTYPED = "def double(value):\n    return value * 2\n"
LEAKS_ANY = "import json\n\n\ndef count(text: str) -> int:\n    return json.loads(text)\n"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for the module: the standard library's stubs are read once, not once a test."""
    return tmp_path_factory.mktemp("mypy-cache")


def check(folder: Path, cache: Path, package: str, source: str) -> tuple[str, int]:
    """mypy, with the project's configuration, on one module of a package named like one of ours."""
    (folder / package).mkdir(exist_ok=True)
    (folder / package / "__init__.py").write_text("")
    (folder / package / "sample.py").write_text(source)
    out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(cache),
                                str(folder / package / "sample.py")])
    return out + err, status


@pytest.mark.parametrize("package", ["core", "snapshots", "projections"])
def test_the_library_must_be_fully_typed(tmp_path, cache, package):
    output, status = check(tmp_path, cache, package, UNTYPED)
    assert status == 1
    assert "[no-untyped-def]" in output


@pytest.mark.parametrize("package", ["core", "snapshots", "projections"])
def test_the_library_must_not_return_any_where_it_promises_a_type(tmp_path, cache, package):
    output, status = check(tmp_path, cache, package, LEAKS_ANY)
    assert status == 1
    assert "[no-any-return]" in output


@pytest.mark.parametrize("package", ["handlers", "loans"])
def test_handlers_and_loans_are_checked_but_not_strictly(tmp_path, cache, package):
    output, status = check(tmp_path, cache, package, UNTYPED)
    assert (status, output.splitlines()[-1]) == (0, "Success: no issues found in 1 source file")
    output, status = check(tmp_path, cache, package, "def double(value: int) -> str:\n    return value * 2\n")
    assert status == 1
    assert "[return-value]" in output


def test_an_ignore_must_name_its_error_code(tmp_path, cache):
    output, status = check(tmp_path, cache, "handlers", "x: int = 'text'  # type: ignore\n")
    assert status == 1
    assert "[ignore-without-code]" in output
