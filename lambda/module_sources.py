"""Copy the source of the modules of AWS_ES_MODULES that are not this library's own packages (a user's modules,
found on PYTHONPATH as `aws-es` finds them) into the Lambda artifact: `python3 module_sources.py ROOT DEST
MODULES` (lambda/Makefile runs it). Standard library only; a module that cannot be found exits 2 naming it."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path


def copy_module(name: str, root: Path, destination: Path) -> str | None:
    """Copy the top-level module or package that `name` lives in; None when it is one of the library's own."""
    top = name.strip().split(".")[0]
    if (root / top).is_dir():
        return None
    spec = importlib.util.find_spec(top)
    if spec is None:
        raise SystemExit(f"module_sources: module {name!r} (AWS_ES_MODULES) is not on PYTHONPATH")
    if spec.submodule_search_locations:
        source = Path(next(iter(spec.submodule_search_locations))).resolve()
    elif spec.origin:
        source = Path(spec.origin).resolve()
    else:
        raise SystemExit(f"module_sources: module {name!r} (AWS_ES_MODULES) has no source file to ship")
    if source.is_relative_to(root):
        return None
    target = destination / source.name
    if source.is_dir():
        shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    else:
        shutil.copy2(source, target)
    return str(source)


def main(argv: list[str]) -> None:
    root, destination, modules = Path(argv[0]).resolve(), Path(argv[1]), argv[2] if len(argv) > 2 else ""
    for name in filter(None, (part.strip() for part in modules.split(","))):
        copied = copy_module(name, root, destination)
        if copied:
            print(f"shipped {name}: {copied}")


if __name__ == "__main__":
    main(sys.argv[1:])
