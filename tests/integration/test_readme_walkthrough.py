"""The README's "Your own aggregate and projection", run exactly as written: its python block is the user's
module, written to a temporary folder outside this repository; its shell blocks run in `bash -e` there with the
project's `aws-es` on the PATH, against moto's HTTP server; each text block is what the shell block before it
must print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.readme_support import Block, blocks, section, shows

TITLE = "Your own aggregate and projection"


def run(block: Block, folder: Path, env: dict[str, str], prelude: str) -> str:
    done = subprocess.run(["bash", "-e", "-c", prelude + block.text], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"the README's block failed ({done.returncode}):\n{block.text}\n{done.stderr}"
    return done.stdout


def test_the_walkthrough_runs_as_written(server_env, tmp_path):
    walkthrough = blocks(section(TITLE))
    assert [block.language for block in walkthrough] == ["python", "sh", "text", "sh", "text", "sh", "text"]
    module = walkthrough[0].text
    name = module.splitlines()[0].removeprefix("# ").strip()
    (tmp_path / name).write_text(module, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SNAPSHOT_", "AWS_ES_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PYTHONPATH", None)
    exports = ""  # each block runs in its own shell: the `export` lines of the earlier blocks carry over
    for block, after in zip(walkthrough[1:], [*walkthrough[2:], None], strict=True):
        if block.language != "sh":
            continue
        output = run(block, tmp_path, env, exports)
        exports += "".join(line + "\n" for line in block.text.splitlines() if line.startswith("export "))
        if after is not None and after.language == "text":
            assert not shows(after.text, output), f"the README shows\n{after.text}\nbut the block printed\n{output}"


def test_shows_compares_whole_lines_in_order():
    assert shows("25 20 5", "x\n25 20 5\n") == []
    assert shows("25 20 5", "125 20 5\n") == ["25 20 5"]
    assert shows("a\nb", "b\na\n") == ["b"]
    assert shows("T...: 0 differences...", "T-g2: 0 differences from the own state\n") == []
    assert shows("T...: 0 differences...", "T-g2: 10 differences from the own state\n") == ["T...: 0 differences..."]
