"""Charts for the dashboard as inline SVG, rendered on the server: no script, font or style from outside,
so the pages work with no internet. Every label is escaped; numbers are drawn from Decimals and ints.

Each chart sizes its own box from the texts it holds (`text_width`, a generous estimate for the page's sans
serif at `FONT` units), so no label is cut whatever the figure: a wider figure widens the box, and the page
scales the box to its column. Every value is written beside its bar, an axis under the bars carries ticks in
the chart's unit, and a bar with a link leads to the loans it counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

#: Chart text size in SVG units; the page scales the whole box, text included.
FONT = 13
#: Estimated advance of one character in ems: wider than digits and most letters of system sans serifs.
CHAR_EM = 0.64
#: The title is bold: a little wider.
TITLE_EM = 0.7


@dataclass(frozen=True)
class Bar:
    """One bar: its label, its value, the hover text's name for it and where clicking it leads."""

    label: str
    value: Decimal
    href: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Units:
    """How a chart writes its values in full (beside bars) and on its axis' ticks (compact)."""

    full: Callable[[Decimal], str]
    tick: Callable[[Decimal], str]


def text_width(text: str, em: float = CHAR_EM) -> float:
    return len(text) * FONT * em


def nice_top(top: Decimal) -> float:
    """The axis' end: the least of 1, 2, 2.5, 5 times a power of ten at or above `top` (1 for nothing)."""
    value = float(top)
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-12):
            return step * power
    return 10 * power


def compact(value: float) -> str:
    """`2500000` -> `2.5M`: an axis tick."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:,.3g}{suffix}"
    return f"{value:,.3g}"


def hbar_chart(title: str, bars: Sequence[Bar], units: Units, row: int = 22) -> str:
    """Horizontal bars, one per label, each value written at its bar's end, with a ticked axis beneath."""
    top = nice_top(max((bar.value for bar in bars), default=Decimal(0)))
    values = [units.full(bar.value) for bar in bars]
    ticks = [(top * part, units.tick(Decimal(str(top * part)))) for part in (0, 0.5, 1)]
    label_width = max((text_width(bar.label) for bar in bars), default=0) + 8
    value_width = max((text_width(value) for value in values), default=0) + 8
    plot = 180.0
    width = max(label_width + plot + value_width, text_width(title, TITLE_EM) + 2,
                label_width + plot + text_width(ticks[-1][1]) / 2 + 2)
    axis_y = 24 + row * len(bars) + 2
    height = axis_y + FONT + 8
    parts = [_open(title, width, height)]
    for index, (bar, value) in enumerate(zip(bars, values, strict=True)):
        y = 24 + index * row
        length = float(bar.value) / top * plot
        shape = (f'<text x="0" y="{y + row - 8}">{escape(bar.label)}</text>'
                 f'<rect x="{label_width:.1f}" y="{y + 3}" width="{length:.1f}" height="{row - 6}">'
                 f"<title>{escape(bar.name or bar.label)}: {escape(value)}</title></rect>"
                 f'<text x="{label_width + length + 4:.1f}" y="{y + row - 8}" class="value">{escape(value)}</text>')
        parts.append(f'<a href="{escape(bar.href)}">{shape}</a>' if bar.href else shape)
    parts.append(f'<line x1="{label_width:.1f}" x2="{label_width + plot:.1f}" y1="{axis_y}" y2="{axis_y}" '
                 'class="axis-line"></line>')
    for at, text in ticks:
        x = label_width + at / top * plot
        anchor = "start" if at == 0 else "middle"
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{axis_y}" y2="{axis_y + 3}" class="axis-line"></line>'
                     f'<text x="{x:.1f}" y="{axis_y + FONT + 2}" text-anchor="{anchor}" class="axis">'
                     f"{escape(text)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def line_chart(title: str, points: Sequence[tuple[str, str, Decimal]], units: Units) -> str:
    """A step line through `(label, hover name, value)` points in order, with a ticked value axis on the left,
    the first and last labels under it, and the first and last values written at their points."""
    top = nice_top(max((value for _, _, value in points), default=Decimal(0)))
    ticks = [(top * part, units.tick(Decimal(str(top * part)))) for part in (0, 0.5, 1)]
    left = max(text_width(text) for _, text in ticks) + 8
    first, last = (f"from {units.full(points[0][2])}", f"to {units.full(points[-1][2])}") if points else ("", "")
    plot_width, plot_height, plot_top = 420.0, 150.0, 24 + FONT + 6
    width = max(left + plot_width + 4, text_width(title, TITLE_EM) + 2,
                left + text_width(first) + text_width(last) + 16)
    base = plot_top + plot_height
    height = base + 2 * FONT + 10
    step = plot_width / max(len(points) - 1, 1)
    parts = [_open(title, width, height)]
    for at, text in ticks:
        y = base - at / top * plot_height
        parts.append(f'<line x1="{left:.1f}" x2="{left + plot_width:.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'class="grid-line"></line><text x="{left - 4:.1f}" y="{y + 4:.1f}" text-anchor="end" '
                     f'class="axis">{escape(text)}</text>')
    coordinates = [(left + index * step, base - float(value) / top * plot_height)
                   for index, (_, _, value) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    parts.append(f'<polyline points="{path}" class="line"></polyline>')
    for (x, y), (_, name, value) in zip(coordinates, points, strict=True):
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5"><title>{escape(name)}: '
                     f"{escape(units.full(value))}</title></circle>")
    if points:
        parts.append(f'<text x="{left:.1f}" y="{24 + FONT}" class="value">{escape(first)}</text>'
                     f'<text x="{width - 2:.1f}" y="{24 + FONT}" text-anchor="end" class="value">'
                     f"{escape(last)}</text>"
                     f'<text x="{left:.1f}" y="{base + FONT + 4}" class="axis">{escape(points[0][0])}</text>'
                     f'<text x="{width - 2:.1f}" y="{base + 2 * FONT + 6}" text-anchor="end" class="axis">'
                     f"{escape(points[-1][0])}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _open(title: str, width: float, height: float) -> str:
    """The chart's box, drawn at its own size (one unit a pixel, text at `FONT` px) unless its column is narrower."""
    return (f'<svg class="chart" viewBox="0 0 {width:.1f} {height:.1f}" style="max-width:{width:.0f}px" role="img" '
            f'aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title><text x="0" y="14" class="chart-title">{escape(title)}</text>')
