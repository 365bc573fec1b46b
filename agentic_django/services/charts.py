"""Bar charts as SVG markup, drawn on the server for the usage dashboard.

Pure functions: data in, an ``<svg>`` string out, every text and attribute escaped
(agent names come from code and the database, not from us). The caller marks the
result safe. Each bar carries ``data-*`` attributes with its series, category and
exact value, and a ``<title>`` tooltip; a chart without data is a short message
instead of empty axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

#: Series colours, readable on light and dark admin themes; they repeat after eight.
PALETTE = (
    "#3b7dd8",
    "#e8833a",
    "#3aa55d",
    "#d64545",
    "#8f6ad0",
    "#a0784a",
    "#d765a8",
    "#5f8a99",
)
WIDTH = 720
PLOT_HEIGHT = 200
MARGIN_LEFT = 64
MARGIN_RIGHT = 12
#: Room above the plot for the chart's visible title.
MARGIN_TOP = 36
AXIS_HEIGHT = 28
LEGEND_ROW = 18
#: Rough width of one character at the charts' font size, for laying out labels.
CHAR_WIDTH = 6.5
MAX_CATEGORY_LABELS = 12


@dataclass(frozen=True)
class Series:
    """One named row of values, one value per category."""

    name: str
    values: Sequence[float]


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _number(value: float) -> str:
    """A plain decimal for attributes and coordinates (no exponent, no trailing zeros)."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def plain(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def bar_chart(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    category_key: str = "category",
    series_key: str = "series",
    category_labels: Sequence[str] | None = None,
    stacked: bool = True,
    format_value: Callable[[float], str] = plain,
    empty_message: str = "No data for this period.",
) -> str:
    """An SVG bar chart of ``series`` over ``categories``, stacked or side by side.

    ``category_labels`` are the texts shown under the axis (``categories`` are what
    goes into ``data-<category_key>``); ``format_value`` writes values for the axis
    and the tooltips. Keys must be valid attribute name parts (``agent``, ``day``).
    """
    for key in (category_key, series_key):
        if not key.replace("-", "").isalnum():
            raise ValueError(f"{key!r} cannot be part of a data- attribute name.")
    labels = list(category_labels) if category_labels is not None else list(categories)
    if len(labels) != len(categories) or any(len(s.values) != len(categories) for s in series):
        raise ValueError("Every series and the labels need one value per category.")
    if not categories or not any(v > 0 for s in series for v in s.values):
        return empty_chart(title, empty_message)

    if stacked:
        top = max(sum(s.values[i] for s in series) for i in range(len(categories)))
    else:
        top = max(max(s.values) for s in series)
    ticks = _ticks(top)
    scale_max = ticks[-1]
    legend = _legend(series)
    legend_top = MARGIN_TOP + PLOT_HEIGHT + AXIS_HEIGHT
    height = legend_top + legend.rows * LEGEND_ROW + 4
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    band = plot_width / len(categories)
    bottom = MARGIN_TOP + PLOT_HEIGHT

    def y(value: float) -> float:
        return bottom - PLOT_HEIGHT * value / scale_max

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="usage-chart" '
        f'viewBox="0 0 {WIDTH} {_number(height)}" role="img" aria-label="{_text(title)}" '
        f'font-family="sans-serif" font-size="11">',
        f"<title>{_text(title)}</title>",
        _heading(title),
        '<g class="axis y-axis">',
    ]
    for tick in ticks:
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" '
            f'y1="{_number(y(tick))}" y2="{_number(y(tick))}" stroke="#8884" />'
            f'<text x="{MARGIN_LEFT - 6}" y="{_number(y(tick) + 4)}" text-anchor="end">'
            f"{_text(format_value(tick))}</text>"
        )
    parts.append("</g>")

    parts.append('<g class="bars">')
    group_width = band * 0.8
    for index, category in enumerate(categories):
        left = MARGIN_LEFT + band * index + (band - group_width) / 2
        base = 0.0
        for number, one in enumerate(series):
            value = one.values[index]
            if value <= 0:
                continue
            if stacked:
                x, width = left, group_width
                y_top, y_bottom = y(base + value), y(base)
                base += value
            else:
                width = group_width / len(series)
                x = left + width * number
                y_top, y_bottom = y(value), bottom
            parts.append(
                f'<rect class="bar" x="{_number(x)}" y="{_number(y_top)}" '
                f'width="{_number(width)}" height="{_number(max(y_bottom - y_top, 0.5))}" '
                f'fill="{PALETTE[number % len(PALETTE)]}" '
                f'data-{series_key}="{_text(one.name)}" '
                f'data-{category_key}="{_text(category)}" data-value="{_number(value)}">'
                f"<title>{_text(one.name)} · {_text(labels[index])}: "
                f"{_text(format_value(value))}</title></rect>"
            )
    parts.append("</g>")

    parts.append('<g class="axis x-axis">')
    parts.append(
        f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{bottom}" y2="{bottom}" '
        'stroke="currentColor" />'
    )
    step = math.ceil(len(categories) / MAX_CATEGORY_LABELS)
    fits = max(int(band * step / CHAR_WIDTH), 3)
    for index in range(0, len(categories), step):
        label = labels[index]
        shown = label if len(label) <= fits else label[: fits - 1] + "…"
        center = MARGIN_LEFT + band * (index + 0.5)
        parts.append(
            f'<text x="{_number(center)}" y="{bottom + 16}" text-anchor="middle">'
            f"{_text(shown)}<title>{_text(label)}</title></text>"
        )
    parts.append("</g>")

    parts.append(legend.markup(legend_top))
    parts.append("</svg>")
    return "".join(parts)


def empty_chart(title: str, message: str) -> str:
    """A small SVG saying there is nothing to draw."""
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="usage-chart usage-chart-empty" '
        f'viewBox="0 0 {WIDTH} 72" role="img" aria-label="{_text(title)}" '
        f'font-family="sans-serif" font-size="11" data-empty="true">'
        f"<title>{_text(title)}</title>{_heading(title)}"
        f'<text class="chart-message" x="{WIDTH // 2}" y="56" text-anchor="middle" '
        f'font-size="13">{_text(message)}</text>'
        "</svg>"
    )


def _heading(title: str) -> str:
    return (
        f'<text class="chart-title" x="{MARGIN_LEFT}" y="18" font-size="13" '
        f'font-weight="600">{_text(title)}</text>'
    )


def _ticks(top: float) -> list[float]:
    """0 and round steps up to at least ``top`` (four or five gridlines)."""
    raw = top / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    count = math.ceil(top / step - 1e-9)
    return [step * n for n in range(count + 1)]


@dataclass(frozen=True)
class _Legend:
    items: list[tuple[float, int, str, str]]  # x, row, colour, name
    rows: int

    def markup(self, top: float) -> str:
        parts = ['<g class="legend">']
        for x, row, colour, name in self.items:
            y = top + row * LEGEND_ROW
            parts.append(
                f'<rect x="{_number(x)}" y="{_number(y)}" width="10" height="10" '
                f'fill="{colour}" /><text x="{_number(x + 14)}" y="{_number(y + 9)}">'
                f"{_text(name)}</text>"
            )
        parts.append("</g>")
        return "".join(parts)


def _legend(series: Sequence[Series]) -> _Legend:
    """Swatches and names left to right, wrapping onto new rows."""
    items: list[tuple[float, int, str, str]] = []
    x, row = float(MARGIN_LEFT), 0
    for number, one in enumerate(series):
        width = 14 + len(one.name) * CHAR_WIDTH + 16
        if x + width > WIDTH - MARGIN_RIGHT and x > MARGIN_LEFT:
            x, row = float(MARGIN_LEFT), row + 1
        items.append((x, row, PALETTE[number % len(PALETTE)], one.name))
        x += width
    return _Legend(items, row + 1 if items else 0)
