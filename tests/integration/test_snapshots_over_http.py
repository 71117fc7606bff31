"""Snapshots against moto's HTTP server: path-style S3 and DynamoDB through real requests, via the CLI."""

from __future__ import annotations

import json

import pytest

from core import config
from handlers.cli import main
from handlers.demo import run_long_loan

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("store, requests", [("dynamodb", 1), ("s3", 2)])
def test_backfill_and_hydrate_over_http(server_env, monkeypatch, capsys, store, requests):
    monkeypatch.setenv("SNAPSHOT_STORE", store)
    monkeypatch.setenv("SNAPSHOT_BUCKET", "loan-snapshots")
    config.reset()
    assert main(["init"]) == 0
    loan = run_long_loan(repayments=30)
    assert main(["snapshot", "--all"]) == 0
    config.reset()  # a fresh process: no warm cache
    capsys.readouterr()
    assert main(["hydrate", loan.id, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["snapshot_version"], report["tail_events"], report["requests"]) == (35, 0, requests)
    assert report["state"]["status"] == "SETTLED"
