"""Seed-style hydrate (`Loan(id).hydrate([dict, ...])`) timed in two source trees, alternating, same run.

`python -m benchmarks.seed_compare BASE_TREE` runs the same timing in fresh interpreters with `PYTHONPATH`
pointing at BASE_TREE (say `git worktree add /tmp/base d130bbf`) and at this tree, one run of each in turn,
and prints both medians and their ratio, by the wall clock and by CPU time. Each run hydrates a warm-up
loan, then keeps the middle of three timed hydrates, so one scheduling hiccup does not decide a run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from handlers.cli import positive_int

HERE = Path(__file__).resolve().parent.parent

#: Runs in each tree: only the public surface both trees share.
TIMING = """
import json, sys, time
from decimal import Decimal
import loans
from loans import Loan
size = int(sys.argv[1])
head = [{"type": "LoanCreated", "number": 1, "requested_amount": Decimal(size * 1000), "interest": Decimal("0.05")},
        {"type": "LoanApproved", "number": 2}, {"type": "LoanDisbursed", "number": 3}]
events = head + [{"type": "LoanPaid", "number": n, "amount": Decimal(f"{10 + n % 12}.{n % 12:02d}")}
                 for n in range(4, size + 1)]
Loan("warm-up").hydrate(events)
wall, cpu = [], []
for _ in range(3):
    started, used = time.perf_counter(), time.process_time()
    loan = Loan("seeded").hydrate(events)
    wall.append(time.perf_counter() - started)
    cpu.append(time.process_time() - used)
    assert loan.version == size, loan.version
print(json.dumps({"ms": sorted(wall)[1] * 1000, "cpu_ms": sorted(cpu)[1] * 1000, "module": loans.__file__}))
"""


def check_tree(path: str) -> Path:
    """The tree, if it holds a `loans` package and `core` beside it; else SystemExit saying what is missing."""
    tree = Path(path).resolve()
    if not tree.is_dir():
        raise SystemExit(f"seed_compare: {path!r} is not a directory (give a source tree, e.g. a git worktree)")
    missing = [name for name in ("core/events.py", "loans/__init__.py") if not (tree / name).is_file()]
    if missing:
        raise SystemExit(f"seed_compare: {path!r} is not a source tree of this project: no {', '.join(missing)}")
    return tree


def time_once(tree: Path, size: int) -> tuple[float, float]:
    """One run in a fresh interpreter importing from `tree` (checked: not from an installed copy)."""
    done = subprocess.run([sys.executable, "-c", TIMING, str(size)], env={"PYTHONPATH": str(tree)},
                          capture_output=True, text=True, cwd=tree, timeout=300, check=False)
    if done.returncode != 0:
        raise SystemExit(f"seed_compare: the timing failed in {tree}: {done.stderr.strip()[-500:]}")
    report = json.loads(done.stdout)
    if not Path(report["module"]).resolve().is_relative_to(tree):
        raise SystemExit(f"seed_compare: {tree} imported loans from {report['module']}, not from itself")
    return float(report["ms"]), float(report["cpu_ms"])


def compare(base: Path, head: Path, size: int, runs: int) -> dict[str, float]:
    """Both trees' medians, wall clock and CPU time (on a shared machine, CPU time is what the code costs)."""
    times: dict[Path, list[tuple[float, float]]] = {base: [], head: []}
    for _ in range(runs):
        for tree in (base, head):
            times[tree].append(time_once(tree, size))
    result: dict[str, float] = {"events": size, "runs": runs}
    for position, clock in enumerate(("wall", "cpu")):
        before = statistics.median(run[position] for run in times[base])
        after = statistics.median(run[position] for run in times[head])
        result |= {f"base_{clock}_ms": round(before, 2), f"head_{clock}_ms": round(after, 2),
                   f"{clock}_speedup": round(before / after, 2)}
    return result


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.seed_compare", description=__doc__)
    parser.add_argument("base", help="the source tree to compare against (e.g. main at the base commit)")
    parser.add_argument("--head", default=str(HERE), help="the tree measured against it (default: this one)")
    parser.add_argument("--events", type=positive_int, default=5_000, help="events per loan (default 5,000)")
    parser.add_argument("--runs", type=positive_int, default=9, help="runs in each tree, alternating (default 9)")
    args = parser.parse_args(argv)
    result = compare(check_tree(args.base), check_tree(args.head), args.events, args.runs)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
