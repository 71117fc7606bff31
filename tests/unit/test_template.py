"""template.yaml translates with samtranslator into the projector's stream mapping and the two APIs' routes
(tests/unit/test_template_lint.py lints both)."""

from __future__ import annotations

import pytest

from tests.template_support import translated


def test_the_translated_template_wires_the_projector(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    output = translated()
    mappings = [r["Properties"] for r in output["Resources"].values() if r["Type"] == "AWS::Lambda::EventSourceMapping"]
    assert len(mappings) == 1
    mapping = mappings[0]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert "OnFailure" in mapping["DestinationConfig"]
    functions = {r["Properties"]["Handler"]: r["Properties"] for r in output["Resources"].values()
                 if r["Type"] == "AWS::Lambda::Function"}
    assert set(functions) == {"handlers.projector.lambda_handler", "handlers.commands.lambda_handler",
                              "handlers.queries.lambda_handler", "handlers.rebuild_worker.lambda_handler"}
    function = functions["handlers.projector.lambda_handler"]
    assert function["Runtime"] == "python3.13"
    assert {"LOAN_SUMMARY_TABLE", "PORTFOLIO_TABLE", "PROJECTION_CONTROL_TABLE", "ON_FAILURE_QUEUE",
            "LOANS_TABLE"} <= set(function["Environment"]["Variables"])


def test_the_commands_and_queries_apis_are_routed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    output = translated()
    api = next(r["Properties"]["Body"] for r in output["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi")
    routes = {(path, method) for path, methods in api["paths"].items() for method in methods}
    assert routes == {("/loans", "post"), ("/loans/{loan_id}/events", "post"), ("/loans/{loan_id}", "get"),
                      ("/loans/{loan_id}/summary", "get"), ("/loans", "get"), ("/portfolio", "get"),
                      ("/dashboard", "get"), ("/dashboard/loans/{loan_id}", "get"),
                      ("/dashboard/lists/{name}", "get"),
                      ("/dashboard/status/{status}", "get")}
