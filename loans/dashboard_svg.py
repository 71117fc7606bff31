"""Charts for the dashboard as inline SVG, rendered on the server: no script, font or style from outside,
so the pages work with no internet. Every label is escaped; numbers are drawn from Decimals and ints."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

#: One bar of a chart: its label and its value.
Bar = tuple[str, Decimal]


def _scale(values: Sequence[Decimal]) -> Decimal:
    top = max(values, default=Decimal(0))
    return top if top > 0 else Decimal(1)


def hbar_chart(title: str, bars: Sequence[Bar], money: bool = False) -> str:
    """Horizontal bars, one per label (statuses): wide labels stay readable on a phone."""
    row, label_width, width = 22, 100, 340
    height = row * len(bars) + 28
    top = _scale([value for _, value in bars])
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<text x="0" y="14" class="chart-title">{escape(title)}</text>']
    for index, (label, value) in enumerate(bars):
        y = 24 + index * row
        length = float(value / top) * (width - label_width - 80)
        parts.append(f'<text x="0" y="{y + 14}">{escape(label)}</text>'
                     f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row - 6}"></rect>'
                     f'<text x="{label_width + length + 4:.1f}" y="{y + 14}">{escape(_figure(value, money))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def day_chart(title: str, bars: Sequence[Bar], money: bool = False) -> str:
    """Vertical bars, one per day (labels `YYYY-MM-DD`); the first, middle and last days are named."""
    width, height, base = 340, 150, 120
    top = _scale([value for _, value in bars])
    step = (width - 10) / max(len(bars), 1)
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>',
             f'<text x="0" y="14" class="chart-title">{escape(title)} (max {escape(_figure(top, money))})</text>']
    named = {0, len(bars) // 2, len(bars) - 1}
    for index, (label, value) in enumerate(bars):
        bar = float(value / top) * (base - 24)
        x = 5 + index * step
        parts.append(f'<rect x="{x:.1f}" y="{base - bar:.1f}" width="{max(step - 2, 1):.1f}" height="{bar:.1f}">'
                     f'<title>{escape(label)}: {escape(_figure(value, money))}</title></rect>')
        if index in named:
            anchor = "end" if index == len(bars) - 1 else "start" if index == 0 else "middle"
            at = x + step - 2 if anchor == "end" else x
            parts.append(f'<text x="{at:.1f}" y="{base + 16}" text-anchor="{anchor}" class="axis">'
                         f"{escape(label[5:])}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _figure(value: Decimal, money: bool) -> str:
    """Amounts with their cents and thousands separators; counts as whole numbers."""
    return f"{value:,.2f}" if money else f"{value:,}"
