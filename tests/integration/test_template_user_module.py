"""Declare a module, deploy it: an insurance module written to a temporary folder gets its template from
`aws-es template`, which lints clean (cfn-lint, plain and with the serverless rules); lambda/Makefile builds its
artifact with the module's source in it; and the artifact's handlers, each in a `python -I -S` process that sees
only the artifact and boto3, serve the module's command and query routes and fold its projection, against moto's
server. The template, the lint runs and the build happen once for the module's tests."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.artifact_support import (
    api_event,
    boto3_folder,
    build,
    lambda_processes,
    reply,
    stream_event,
    this_machine,
)

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(sys.platform != "linux", reason="pip's manylinux wheels run on Linux only")]

AWS_ES = str(Path(sys.executable).parent / "aws-es")
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")

MODULE = '''
import json
from decimal import Decimal

from core import Aggregate, IllegalEventError, requires
from handlers.api_errors import reply
from projections.definition import Projection
from projections.query import read_row


class Policy(Aggregate):
    table = "Policies"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.holder = None
        self.claims = 0

    @requires(holder=str, premium=Decimal)
    def on_policy_issued(self, event):
        if self.holder is not None:
            raise IllegalEventError("the policy is already issued")
        self.holder = event.holder

    @requires(amount=Decimal)
    def on_claim_filed(self, event):
        self.claims += 1


def fold(row, event):
    row = dict(row or {"claims": 0, "claimed": Decimal("0.00")})
    if event.type == "PolicyIssued":
        row.update(holder=event.data["holder"], premium=event.data["premium"])
    else:
        row.update(claims=row["claims"] + 1, claimed=row["claimed"] + event.data["amount"])
    return row


def command_routes(app, root):
    @app.post("/policies/<policy_id>/events")
    def record(policy_id):
        policy = Policy(policy_id)
        policy.hydrate()
        policy.commit(json.loads(app.current_event.body, parse_float=Decimal))
        return reply(201, {"id": policy_id, "version": policy.version})


def query_routes(app, root):
    @app.get("/policies/<policy_id>")
    def summary(policy_id):
        row = read_row(root.dynamodb, *root.live_tables("policy-summary"), policy_id)
        if row is None:
            return reply(404, {"error": f"no policy {policy_id!r}"})
        return reply(200, {"id": policy_id, "holder": row["holder"], "claims": int(row["claims"]),
                           "claimed": str(row["claimed"])})


AGGREGATES = (Policy,)
PROJECTIONS = (Projection(name="policy-summary", table="PolicySummaries", aggregate=Policy, fold=fold,
                          event_types=frozenset({"PolicyIssued", "ClaimFiled"})),)
ROUTES = {"commands": [("POST", "/policies/{policy_id}/events", "RecordPolicyEvent")],
          "queries": [("GET", "/policies/{policy_id}", "GetPolicy")]}
'''

COMMANDS, QUERIES, PROJECTOR = (f"handlers.{name}.lambda_handler" for name in ("commands", "queries", "projector"))


@pytest.fixture(scope="module")
def module_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("insurance")
    (folder / "insurance.py").write_text(MODULE, encoding="utf-8")
    return {"PYTHONPATH": str(folder), "AWS_ES_MODULES": "insurance"}


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_ES_", "SNAPSHOT_"))}
    return subprocess.run(argv, env={**clean, **env}, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def generated(module_env: dict[str, str]) -> Path:
    output = Path(module_env["PYTHONPATH"]) / "template.yaml"
    done = run([AWS_ES, "template", "--output", str(output)], module_env)
    assert done.returncode == 0, done.stderr
    return output


@pytest.fixture(scope="module")
def artifact(module_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("insurance-artifact"), this_machine(), module_env)


def test_the_generated_template_names_the_module_and_nothing_of_loans(generated: Path) -> None:
    text = generated.read_text(encoding="utf-8")
    assert "loan" not in text.lower()
    for name in ("PoliciesTable:", "PolicySummariesTable:", "PoliciesStream:", "RecordPolicyEvent:", "GetPolicy:",
                 "AWS_ES_MODULES: insurance", "${PolicySummariesTable}-g*"):
        assert name in text, name
    code = next(line.split(":", 1)[1].strip() for line in text.splitlines() if "CodeUri:" in line)
    assert (generated.parent / code / "Makefile").is_file(), code


def test_the_generated_template_lints_clean_plain_and_with_the_serverless_rules(generated: Path) -> None:
    """One run: `-a` adds the serverless rules to cfn-lint's own."""
    done = run([CFN_LINT, "-t", str(generated), "-a", "cfn_lint_serverless.rules"], {})
    assert (done.returncode, done.stdout) == (0, ""), done.stdout + done.stderr


def test_the_artifact_ships_the_module_and_leaves_the_generator_out(artifact: Path) -> None:
    assert (artifact / "insurance.py").read_text(encoding="utf-8") == MODULE
    assert (artifact / "handlers" / "commands.py").is_file()
    assert not (artifact / "handlers" / "template").exists()


def test_the_artifact_serves_the_modules_routes_and_projection(artifact: Path, generated: Path,
                                                              module_env: dict[str, str], server_env: str) -> None:
    done = run([AWS_ES, "init"], {**module_env, "AWS_ENDPOINT_URL": server_env})
    assert done.returncode == 0, done.stderr
    assert {"Policies: created", "PolicySummaries: created"} <= set(done.stdout.splitlines()), done.stdout
    with lambda_processes(artifact, boto3_folder(), server_env, generated, {COMMANDS, QUERIES, PROJECTOR}) as processes:
        def call(handler: str, method: str, path: str, body: str | None = None) -> tuple[int, dict]:
            return reply(processes[handler].invoke(handler, api_event(method, path, body)))

        assert call(COMMANDS, "POST", "/policies/p-1/events",
                    '{"type": "PolicyIssued", "holder": "Ada", "premium": 120.00}') == (201, {"id": "p-1",
                                                                                               "version": 1})
        assert call(COMMANDS, "POST", "/policies/p-1/events",
                    '{"type": "ClaimFiled", "amount": 75.50}') == (201, {"id": "p-1", "version": 2})
        assert call(COMMANDS, "POST", "/policies/p-1/events", '{"type": "ClaimFiled"}')[0] == 422

        batch = stream_event(server_env, "Policies")
        assert len(batch["Records"]) == 2
        assert processes[PROJECTOR].invoke(PROJECTOR, batch) == {"batchItemFailures": []}

        status, row = call(QUERIES, "GET", "/policies/p-1")
        assert (status, row["holder"], row["claims"], Decimal(row["claimed"])) == (200, "Ada", 1, Decimal("75.50"))
        assert call(QUERIES, "GET", "/policies/p-2")[0] == 404
