"""Done means: a module outside this repository, named in AWS_ES_MODULES, gets tables, snapshots, live
projections, queries and rebuilds through `aws-es` and the Lambda handlers, with no edit to this repository.

The module (tests/user_module_support.py) is written to a temporary folder put on PYTHONPATH; every step runs in
a fresh process against moto's HTTP server, so nothing this test's process imported or cached can help. The
expected values are reckoned here from the prices committed, not by the code under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tests.user_module_support import COMMIT, MODULE, PROJECT_WITH_LAMBDA, QUERY_API

AWS_ES = str(Path(sys.executable).parent / "aws-es")
FIRST = ["1.50", "2.25", "3.00", "4.75", "5.10", "6.00", "7.25"]  # 7 events: a snapshot at 5 (SNAPSHOT_EVERY=5)
LATER = ["10.00", "0.05"]


@pytest.fixture
def user_env(server_env: str, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "shop.py").write_text(MODULE, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SNAPSHOT_", "AWS_ES_"))}
    env.update(PYTHONPATH=str(tmp_path), AWS_ES_MODULES="shop", SNAPSHOT_EVERY="5",
               POWERTOOLS_TRACE_DISABLED="1", POWERTOOLS_METRICS_NAMESPACE="aws-es")
    return env


def run(env: dict[str, str], *argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(list(argv), env=env, cwd=cwd or Path("/"), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{argv[:3]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def python(env: dict[str, str], script: str, *argv: str) -> str:
    return run(env, sys.executable, "-c", script, *argv)


def queried(env: dict[str, str], basket_id: str) -> dict:
    return json.loads(run(env, AWS_ES, "query", "basket-totals", basket_id, "--json"), parse_float=Decimal)


@pytest.mark.timeout(300)  # fourteen fresh processes, one after another: on a loaded machine over two minutes
def test_a_module_outside_the_repository_through_every_entry_point(user_env: dict[str, str]) -> None:
    created = run(user_env, AWS_ES, "init").splitlines()
    assert {"Baskets: created", "BasketTotals: created"} <= set(created), created
    again = run(user_env, AWS_ES, "init").splitlines()  # idempotent
    assert {"Baskets: exists", "BasketTotals: exists"} <= set(again), again
    total = sum(map(Decimal, FIRST))
    assert python(user_env, COMMIT, "b-1", *FIRST).split() == ["7", str(total)]

    hydrated = json.loads(run(user_env, AWS_ES, "hydrate", "Basket", "b-1", "--json"))
    assert (hydrated["version"], hydrated["snapshot_version"], hydrated["tail_events"]) == (7, 5, 2)

    lambda_run = json.loads(python(user_env, PROJECT_WITH_LAMBDA).splitlines()[-1])  # after the metrics (EMF)
    assert lambda_run == {"records": 7, "reply": {"batchItemFailures": []}}
    row = queried(user_env, "b-1")
    assert (Decimal(row["items"]), Decimal(row["total"])) == (7, total)

    python(user_env, COMMIT, "b-1", *LATER)  # the local stream runner takes it from here
    run(user_env, AWS_ES, "project", "--once")
    total += sum(map(Decimal, LATER))
    row = queried(user_env, "b-1")
    assert (Decimal(row["items"]), Decimal(row["total"])) == (9, total)

    status, body = python(user_env, QUERY_API, "/baskets/b-1").split(" ", 1)
    assert (status, json.loads(body)) == ("200", {"id": "b-1", "items": 9, "total": str(total)})
    assert python(user_env, QUERY_API, "/baskets/nobody").split(" ", 1)[0] == "404"

    run(user_env, AWS_ES, "rebuild", "basket-totals")
    run(user_env, AWS_ES, "rebuild", "basket-totals", "--verify")
    row = queried(user_env, "b-1")
    assert (Decimal(row["items"]), Decimal(row["total"])) == (9, total)


def test_a_module_that_cannot_be_imported_is_named(user_env: dict[str, str]) -> None:
    env = {**user_env, "AWS_ES_MODULES": "shop,no_such_shop"}
    done = subprocess.run([AWS_ES, "init"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "no_such_shop" in done.stderr and "Traceback" not in done.stderr
