"""`aws-es local` in a child process, as a user runs it, for the local stack's race test and soak.

`LocalProcess(switch_interval=1e-6)` makes moto's threads switch as often as the interpreter allows, so that
races show within seconds; `patched=False` runs moto as shipped (`handlers.local_moto.patch` made a no-op).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from handlers.local import free_port

HERE = Path(__file__).resolve().parent.parent

#: Runs `aws-es local` with the given thread switch interval, with or without the moto patches.
LAUNCH = """
import sys
sys.setswitchinterval(float(sys.argv[1]))
if sys.argv[2] == "unpatched":
    import handlers.local_moto
    handlers.local_moto.patch = lambda: None
from handlers.cli import main
sys.exit(main(["local", "--port", sys.argv[3], "--http-port", sys.argv[4]]))
"""


def client_environment(endpoint: str) -> dict[str, str]:
    """This environment with no AWS settings but the local stack's."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "POWERTOOLS_"))}
    return {**env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint, "PYTHONPATH": str(HERE)}


class LocalProcess:
    """`aws-es local` on free ports; `endpoint` is moto's, `api` the APIs'. `stop()` sends Ctrl-C and returns
    the seconds it took to exit; `stdout`/`stderr` then hold what it printed."""

    def __init__(self, *, patched: bool = True, switch_interval: float | None = None,
                 env: dict[str, str] | None = None, startup: float = 60.0) -> None:
        interval = switch_interval if switch_interval is not None else sys.getswitchinterval()
        port, http_port = free_port(), free_port()
        environ = {**client_environment(""), **(env or {}), "PYTHONUNBUFFERED": "1"}
        environ.pop("AWS_ENDPOINT_URL")
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            environ.pop(name)  # with no credentials configured `aws-es local` is what a user would run
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, str(interval), "patched" if patched else "unpatched", str(port),
             str(http_port)], env=environ, cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._errors = threading.Thread(target=self._collect_stderr, daemon=True)
        self._errors.start()
        deadline = time.monotonic() + startup
        assert self.process.stdout is not None
        try:
            for line in self.process.stdout:
                self.stdout.append(line)
                if line.startswith("Ctrl-C to stop") or time.monotonic() > deadline:
                    break
        except BaseException:  # interrupted while it starts (Ctrl-C, a test's time limit): no process left behind
            self.stop(timeout=5)
            raise
        text = "".join(self.stdout)
        endpoint, api = re.search(r"moto's server at (\S+)", text), re.search(r"^APIs: (\S+)", text, re.M)
        if endpoint is None or api is None:
            self.stop()
            raise RuntimeError(f"aws-es local did not start:\n{text}\n{''.join(self.stderr)}")
        self.endpoint, self.api = endpoint.group(1), api.group(1)
        self._output = threading.Thread(target=self._collect_stdout, daemon=True)
        self._output.start()

    def _collect_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout.append(line)

    def _collect_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line)

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        """The process's resident memory now, in MB (Linux /proc)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    def stop(self, timeout: float = 60.0) -> float:
        started = time.monotonic()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        seconds = time.monotonic() - started
        for thread in ("_output", "_errors"):
            if hasattr(self, thread):
                getattr(self, thread).join(timeout=5)
        return seconds

    def __enter__(self) -> LocalProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
