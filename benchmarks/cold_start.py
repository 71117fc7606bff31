"""Cold start: each handler's import from the built Lambda artifact, beside `import boto3` alone (ms, medians).

The artifact is built by lambda/Makefile for this machine's platform and Python, the way the artifact test builds
it (tests/artifact_support.py), and made read-only, as /var/task is. boto3 sits in a read-only folder of its own,
compiled, as the Lambda runtime provides it. Every sample is a fresh `python -I -S -B` whose sys.path is the
artifact then boto3's folder, timing one import; each handler's import is interleaved with an `import boto3`
alone in the same run, so both see the same load. Each handler is timed with its environment from the template,
with tracing on as deployed (`Tracing: Active`: Lambda's task root and X-Ray variables) and with
`POWERTOOLS_TRACE_DISABLED=true`. `above ms` is the handler's median wall time less boto3's; `paired ms` the
median of the differences of each handler sample and the boto3 sample just before it; the `cpu` columns are the
same in CPU time (what the import costs, whatever else the machine runs); `modules` how many modules the import
loaded beyond boto3's. The target is every handler within 150 ms of boto3 (`within 150`, on the wall medians).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.artifact_support import LAMBDA_ENVIRONMENT, boto3_folder, build, functions, literal_environment, this_machine

TARGET_MS = 150.0
#: What Lambda adds to a function's environment when its tracing is Active (the Lambda runtime's variables).
TRACING = {"AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000", "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
           "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13"}
#: One sample: the folders on sys.path, then the time of one import and how many modules it loaded.
SAMPLE = ("import sys, time\nsys.path[:0] = sys.argv[1:3]\nbefore = len(sys.modules)\n"
          "started, cpu = time.perf_counter(), time.process_time()\nimport {module}\n"
          "print(time.perf_counter() - started, time.process_time() - cpu, len(sys.modules) - before)\n")


def read_only(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~0o222)


def writable(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o200)


def runtime(folder: Path) -> Path:
    """boto3 and its dependencies, compiled: the Lambda runtime's copy (/var/runtime) ships bytecode."""
    shutil.copytree(boto3_folder(), folder)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(folder)],
                   check=True, stdout=subprocess.DEVNULL)
    return folder


def sample(module: str, task: Path, boto3: Path, environment: dict[str, str]) -> tuple[float, float, int]:
    """Milliseconds of one `import module` in a fresh interpreter (wall and CPU), and the modules it loaded."""
    done = subprocess.run([sys.executable, "-I", "-S", "-B", "-c", SAMPLE.format(module=module), str(task),
                           str(boto3)], capture_output=True, text=True, env=environment, cwd=task, check=False)
    if done.returncode != 0:
        raise SystemExit(f"cold_start: `import {module}` from the artifact failed:\n{done.stderr[-3000:]}")
    wall, cpu, modules = done.stdout.split()
    return float(wall) * 1000, float(cpu) * 1000, int(modules)


def environments(task: Path) -> dict[str, dict[str, str]]:
    """Each function's environment as Lambda gives it, by handler module."""
    found = {}
    for name, function in functions().items():
        module = function["Handler"].rpartition(".")[0]
        found[module] = {**LAMBDA_ENVIRONMENT, **literal_environment(function), **TRACING,
                         "AWS_LAMBDA_FUNCTION_NAME": name, "LAMBDA_TASK_ROOT": str(task), "PATH": "/usr/bin:/bin"}
    return found


def measure(task: Path, boto3: Path, rounds: int) -> list[dict[str, Any]]:
    handlers = environments(task)
    modes = {"on": {}, "off": {"POWERTOOLS_TRACE_DISABLED": "true"}}
    floor: list[tuple[float, float, int]] = []
    samples: dict[tuple[str, str], list[tuple[float, float, int]]] = {(h, m): [] for h in handlers for m in modes}
    paired: dict[tuple[str, str], list[float]] = {key: [] for key in samples}
    for _ in range(rounds):
        for module, environment in handlers.items():
            for mode, extra in modes.items():
                env = {**environment, **extra}
                alone = sample("boto3", task, boto3, env)
                took = sample(module, task, boto3, env)
                floor.append(alone)
                samples[module, mode].append(took)
                paired[module, mode].append(took[0] - alone[0])
    boto3_ms, boto3_cpu, boto3_modules = (statistics.median(part) for part in zip(*floor, strict=True))
    rows = []
    for (module, mode), taken in samples.items():
        wall, cpu, modules = (statistics.median(part) for part in zip(*taken, strict=True))
        rows.append({"handler": module, "tracing": mode, "samples": len(taken), "boto3 ms": boto3_ms,
                     "import ms": wall, "above ms": wall - boto3_ms,
                     "paired ms": statistics.median(paired[module, mode]),
                     "boto3 cpu": boto3_cpu, "import cpu": cpu, "above cpu": cpu - boto3_cpu,
                     "modules": modules - boto3_modules,
                     "within 150": "yes" if wall - boto3_ms <= TARGET_MS else "no"})
    return rows


def run(quick: bool = False) -> list[dict[str, Any]]:
    rounds = 9 if quick else 15
    scratch = Path(tempfile.mkdtemp(prefix="cold-start-"))
    try:
        task = build(scratch / "task", this_machine())
        boto3 = runtime(scratch / "runtime")
        compiled = sum(1 for _ in task.rglob("*.pyc"))
        print(f"artifact: {task} ({compiled:,} .pyc files), boto3: {boto3}; {rounds} rounds")
        read_only(task)
        read_only(boto3)
        return measure(task, boto3, rounds)
    finally:
        writable(scratch)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    from benchmarks.__main__ import print_table

    print_table("cold start", run(quick="--quick" in sys.argv))
