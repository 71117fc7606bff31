"""The Lambda artifact `sam build` makes (lambda/Makefile): every dependency, only the runtime code, and it runs.

Built with the Makefile's own recipe for this machine's platform and Python, then each function in the
template runs in its own `python -I -S` process that sees the artifact and boto3 and nothing else (as on
Lambda), invoked with Lambda-shaped events against moto's server. The template's own target (arm64,
python3.13) is built too and inspected: its orjson must be an aarch64 library.
"""

from __future__ import annotations

import sys
import tomllib
from collections.abc import Callable
from email.parser import Parser
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from handlers.app import App
from handlers.tables import ensure_tables
from tests.artifact_support import (
    REQUIREMENTS,
    ROOT,
    LambdaProcess,
    api_event,
    boto3_folder,
    build,
    dev_only,
    functions,
    lambda_processes,
    make,
    makefile_default,
    reply,
    stream_event,
    template,
    this_machine,
)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(sys.platform != "linux", reason="pip's manylinux wheels run on Linux only")]

#: The runtime packages: all the project ships but the test kit, which runs in its users' tests, not in Lambda.
SHIPPED = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
PACKAGES = [package for package in SHIPPED if package.split(".")[0] != "testkit"]
#: Modules only the command line and local runs use, left out of the artifact (lambda/Makefile's DEV_ONLY).
DEV_ONLY = dev_only()
EM_AARCH64, EM_X86_64 = 183, 62  # ELF e_machine values (the ELF specification)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("artifact"), this_machine())


def requirements() -> dict[str, Requirement]:
    lines = [line for line in REQUIREMENTS.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return {canonicalize_name(req.name): req for req in map(Requirement, lines)}


def installed(artifact: Path) -> dict[str, str]:
    """Distribution name -> version, from the artifact's .dist-info folders."""
    found = {}
    for info in artifact.glob("*.dist-info"):
        name, _, release = info.name.removesuffix(".dist-info").partition("-")
        found[canonicalize_name(name)] = release
    return found


def top_level_of_distributions(artifact: Path) -> set[str]:
    """Top-level names the installed wheels wrote, from their RECORD files."""
    names = set()
    for record in artifact.glob("*.dist-info/RECORD"):
        names |= {line.split(",")[0].split("/")[0] for line in record.read_text().splitlines() if line}
    return names - {"..", "bin"}


def check_dependencies_pinned(artifact: Path, pins: set[str]) -> None:
    """What each shipped wheel needs is shipped too, or is boto3 or one of its own (the Lambda runtime's)."""
    provided = set(installed(boto3_folder()))
    for metadata in artifact.glob("*.dist-info/METADATA"):
        for line in Parser().parsestr(metadata.read_text()).get_all("Requires-Dist") or []:
            needed = Requirement(line)
            if needed.marker is None or needed.marker.evaluate({"extra": ""}):
                name = canonicalize_name(needed.name)
                assert name in pins | provided, f"{metadata.parent.name} needs {needed}: pin it in requirements.txt"


def left_out(relative: Path) -> bool:
    return any(fnmatch(str(relative), pattern) or fnmatch(str(relative), f"{pattern}/*") for pattern in DEV_ONLY)


def project_sources() -> set[str]:
    """Every file of the runtime packages, whatever its kind, but bytecode, hidden files and the modules only the
    command line and local runs use."""
    return {str(path.relative_to(ROOT)) for package in PACKAGES for path in (ROOT / package).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
            and not path.name.startswith(".") and not left_out(path.relative_to(ROOT))}


def bytecode_of(source: Path, python: str) -> Path:
    return source.parent / "__pycache__" / f"{source.stem}.cpython-{python.replace('.', '')}.pyc"


def check_contents(artifact: Path, python: str | None) -> None:
    """The runtime packages, the pinned wheels, and nothing else; every module compiled for `python` beside its
    source, with an unchecked hash (valid on a read-only file system whatever the files' times), or none when
    `python` is None."""
    pins = {name: str(req.specifier).removeprefix("==") for name, req in requirements().items()}
    assert installed(artifact) == pins
    check_dependencies_pinned(artifact, set(pins))
    top_bytecode = {"__pycache__"} if python else set()  # typing_extensions is a top-level module
    top = set(PACKAGES) | top_level_of_distributions(artifact) | top_bytecode
    assert {path.name for path in artifact.iterdir()} == top
    shipped = {str(path.relative_to(artifact)) for package in PACKAGES for path in (artifact / package).rglob("*")
               if path.is_file() and "__pycache__" not in path.parts}
    assert shipped == project_sources()
    assert [name for name in shipped if left_out(Path(name))] == []
    stray = [path for path in artifact.rglob("*") if path.name in {"tests", "docs", "benchmarks"}]
    assert stray == []
    sources = list(artifact.rglob("*.py"))
    compiled = {path for path in artifact.rglob("*.pyc")}
    if python is None:
        assert compiled == set()
        return
    assert compiled == {bytecode_of(source, python) for source in sources}
    for path in compiled:
        flags = int.from_bytes(path.read_bytes()[4:8], "little")
        assert flags == 0b01, f"{path}: not an unchecked-hash pyc (flags {flags:#b})"


def elf_machine(path: Path) -> int:
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF library"
    return int.from_bytes(header[18:20], "little")


def test_the_requirements_pin_the_runtime_dependencies_of_pyproject() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = requirements()
    for dependency in map(Requirement, declared):
        name = canonicalize_name(dependency.name)
        if name == "boto3":  # provided by the Lambda Python runtime
            assert name not in pins and "botocore" not in pins
            continue
        assert name in pins, f"lambda/requirements.txt does not pin {dependency.name}"
        pinned = str(pins[name].specifier).removeprefix("==")
        assert pinned in dependency.specifier, f"{name}=={pinned} is outside pyproject's {dependency.specifier}"


def test_every_function_is_built_by_the_makefile_for_the_template_runtime() -> None:
    found = functions()
    assert found
    for name, function in found.items():
        assert function["Metadata"].get("BuildMethod") == "makefile", name
        assert function["CodeUri"] == "lambda/", name
        assert "Runtime" not in function and "Architectures" not in function, f"{name}: set in Globals only"
    defaults = template()["Globals"]["Function"]
    assert (defaults["Runtime"], defaults["Architectures"]) == ("python3.13", ["arm64"])
    assert makefile_default("PLATFORM") == "manylinux2014_aarch64"
    assert makefile_default("PYTHON_VERSION") == "3.13"


def test_the_artifact_for_the_template_is_aarch64_python313(tmp_path: Path) -> None:
    artifact = build(tmp_path / "ProjectorFunction", variables={"BYTECODE": "source"})
    check_contents(artifact, None)
    libraries = list((artifact / "orjson").glob("*.so"))
    assert [library.name for library in libraries] == ["orjson.cpython-313-aarch64-linux-gnu.so"]
    assert elf_machine(libraries[0]) == EM_AARCH64


@pytest.mark.parametrize(("variables", "message"), [
    ({"BYTECODE_PYTHON": sys.executable},
     f"the artifact's bytecode is for Python 3.13 (PYTHON_VERSION), but BYTECODE_PYTHON={sys.executable} is "
     f"{this_machine()[1]}: set BYTECODE_PYTHON to a Python 3.13, or BYTECODE=source"),
    ({"BYTECODE_PYTHON": "no-such-python"}, "BYTECODE_PYTHON=no-such-python is not a Python that runs here"),
    ({"BYTECODE": "maybe"}, "BYTECODE must be compiled or source, not 'maybe'"),
], ids=["another-version", "missing", "bad-choice"])
def test_bytecode_no_python_of_the_runtime_can_compile_is_refused_before_anything_is_built(
        tmp_path: Path, variables: dict[str, str], message: str) -> None:
    if this_machine()[1] == makefile_default("PYTHON_VERSION") and "BYTECODE_PYTHON" in variables:
        pytest.skip("the tests run on the runtime's Python")
    done = make(tmp_path / "Function", variables=variables, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in " ".join(done.stderr.split())
    assert not (tmp_path / "Function").exists()


def test_the_artifact_for_this_machine_holds_the_runtime_code_and_its_dependencies(artifact: Path) -> None:
    check_contents(artifact, this_machine()[1])
    if this_machine()[0].endswith("x86_64"):
        assert elf_machine(next((artifact / "orjson").glob("*.so"))) == EM_X86_64


# -- the handlers, run from the artifact -------------------------------------------------------------
COMMANDS, QUERIES, PROJECTOR, REBUILD = (f"handlers.{name}.lambda_handler"
                                          for name in ("commands", "queries", "projector", "rebuild_worker"))


def api(process: LambdaProcess, handler: str) -> Callable[..., tuple[int, Any]]:
    """Call an API function: api_event's arguments in, (status, decoded body) out."""
    return lambda *args, **kwargs: reply(process.invoke(handler, api_event(*args, **kwargs)))


def check_origins(process: LambdaProcess, artifact: Path) -> None:
    """The dependencies come from the artifact, boto3 from its own folder, nothing from a site-packages."""
    shipped = ("aws_lambda_powertools", "orjson", "jmespath", "aws_xray_sdk.core", "wrapt")
    origins = process.ask({"modules": [*shipped, "boto3", "botocore"]})
    files = {name: Path(file) for name, file in origins["files"].items()}
    assert all(files[name].is_relative_to(artifact) for name in shipped)
    assert all(files[name].is_relative_to(boto3_folder()) for name in ("boto3", "botocore"))
    assert origins["path"][:2] == [str(artifact), str(boto3_folder())]
    assert not [entry for entry in origins["path"] if "site-packages" in entry]


def test_every_handler_runs_from_the_artifact_with_only_boto3_beside_it(artifact: Path, server_app: App,
                                                                         server_env: str) -> None:
    ensure_tables(server_app)
    with lambda_processes(artifact, boto3_folder(), server_env) as processes:
        assert set(processes) == {COMMANDS, QUERIES, PROJECTOR, REBUILD}, "every function in the template runs here"
        commands, queries = api(processes[COMMANDS], COMMANDS), api(processes[QUERIES], QUERIES)

        status, loan = commands("POST", "/loans", '{"requested_amount": 1000.00, "interest": 0.05}')
        assert (status, loan["status"], loan["requested_amount"]) == (201, "CREATED", "1000.00")
        status, approved = commands("POST", f"/loans/{loan['id']}/events", '{"type": "LoanApproved"}')
        assert (status, approved["event"]) == (201, {"type": "LoanApproved", "number": 2})
        status, got = commands("GET", f"/loans/{loan['id']}")
        assert (status, got["version"], got["status"]) == (200, 2, "APPROVED")

        batch = stream_event(server_env)
        assert [record["eventName"] for record in batch["Records"]] == ["INSERT", "INSERT"]
        assert processes[PROJECTOR].invoke(PROJECTOR, batch) == {"batchItemFailures": []}

        status, summary = queries("GET", f"/loans/{loan['id']}/summary")
        assert (status, summary["status"], summary["version"]) == (200, "APPROVED", 2)
        status, listed = queries("GET", "/loans", query={"status": "APPROVED"})
        assert status == 200 and [row["id"] for row in listed["loans"]] == [loan["id"]]
        status, portfolio = queries("GET", "/portfolio")
        assert status == 200 and portfolio["APPROVED"]["loans"] == 1 and portfolio["APPROVED"]["principal"] == "1000.00"

        rebuild = {"projection": "loan-summary", "segments": 1}
        begun = processes[REBUILD].invoke(REBUILD, {**rebuild, "action": "begin"})
        assert (begun["generation"], begun["catch_up_only"]) == (1, False)
        segment = processes[REBUILD].invoke(REBUILD, {**rebuild, "action": "segment", "segment": 0})
        assert (segment["done"], segment["aggregates"], segment["events"]) == (True, 1, 2)
        check_origins(processes[COMMANDS], artifact)
        keyed = commands("POST", "/loans", '{"requested_amount": 5.00, "interest": 0}', key="artifact-1")
        assert keyed[0] == 201 and commands("POST", "/loans", '{"requested_amount": 5.00, "interest": 0}',
                                            key="artifact-1") == keyed  # powertools' idempotency ships too
