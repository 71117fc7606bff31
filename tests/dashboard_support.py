"""Reading the dashboard's HTML as a browser would: the text of each section, its links and its SVG bars."""

from __future__ import annotations

import signal
import socket
import subprocess
from html.parser import HTMLParser
from typing import Any


class Page(HTMLParser):
    """Text per `<section id=...>` (cells joined by ` | `, rows by newlines), every href, and the bars."""

    def __init__(self, document: str) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: dict[str, str] = {}
        self.links: list[tuple[str, str]] = []
        self.bars: list[dict[str, str]] = []
        self.scripts = 0
        self._section: str | None = None
        self._href: str | None = None
        self._text: list[str] = []
        self._title = False
        self.feed(document)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Any]]) -> None:
        values = dict(attrs)
        if tag == "section":
            self._section = values.get("id")
            self.sections[self._section or ""] = ""
        elif tag == "a":
            self._href, self._text = values.get("href"), []
        elif tag == "rect":
            self.bars.append({**values, "section": self._section or ""})
        elif tag == "script":
            self.scripts += 1
        elif tag in ("td", "th") and self._section:
            self.sections[self._section] += " | "
        elif tag == "tr" and self._section:
            self.sections[self._section] += "\n"
        self._title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)
        if self._section and not self._title:
            self.sections[self._section] += data

    def rows(self, section: str) -> list[list[str]]:
        """The section's table rows as lists of cell texts (header rows included)."""
        lines = [line for line in self.sections[section].split("\n") if " | " in line]
        return [[cell.strip() for cell in line.split(" | ")[1:]] for line in lines]


def free_port() -> int:
    """A loopback port free now, for a process started next to be told (it may be taken meanwhile: rarely)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[str]) -> None:
    """Stop a command-line process as Ctrl-C would, and kill it if it does not end within 20 s."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
