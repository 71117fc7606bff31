"""What a handler's cold start imports: the X-Ray SDK only when tracing is on, cryptography only when a personal
value is sealed or revealed, never the command line, the local stack, the HTTP emulator, the demo, the template
generator or moto; and powertools' Tracer around each entry point when tracing is on, as deployed (`Tracing:
Active`). Each check runs in a fresh interpreter, as a cold start does; benchmarks/cold_start.py times the
imports from the built artifact."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from handlers import commands, projector, queries, rebuild_worker
from handlers.tracing import Untraced, tracer_for, tracing_on
from tests.artifact_support import ROOT

HANDLERS = ["handlers.commands", "handlers.queries", "handlers.projector", "handlers.rebuild_worker"]
#: Modules no handler may import: the command line, local runs, the demo and seed, the template generator, moto.
DEV_ONLY = ("handlers.cli", "handlers.local", "handlers.http_local", "handlers.template", "handlers.rebuild_on_aws",
            "handlers.measure", "handlers.views", "loans.demo", "loans.seed", "moto", "benchmarks", "testkit")
#: Run in a fresh interpreter: import every handler, report the tracer of each, the file of each layer around
#: its entry point, and which modules got imported.
PROBE = """
import importlib, json, sys
found = {}
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    layers, function = [], module.lambda_handler
    while function is not None:
        layers.append(function.__code__.co_filename)
        function = getattr(function, "__wrapped__", None)
    found[name] = {"tracer": type(module.tracer).__module__ + "." + type(module.tracer).__name__, "layers": layers}
print(json.dumps({"handlers": found, "modules": sorted(sys.modules)}))
"""
LAMBDA = {"LAMBDA_TASK_ROOT": str(ROOT), "AWS_LAMBDA_FUNCTION_NAME": "probe", "AWS_REGION": "us-east-1",
          "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"}


def cold_import(environment: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PROBE, *HANDLERS], capture_output=True, text=True, check=False,
                          env=environment, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def test_with_tracing_off_no_handler_imports_the_xray_sdk_or_anything_dev_only() -> None:
    found = cold_import({**LAMBDA, "POWERTOOLS_TRACE_DISABLED": "true"})
    imported = found["modules"]
    assert [name for name in imported if name.split(".")[0] in ("aws_xray_sdk", "cryptography")] == []
    assert [name for name in imported if name.startswith(DEV_ONLY)] == []
    assert {name: seen["tracer"] for name, seen in found["handlers"].items()} == dict.fromkeys(
        HANDLERS, "handlers.tracing.Untraced")


def test_with_tracing_on_as_deployed_every_entry_point_is_wrapped_by_powertools_tracer() -> None:
    found = cold_import(LAMBDA)
    assert {name: seen["tracer"] for name, seen in found["handlers"].items()} == dict.fromkeys(
        HANDLERS, "aws_lambda_powertools.tracing.tracer.Tracer")
    for name, seen in found["handlers"].items():
        assert any(layer.endswith("aws_lambda_powertools/tracing/tracer.py") for layer in seen["layers"]), name
    assert "aws_xray_sdk.core" in found["modules"]
    assert [name for name in found["modules"] if name.startswith(DEV_ONLY)] == []


@pytest.mark.parametrize(("environment", "on"), [
    ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"}, False),
    ({}, False),
])
def test_tracing_is_on_in_lambda_unless_disabled_or_emulated(environment: dict[str, str], on: bool) -> None:
    assert tracing_on(environment) is on
    if not on:  # a real Tracer would patch this process's libraries: the fresh interpreters check that one
        assert isinstance(tracer_for("svc", environment), Untraced)


def test_the_untraced_tracer_leaves_the_handler_as_it_is() -> None:
    tracer = tracer_for("svc", {})
    assert isinstance(tracer, Untraced) and tracer.service == "svc"

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return {"event": event}

    assert tracer.capture_lambda_handler(handler) is handler
    decorate: Callable[[Any], Any] = tracer.capture_lambda_handler(capture_response=False)
    assert decorate(handler) is handler
    tracer.put_metadata(key="k", value=[1])
    tracer.put_annotation(key="k", value="v")


@pytest.mark.parametrize("module", [commands, queries, projector, rebuild_worker])
def test_in_the_tests_tracing_is_off_so_each_handler_has_the_untraced_tracer(module: Any) -> None:
    assert isinstance(module.tracer, Untraced)
