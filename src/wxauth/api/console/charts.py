"""SVG charts drawn on the server: bars (stacked by series) and lines, as markup.

No script and no style sheet of their own: colours are presentation attributes, each bar
carries a ``<title>`` with its numbers, and every chart has a text description, so the page
works without JavaScript and under a Content-Security-Policy that allows no inline style.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 40
PALETTE = ["#2e7d32", "#c62828", "#ef6c00", "#6a1b9a", "#1565c0", "#00838f", "#5d4037", "#757575"]


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    values: Sequence[float]
    color: str | None = None


@dataclass(frozen=True, slots=True)
class Line:
    """A line's values, one per label; None (nothing measured) leaves a gap."""

    name: str
    values: Sequence[float | None]
    color: str | None = None


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    return float(((int(value) // step) + 1) * step) if value > 1 else 1.0


def _frame(title: str, y_max: float, labels: Sequence[str], unit: str) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'stroke="#999"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        value = y_max * fraction
        text = f"{value:.0f}{unit}" if value >= 1 or value == 0 else f"{value:.2f}{unit}"
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#555">{escape(text)}</text>'
        )
        if fraction:
            parts.append(
                f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#eee"/>'
            )
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    every = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + slot * (i + 0.5)
            parts.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                f'font-size="11" fill="#555">{escape(label)}</text>'
            )
    return parts


def _legend(series: Sequence[Series | Line]) -> list[str]:
    parts = []
    x = LEFT
    for i, s in enumerate(series):
        color = s.color or PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{HEIGHT - 5}" font-size="11" fill="#333">'
            f"{escape(s.name)}</text>"
        )
        x += 24 + 7 * len(s.name)
    return parts


def bar_chart(title: str, labels: Sequence[str], series: Sequence[Series]) -> Markup:
    """Bars per label, the series stacked in order."""
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    y_max = _nice_max(max(totals, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    parts = _frame(title, y_max, labels, "")
    for i, label in enumerate(labels):
        base: float = TOP + plot_h
        for n, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = plot_h * value / y_max
            base -= h
            color = s.color or PALETTE[n % len(PALETTE)]
            parts.append(
                f'<rect class="bar" x="{LEFT + slot * i + slot * 0.15:.1f}" y="{base:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{color}" '
                f'data-series="{escape(s.name)}" data-value="{value:g}">'
                f"<title>{escape(label)} {escape(s.name)}: {value:g}</title></rect>"
            )
    parts += _legend(series)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped


def line_chart(title: str, labels: Sequence[str], values: Sequence[float | None]) -> Markup:
    """A line through the values given as fractions (0 to 1), drawn as percentages; None
    (nothing to divide) leaves a gap."""
    percent = [None if v is None else v * 100 for v in values]
    return lines_chart(title, labels, [Line("", percent, "#c62828")], unit="%", decimals=1)


def lines_chart(
    title: str,
    labels: Sequence[str],
    lines: Sequence[Line],
    *,
    unit: str,
    decimals: int = 0,
) -> Markup:
    """A line per series through its values (None leaves a gap), with a legend when the
    lines are named; each point carries its value in ``data-value`` and a ``<title>``."""
    drawn = [v for line in lines for v in line.values if v is not None]
    y_max = _nice_max(max(drawn, default=0))
    plot_h = HEIGHT - TOP - BOTTOM
    slot = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    parts = _frame(title, y_max, labels, unit)
    for n, line in enumerate(lines):
        color = line.color or PALETTE[n % len(PALETTE)]
        points, circles = [], []
        for i, value in enumerate(line.values):
            if value is None:
                continue
            x = LEFT + slot * (i + 0.5)
            y = TOP + plot_h * (1 - value / y_max)
            points.append(f"{x:.1f},{y:.1f}")
            text = f"{value:.{decimals}f}"
            name = f" {escape(line.name)}" if line.name else ""
            circles.append(
                f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}" '
                f'data-series="{escape(line.name)}" data-label="{escape(labels[i])}" '
                f'data-value="{text}"><title>{escape(labels[i])}{name}: {text}{escape(unit)}'
                "</title></circle>"
            )
        if len(points) > 1:
            parts.append(f'<polyline points="{" ".join(points)}" fill="none" '
                         f'stroke="{color}" stroke-width="2"/>')  # fmt: skip
        parts += circles
    if any(line.name for line in lines):
        parts += _legend(lines)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every value above is escaped
