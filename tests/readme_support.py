"""Reading the README's walkthrough: its code blocks in order, and the check of a command's output against the
text block the README shows after it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)


@dataclass(frozen=True)
class Block:
    language: str
    text: str


def section(title: str, readme: Path = README) -> str:
    """The text of the README section headed `title`, up to the next heading of the same or a higher level
    (a line starting with `#` inside a code block is not a heading)."""
    lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
    start, level, fenced = None, 0, False
    for number, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"(#+) (.*)", line)
        if heading and start is not None and len(heading.group(1)) <= level:
            return "".join(lines[start:number])
        if heading and start is None and heading.group(2).strip() == title:
            start, level = number + 1, len(heading.group(1))
    if start is None:
        raise AssertionError(f"the README has no section {title!r}")
    return "".join(lines[start:])


def blocks(text: str) -> list[Block]:
    return [Block(match.group(1), match.group(2)) for match in FENCE.finditer(text)]


def shows(expected: str, output: str) -> list[str]:
    """The lines of `expected` not found in `output`: each must match a whole line of it (`...` stands for any
    text), in order."""
    lines = iter(output.splitlines())
    missing = []
    for wanted in expected.splitlines():
        pattern = re.compile(".*".join(re.escape(part) for part in wanted.split("...")))
        if not any(pattern.fullmatch(line.rstrip()) for line in lines):
            missing.append(wanted)
            lines = iter(output.splitlines())
    return missing
