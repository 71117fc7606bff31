"""The write side over real HTTP against moto's server: the README example, races, and the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest

from core import ConcurrencyError
from handlers.app import App
from handlers.cli import main
from loans import Loan

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


def readme_example() -> str:
    """The first Python block of the README, run exactly as written."""
    text = (ROOT / "README.md").read_text()
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_works_as_written_after_init(server_env, capsys):
    assert main(["init"]) == 0
    assert "Loans: created" in capsys.readouterr().out
    assert main(["init"]) == 0  # idempotent
    assert "Loans: exists" in capsys.readouterr().out
    exec(compile(readme_example(), "README.md", "exec"), {})


def test_eight_writers_on_one_loan_lose_nothing(server_env):
    main(["init"])
    loan = Loan()
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("100000.00"), "interest": Decimal("0")},
                 {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    acknowledged: list[tuple[int, str]] = []
    conflicts: list[int] = []
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(name: int) -> None:
        mine = Loan(loan.id)
        try:
            start.wait()
            for payment in range(8):
                ref = f"w{name}-p{payment}"
                while True:
                    mine.hydrate()
                    try:
                        event = mine.commit({"type": "LoanPaid", "amount": Decimal("1.00"), "ref": ref})
                        acknowledged.append((event.number, ref))
                        break
                    except ConcurrencyError:
                        conflicts.append(name)
        except BaseException as exc:  # anything but a ConcurrencyError is a failure of the test
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    stored = list(Loan(loan.id).events())
    assert [event.number for event in stored] == list(range(1, 3 + 64 + 1))
    assert sorted(acknowledged) == [(event.number, event.ref) for event in stored[3:]]
    final = Loan(loan.id).hydrate()
    assert final.balance == Decimal("100000.00") - 64 and final.version == 67
    assert len(conflicts) > 0  # eight writers from one barrier do collide; each loser was told


def test_hydrate_json_reports_state_and_cost(server_env, capsys):
    main(["init"])
    loan = Loan()
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("10.00"), "interest": Decimal("0.10")},
                 {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    capsys.readouterr()
    assert main(["hydrate", loan.id, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["id"] == loan.id and report["version"] == 3 and report["events_read"] == 3
    assert report["state"]["status"] == "DISBURSED" and report["state"]["balance"] == "11.00"
    assert report["requests"] == 1 and report["bytes"] > 0 and report["ms"] >= 0
    assert main(["hydrate", loan.id]) == 0
    assert "balance" in capsys.readouterr().out


def test_hydrate_of_an_unknown_loan_is_one_clear_line(server_env, capsys):
    main(["init"])
    capsys.readouterr()
    assert main(["hydrate", "no-such-loan"]) == 1
    err = capsys.readouterr().err
    assert err == "aws-es hydrate: no loan 'no-such-loan' in table 'Loans'\n"


def test_a_missing_table_is_one_clear_line(server_env, capsys):
    assert main(["hydrate", "x"]) == 1
    assert "events table 'Loans' does not exist: run `aws-es init` first" in capsys.readouterr().err


def post(app: App, path: str, body: str) -> tuple[int, dict]:
    """The commands API handler on `app`, called as API Gateway calls it."""
    from handlers import commands

    context = type("Context", (), {"function_name": "loan-commands", "memory_limit_in_mb": 256,
                                   "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                                   "aws_request_id": "req-1"})()
    event = {"httpMethod": "POST", "path": path, "resource": path, "headers": {"Content-Type": "application/json"},
             "requestContext": {"requestId": "req-1", "stage": "test"}, "body": body,
             "isBase64Encoded": False}
    response = commands.handler_for(app)(event, context)
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("spelling", ["loan_paid", "LOAN_PAID", "Loan_Paid"])
def test_an_event_type_is_refused_through_the_api_unless_canonical(server_app, spelling):
    main(["init"])
    loan = Loan()
    loan.commit([{"type": "LoanCreated", "requested_amount": Decimal("100.00"), "interest": Decimal("0")},
                 {"type": "LoanApproved"}, {"type": "LoanDisbursed"}])
    status, body = post(server_app, f"/loans/{loan.id}/events", f'{{"type": "{spelling}", "amount": 40.00}}')
    assert status == 422 and "did you mean LoanPaid?" in body["error"] and body["field"] == "type"
    assert [event.type for event in Loan(loan.id).events()] == ["LoanCreated", "LoanApproved", "LoanDisbursed"]
    status, body = post(server_app, f"/loans/{loan.id}/events", '{"type": "LoanPaid", "amount": 40.00}')
    assert status == 201
    assert Loan(loan.id).hydrate().balance == Decimal("60.00")


def run_cli(*args: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "handlers.cli", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
               AWS_CONFIG_FILE="/nonexistent", AWS_DEFAULT_REGION="us-east-1", **extra)
    return env


def test_an_unreachable_endpoint_is_one_clear_line():
    env = clean_env(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x",
                    AWS_MAX_ATTEMPTS="1")
    result = run_cli("init", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("aws-es init: cannot reach http://127.0.0.1:9")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_missing_credentials_is_one_clear_line(moto_server):
    result = run_cli("init", env=clean_env(AWS_ENDPOINT_URL=moto_server))
    assert result.returncode == 1
    assert result.stderr == "aws-es init: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, " \
                            "or run `aws-es local`\n"


def test_usage_mistakes_exit_2_with_a_message():
    result = run_cli("hydrate", env=clean_env())
    assert result.returncode == 2 and "the following arguments are required: id" in result.stderr
    result = run_cli("demo", "--repayments", "zero", env=clean_env())
    assert result.returncode == 2 and "'zero' is not a whole number" in result.stderr


def test_every_command_has_help():
    for command in ("init", "demo", "local", "hydrate"):
        result = run_cli(command, "--help", env=clean_env())
        assert result.returncode == 0 and result.stdout.startswith("usage: aws-es " + command)


def test_demo_starts_the_embedded_stack_when_nothing_is_configured():
    result = run_cli("demo", "--repayments", "40", env=clean_env())
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("local stack: moto's server at http://127.0.0.1:")
    for status in ("REJECTED", "APPROVED", "DISBURSED", "PAID", "SETTLED", "COLLECTIONS"):
        assert status in out
    assert "long-lived loan" in out and "45 events committed" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert "45 events read" in lines["full"] and " 1 requests" in lines["warm"]
    assert "snapshot at version" not in lines["snapshot"]  # 45 events: below the 100-event policy


def test_local_keeps_the_stack_up_and_prints_what_another_shell_needs():
    import signal
    import time

    import boto3

    process = subprocess.Popen([sys.executable, "-m", "handlers.cli", "local"], cwd=ROOT, env=clean_env(),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = [process.stdout.readline() for _ in range(7)]
        assert lines[0].startswith("local stack: moto's server at http://127.0.0.1:")
        exports = dict(line.strip().removeprefix("export ").split("=", 1) for line in lines[2:6])
        assert set(exports) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL"}
        client = boto3.client("dynamodb", endpoint_url=exports["AWS_ENDPOINT_URL"], region_name="us-east-1",
                              aws_access_key_id="testing", aws_secret_access_key="testing")
        assert "Loans" in client.list_tables()["TableNames"]  # the tables are ready
        time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0 and "stopped" in out and err == ""
