"""Charts as inline SVG: bars, stacked bars and lines, drawn here with no script.

An enclave has no network, so a report cannot load a charting library: each
chart is plain SVG elements inside the HTML. Every label is escaped (and
control or bidi characters shown as escapes), so a name in the record can
neither break the document nor script it. Each bar and point carries a
`<title>` with its exact value, which browsers show on hover without script.
The SVG has no namespace declaration: HTML gives inline `<svg>` its namespace,
and the report then holds no URL at all.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape, quoteattr

from audit_queries.reports.model import Chart, Series, visible

WIDTH = 760
HEIGHT = 350
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 58, 98
PLOT_WIDTH = WIDTH - LEFT - RIGHT
PLOT_HEIGHT = HEIGHT - TOP - BOTTOM
TICKS = 5
BAR_WIDTH = 56  # at most, so two bars do not look like a wall
LABEL_CHARS = 20  # longer category labels are cut (the full text is in the title)
PALETTE = (
    "#2f6690",
    "#d1495b",
    "#edae49",
    "#66a182",
    "#8e6c8a",
    "#00798c",
    "#a37a74",
    "#6c757d",
)


def render(chart: Chart) -> str:
    """One chart as an `<svg>` element."""
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label={_attr(chart.title)}>',
        f"<title>{_text(chart.title)}</title>",
        f'<text class="chart-title" x="{LEFT}" y="18">{_text(chart.title)}</text>',
    ]
    total = sum(abs(v) for s in chart.series for v in s.values)
    if not chart.categories or not chart.series or total == 0:
        parts.append(
            f'<text class="empty" x="{WIDTH / 2:g}" y="{HEIGHT / 2:g}" text-anchor="middle">'
            "Nothing recorded in this period</text>"
        )
        parts.append("</svg>")
        return "".join(parts)
    if len(chart.series) > 1:
        parts.append(_legend(chart.series))
    top = nice_maximum(_largest(chart))
    if all(float(v).is_integer() for s in chart.series for v in s.values):
        top = max(top, float(TICKS))  # counts: whole-number ticks
    parts.append(_axes(top, chart.y_label))
    if chart.kind == "line":
        parts.append(_lines(chart, top))
    else:
        parts.append(_bars(chart, top))
    parts.append(_category_labels(chart.categories))
    parts.append("</svg>")
    return "".join(parts)


def nice_maximum(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^n that is at least `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def _largest(chart: Chart) -> float:
    if chart.kind == "stacked":
        return max(sum(max(s.values[i], 0) for s in chart.series) for i in range(_n(chart)))
    return max(max(s.values, default=0) for s in chart.series)


def _n(chart: Chart) -> int:
    return len(chart.categories)


def _y(value: float, top: float) -> float:
    return TOP + PLOT_HEIGHT - (max(value, 0) / top) * PLOT_HEIGHT


def _axes(top: float, label: str) -> str:
    parts = []
    for tick in range(TICKS + 1):
        value = top * tick / TICKS
        y = _y(value, top)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_number(value)}</text>"
        )
    bottom = TOP + PLOT_HEIGHT
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}"/>'
    )
    if label:
        parts.append(
            f'<text class="tick" x="12" y="{TOP + PLOT_HEIGHT / 2:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 12 {TOP + PLOT_HEIGHT / 2:.1f})">{_text(label)}</text>'
        )
    return "".join(parts)


def _bars(chart: Chart, top: float) -> str:
    band = PLOT_WIDTH / _n(chart)
    bars = 1 if chart.kind == "stacked" else len(chart.series)
    inner = min(band * 0.8, BAR_WIDTH * bars)
    parts = []
    for i, category in enumerate(chart.categories):
        x0 = LEFT + i * band + (band - inner) / 2
        base = 0.0
        for k, series in enumerate(chart.series):
            value = series.values[i]
            if chart.kind == "stacked":
                x, width = x0, inner
                y_top, y_bottom = _y(base + value, top), _y(base, top)
                base += max(value, 0)
            else:
                width = inner / len(chart.series)
                x = x0 + k * width
                y_top, y_bottom = _y(value, top), _y(0, top)
            height = max(y_bottom - y_top, 0)
            parts.append(
                f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{max(width - 1, 1):.1f}" '
                f'height="{height:.1f}" fill="{_colour(k)}">'
                f"<title>{_text(_point(category, series, value))}</title></rect>"
            )
    return "".join(parts)


def _lines(chart: Chart, top: float) -> str:
    band = PLOT_WIDTH / _n(chart)
    parts = []
    for k, series in enumerate(chart.series):
        points = [
            (LEFT + (i + 0.5) * band, _y(value, top)) for i, value in enumerate(series.values)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(
            f'<polyline fill="none" stroke="{_colour(k)}" stroke-width="2" points="{path}"/>'
        )
        for (x, y), category, value in zip(points, chart.categories, series.values, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{_colour(k)}">'
                f"<title>{_text(_point(category, series, value))}</title></circle>"
            )
    return "".join(parts)


def _category_labels(categories: list[str]) -> str:
    band = PLOT_WIDTH / len(categories)
    y = TOP + PLOT_HEIGHT + 14
    short = max(len(c) for c in categories) * 6.5 <= band * 0.9
    parts = []
    for i, category in enumerate(categories):
        x = LEFT + (i + 0.5) * band
        label = category if len(category) <= LABEL_CHARS else category[: LABEL_CHARS - 1] + "…"
        if short:
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{y}" text-anchor="middle">{_text(label)}</text>'
            )
        else:
            parts.append(
                f'<text class="tick" x="{x:.1f}" y="{y}" text-anchor="end" '
                f'transform="rotate(-35 {x:.1f} {y})">{_text(label)}'
                f"<title>{_text(category)}</title></text>"
            )
    return "".join(parts)


def _legend(series: list[Series]) -> str:
    parts, x = [], float(LEFT)
    for k, s in enumerate(series):
        name = s.name if len(s.name) <= LABEL_CHARS else s.name[: LABEL_CHARS - 1] + "…"
        parts.append(
            f'<rect x="{x:.1f}" y="30" width="10" height="10" fill="{_colour(k)}"/>'
            f'<text class="legend" x="{x + 14:.1f}" y="39">{_text(name)}</text>'
        )
        x += 24 + 6.5 * len(name)
    return "".join(parts)


def _point(category: str, series: Series, value: float) -> str:
    return f"{category} · {series.name}: {_number(value)}"


def _colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def _text(text: str) -> str:
    return escape(visible(text))


def _attr(text: str) -> str:
    return quoteattr(visible(text))
