"""`aws-es local --http-port` and `aws-es demo --serve`: the ports they take, and the dashboard they serve."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from core.errors import ConfigurationError
from handlers.cli import main
from handlers.http_local import ApiServer
from tests.dashboard_support import Page, free_port, stop

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("port", "message"), [
    ("0", "0 is not a port"), ("65536", "65536 is not a port"), ("http", "'http' is not a whole number")])
@pytest.mark.parametrize("command", [["local"], ["demo", "--serve"]])
def test_a_bad_http_port_is_a_usage_error(capsys, command, port, message):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--http-port", port])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_a_taken_port_is_a_configuration_error_naming_it():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError, match=f"cannot serve the APIs on 127.0.0.1:{port}"):
            ApiServer(port, handlers={})


def test_demo_serve_ends_by_serving_the_dashboard():
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    command = [str(Path(sys.executable).with_name("aws-es")), "demo", "--repayments", "3", "--serve",
               "--http-port", str(free_port())]
    process = subprocess.Popen(command, env={**env, "PYTHONUNBUFFERED": "1", "POWERTOOLS_METRICS_DISABLED": "true"},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith("dashboard: "):
                break
        assert lines and lines[-1].startswith("dashboard: "), "".join(lines)
        assert any(line.startswith("demo done in") for line in lines)
        with urllib.request.urlopen(lines[-1].split(" ", 1)[1].strip(), timeout=60) as response:
            page = Page(response.read().decode())
        totals = [row for row in page.rows("portfolio") if row and row[0] in ("book (lent)", "pipeline (applications)")]
        assert sum(int(row[1].replace(",", "")) for row in totals) > 1  # the demo's loans, projected before it served
    finally:
        stop(process)
