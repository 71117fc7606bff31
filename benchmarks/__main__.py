"""Run every benchmark suite (or the ones named), print each table, save JSON under benchmarks/results/."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time
from pathlib import Path

#: Each module exposes `run(quick: bool) -> list[dict]`; rows of one suite share their keys.
SUITES: list[str] = ["benchmarks.fold_peer", "benchmarks.hydrate", "benchmarks.projector", "benchmarks.local_stack",
                     "benchmarks.status_shards", "benchmarks.parking", "benchmarks.cold_start",
                     "benchmarks.dashboard"]
RESULTS = Path(__file__).parent / "results"


def print_table(title: str, rows: list[dict]) -> None:
    print(f"\n== {title} ==")
    if not rows:
        print("(no rows)")
        return
    keys = list(rows[0])
    cells = [[_cell(row.get(key)) for key in keys] for row in rows]
    widths = [max(len(key), *(len(line[i]) for line in cells)) for i, key in enumerate(keys)]
    print("  ".join(key.rjust(width) for key, width in zip(keys, widths, strict=True)))
    for line in cells:
        print("  ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return "-" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("suites", nargs="*", help=f"suites to run (default: all of {', '.join(SUITES)})")
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for name in args.suites or SUITES:
        module = importlib.import_module(name if "." in name else f"benchmarks.{name}")
        started = time.perf_counter()
        rows = module.run(quick=args.quick)
        print_table(module.__doc__.strip().splitlines()[0] if module.__doc__ else name, rows)
        out = RESULTS / f"{module.__name__.rsplit('.', 1)[-1]}.json"
        out.write_text(json.dumps({
            "suite": module.__name__, "python": platform.python_version(), "machine": platform.machine(),
            "seconds": round(time.perf_counter() - started, 1), "rows": rows,
        }, indent=2, default=str))
        print(f"saved {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")


if __name__ == "__main__":
    main()
