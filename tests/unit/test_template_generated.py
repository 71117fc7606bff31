"""template.yaml is `aws-es template`'s output for the default module, byte for byte; the output is the same in
every process; every route a module serves is declared in its ROUTES (and every declared one is served); bad
ROUTES and undeclared routes are refused by name; no Lambda handler imports the generator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

import pytest

from core.errors import ConfigurationError
from handlers import cli, commands, queries
from handlers.app import App
from handlers.registry import Registry, load
from handlers.settings import Settings
from handlers.template import code_uri, generate
from tests import template_support
from tests.iam_support import principals
from tests.template_support import TEMPLATE

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "regenerate it with `make template` (or `.venv/bin/aws-es template --output template.yaml`)"


def test_the_committed_template_is_the_generators_output_for_loans() -> None:
    expected = generate(load(["loans"]), Settings(), code_uri(ROOT))
    assert TEMPLATE.read_text(encoding="utf-8") == expected, f"template.yaml is not the generated one: {REGENERATE}"


def test_the_command_writes_the_same_bytes_in_another_process_whatever_its_hash_seed(tmp_path: Path) -> None:
    written = tmp_path / "template.yaml"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AWS_ES_", "SNAPSHOT_", "PROJECTION_"))}
    done = subprocess.run([str(Path(sys.executable).parent / "aws-es"), "template", "--output", str(written),
                           "--code-uri", "lambda/"], env={**env, "PYTHONHASHSEED": "12345"},
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert written.read_text(encoding="utf-8") == TEMPLATE.read_text(encoding="utf-8")


def test_the_help_names_what_the_template_holds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["template", "--help"])
    printed = " ".join(capsys.readouterr().out.split())
    for words in ("AWS_ES_MODULES", "ROUTES", "--output", "make template", "sam build"):
        assert words in printed, words


# -- routes: declared and served agree ------------------------------------------------------------------------
def served(registry: Registry) -> set[tuple[str, str, str]]:
    """(api, method, path) of every route the handlers' resolvers hold for the registry's modules."""
    app = App(Settings(modules=registry.modules), registry)
    found = set()
    for api, build in (("commands", commands.build), ("queries", queries.build)):
        resolver: Any = build(app)
        for route in [*resolver._static_routes, *resolver._dynamic_routes]:
            found.add((api, route.method, re.sub(r"<(\w+)>", r"{\1}", route.path)))
    return found


def test_every_route_loans_serves_is_declared_and_every_declared_route_is_served() -> None:
    registry = load(["loans"])
    declared = {(route.api, route.method, route.path) for route in registry.routes}
    assert served(registry) == declared
    assert len(declared) == 10 and registry.undeclared_routes == ()


def module(name: str, body: str) -> types.ModuleType:
    made = types.ModuleType(name)
    exec(body, made.__dict__)
    return made


BASE = textwrap.dedent("""
    from core import Aggregate
    from projections.definition import Projection

    class Claim(Aggregate):
        table = "Claims"

    def fold(row, event):
        return dict(row or {})

    AGGREGATES = (Claim,)
    PROJECTIONS = (Projection(name="claims", table="ClaimRows", event_types=frozenset({"Filed"}), fold=fold,
                              aggregate=Claim),)

    def query_routes(app, root):
        @app.get("/claims/<claim_id>")
        def claim(claim_id):
            return {}
""")


@pytest.mark.parametrize(("routes", "named"), [
    ('{"queries": [("GET", "/claims/{claim_id}")]}', "ROUTES must map"),
    ('{"reports": [("GET", "/claims/{claim_id}", "GetClaim")]}', "ROUTES must map"),
    ('{"queries": [("FETCH", "/claims/{claim_id}", "GetClaim")]}', "method 'FETCH'"),
    ('{"queries": [("GET", "claims/<claim_id>", "GetClaim")]}', "path 'claims/<claim_id>'"),
    ('{"queries": [("GET", "/claims/{claim_id}", "get-claim")]}', "route name 'get-claim'"),
    ('{"queries": [("GET", "/claims/{claim_id}", "GetClaim"), ("GET", "/claims", "GetClaim")]}',
     "route name 'GetClaim' is registered twice"),
    ('{"queries": [("GET", "/claims/{claim_id}", "GetClaim"), ("GET", "/claims/{claim_id}", "Again")]}',
     "route 'GET /claims/{claim_id}' is registered twice"),
    ('{"commands": [("POST", "/claims", "FileClaim")]}', "declares commands routes, but the module has no "
     "command_routes(app, root)"),
])
def test_bad_routes_are_refused_naming_what_is_wrong(monkeypatch: pytest.MonkeyPatch, routes: str,
                                                     named: str) -> None:
    monkeypatch.setitem(sys.modules, "claims_module", module("claims_module", BASE + f"\nROUTES = {routes}\n"))
    with pytest.raises(ConfigurationError, match=re.escape(named)):
        load(["claims_module"])


def test_a_module_whose_routes_are_not_declared_gets_no_template(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "claims_module", module("claims_module", BASE))
    registry = load(["claims_module"])
    assert registry.undeclared_routes == ("claims_module.query_routes",)
    with pytest.raises(ConfigurationError, match=r"claims_module\.query_routes adds routes .* ROUTES"):
        generate(registry, Settings())


def test_a_declared_module_gets_its_own_tables_routes_and_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "claims_module", module(
        "claims_module", BASE + '\nROUTES = {"queries": [("GET", "/claims/{claim_id}", "GetClaim")]}\n'))
    text = generate(load(["claims_module"]), Settings())
    assert "loan" not in text.lower()
    for name in ("ClaimsTable:", "ClaimRowsTable:", "ClaimsStream:", "GetClaim:", "Path: /claims/{claim_id}",
                 "AWS_ES_MODULES: claims_module", "CLAIM_ROWS_TABLE: !Ref ClaimRowsTable",
                 "${ClaimRowsTable}-g*"):
        assert name in text, name


# -- the generator stays out of the Lambda functions --------------------------------------------------------------
def test_no_handler_imports_the_generator() -> None:
    script = ("import sys, handlers.commands, handlers.queries, handlers.projector, handlers.rebuild_worker; "
              "print(sorted(name for name in sys.modules if name.startswith('handlers.template') or name == 'yaml'))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "POWERTOOLS_TRACE_DISABLED": "1"}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]"]


def test_the_command_refuses_a_module_with_undeclared_routes_in_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "claims_module", module("claims_module", BASE))
    monkeypatch.setenv("AWS_ES_MODULES", "claims_module")
    assert cli.main(["template"]) == 1
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.startswith("aws-es template: claims_module.query_routes adds routes") and printed.err.count(
        "\n") == 1, printed.err


def test_two_modules_get_a_stream_mapping_each_and_the_projector_reads_both_streams(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "claims_module", module(
        "claims_module", BASE + '\nROUTES = {"queries": [("GET", "/claims/{claim_id}", "GetClaim")]}\n'))
    written = tmp_path / "template.yaml"
    written.write_text(generate(load(["loans", "claims_module"]), Settings()), encoding="utf-8")
    monkeypatch.setattr(template_support, "TEMPLATE", written)
    output = template_support.deployed()
    mappings = template_support.resources(output, "AWS::Lambda::EventSourceMapping")
    assert sorted(m["Properties"]["EventSourceArn"]["Fn::GetAtt"][0] for m in mappings.values()) == [
        "ClaimsTable", "LoansTable"]
    granted = principals(output)
    streams = {resource for _, action, resource in granted["ProjectorFunction"] if action == "dynamodb:GetRecords"}
    assert streams == {"LoansTable.StreamArn", "ClaimsTable.StreamArn"}
    created = {resource for _, action, resource in granted["RebuildWorkerFunction"] if action == "dynamodb:CreateTable"}
    assert {"${ClaimRowsTable}-g*", "${LoanSummaryTable}-g*"} <= {r.rsplit("/", 1)[-1] for r in created}
    (api,) = template_support.resources(output, "AWS::ApiGateway::RestApi").values()
    assert "/claims/{claim_id}" in api["Properties"]["Body"]["paths"] and "/loans" in api["Properties"]["Body"]["paths"]
