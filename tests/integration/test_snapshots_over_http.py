"""Snapshots against moto's HTTP server: path-style S3 and DynamoDB through real requests, via the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from handlers.app import App
from handlers.cli import main
from loans.demo import run_long_loan
from tests.conftest import FAKE_ENV

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("store, requests", [("dynamodb", 1), ("s3", 2)])
def test_backfill_and_hydrate_over_http(server_env, monkeypatch, capsys, store, requests):
    monkeypatch.setenv("SNAPSHOT_STORE", store)
    monkeypatch.setenv("SNAPSHOT_BUCKET", "loan-snapshots")
    assert main(["init"]) == 0
    with App.from_env().bound():
        loan = run_long_loan(repayments=30)
    assert main(["snapshot", "--all"]) == 0
    capsys.readouterr()  # `main` builds an App of its own, as a fresh process: no warm cache
    assert main(["hydrate", loan.id, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["snapshot_version"], report["tail_events"], report["requests"]) == (35, 0, requests)
    assert report["state"]["status"] == "SETTLED"


def hydrate_in_another_process(endpoint: str, loan_id: str, seed: str) -> dict:
    """`aws-es hydrate --json` in a fresh interpreter with its own hash seed, against the same server."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "SNAPSHOT_"))}
    env.update(FAKE_ENV, AWS_ENDPOINT_URL=endpoint, PYTHONHASHSEED=seed, SNAPSHOT_EVERY="5")
    done = subprocess.run([sys.executable, "-m", "handlers.cli", "hydrate", loan_id, "--json"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_snapshot_written_by_one_process_is_used_by_another(server_env, monkeypatch):
    monkeypatch.setenv("SNAPSHOT_EVERY", "5")
    assert main(["init"]) == 0
    with App.from_env().bound():
        loan = run_long_loan(repayments=12)  # 17 events: snapshots written at 5, 10 and 15 by this process
    # Two other processes with different hash seeds (whose repr of a frozenset differs): both use it.
    for seed in ("1", "3"):
        report = hydrate_in_another_process(server_env, loan.id, seed)
        assert (report["snapshot_version"], report["snapshot_skipped"]) == (15, None), report
        assert (report["requests"], report["tail_events"], report["version"]) == (1, 2, 17)
        assert report["state"]["balance"] == "0.00" and report["state"]["status"] == "SETTLED"
