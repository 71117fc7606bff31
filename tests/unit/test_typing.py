"""The type-check `make test` runs: strict where pyproject.toml says, normal elsewhere, on the project's config.

Every sample is checked by one mypy run (mypy reads the standard library's stubs once, not once a sample); each
test reads the lines mypy printed about its own sample."""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]
UNTYPED = "def double(value):\n    return value * 2\n"
LEAKS_ANY = "import json\n\n\ndef count(text: str) -> int:\n    return json.loads(text)\n"
WRONG_RETURN = "def double(value: int) -> str:\n    return value * 2\n"
BARE_IGNORE = "x: int = 'text'  # type: ignore\n"
#: (package, sample name) -> source: each sample is a module of a package named like one of ours.
SAMPLES = {
    **{(package, "untyped"): UNTYPED for package in ("core", "snapshots", "projections", "handlers", "loans")},
    **{(package, "leaks_any"): LEAKS_ANY for package in ("core", "snapshots", "projections")},
    **{(package, "wrong_return"): WRONG_RETURN for package in ("handlers", "loans")},
    ("handlers", "bare_ignore"): BARE_IGNORE,
}


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], list[str]]:
    """mypy, with the project's configuration, run once over every sample: the lines it printed about each."""
    folder = tmp_path_factory.mktemp("typed")
    paths = {}
    for (package, name), source in SAMPLES.items():
        (folder / package).mkdir(exist_ok=True)
        (folder / package / "__init__.py").write_text("")
        paths[package, name] = folder / package / f"{name}.py"
        paths[package, name].write_text(source)
    out, err, status = api.run(["--config-file", str(ROOT / "pyproject.toml"),
                                "--cache-dir", str(folder / ".mypy_cache"), *map(str, paths.values())])
    assert status in (0, 1), out + err  # 2 would be mypy failing to run at all
    lines = (out + err).splitlines()
    return {sample: [line for line in lines if line.startswith(f"{path}:")] for sample, path in paths.items()}


@pytest.mark.parametrize("package", ["core", "snapshots", "projections"])
def test_the_library_must_be_fully_typed(checked, package):
    assert any("[no-untyped-def]" in line for line in checked[package, "untyped"]), checked[package, "untyped"]


@pytest.mark.parametrize("package", ["core", "snapshots", "projections"])
def test_the_library_must_not_return_any_where_it_promises_a_type(checked, package):
    assert any("[no-any-return]" in line for line in checked[package, "leaks_any"]), checked[package, "leaks_any"]


@pytest.mark.parametrize("package", ["handlers", "loans"])
def test_handlers_and_loans_are_checked_but_not_strictly(checked, package):
    assert checked[package, "untyped"] == []
    assert any("[return-value]" in line for line in checked[package, "wrong_return"]), checked[package, "wrong_return"]


def test_an_ignore_must_name_its_error_code(checked):
    assert any("[ignore-without-code]" in line for line in checked["handlers", "bare_ignore"])
