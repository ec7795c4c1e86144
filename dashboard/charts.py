"""Charts drawn on the server as inline SVG: no JavaScript, no chart library, no CDN."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 640
HEIGHT = 220
# Room for the equity labels on the left and the time labels below the plot.
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 12, 28


def _time_label(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _money_label(value: float) -> str:
    return f"{value:+,.2f}"


def _finite_points(points: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    """The [ts, equity] pairs that can be drawn; anything else is left out."""
    kept = []
    for point in points:
        try:
            ts, equity = float(point[0]), float(point[1])
        except (TypeError, ValueError, IndexError):
            continue
        if math.isfinite(ts) and math.isfinite(equity):
            kept.append((ts, equity))
    return kept


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    """Map value in [low, high] onto [start, end]; a range of zero width maps to its middle."""
    if high == low:
        return (start + end) / 2
    return start + (value - low) / (high - low) * (end - start)


def equity_svg(
    points: Iterable[Sequence[float]], *, width: int = WIDTH, height: int = HEIGHT
) -> SafeString:
    """An equity curve of `[event time ms, equity]` points as an inline SVG polyline.

    The y axis is labelled with the lowest and highest equity, the x axis with the first and
    last time (UTC); a dashed line marks zero when the curve crosses it. A flat curve is drawn
    across the middle, a single point as a dot, and no points as a sentence saying so.
    """
    drawable = _finite_points(points)
    x0, x1 = LEFT, width - RIGHT
    y0, y1 = height - BOTTOM, TOP  # SVG's y grows downwards: the lowest equity is at y0
    opening = format_html(
        '<svg class="equity-chart" viewBox="0 0 {} {}" width="100%" role="img" '
        'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        width,
        height,
    )
    if not drawable:
        return format_html(
            '{}<title>Equity curve: no points</title><text class="chart-empty" x="{}" y="{}" '
            'text-anchor="middle">No equity points were recorded for this run.</text></svg>',
            opening,
            width / 2,
            height / 2,
        )
    times = [ts for ts, _ in drawable]
    values = [equity for _, equity in drawable]
    t_low, t_high = min(times), max(times)
    e_low, e_high = min(values), max(values)
    coordinates = [
        (
            round(_scale(ts, t_low, t_high, x0, x1), 1),
            round(_scale(equity, e_low, e_high, y0, y1), 1),
        )
        for ts, equity in drawable
    ]
    if len(coordinates) == 1:
        x, y = coordinates[0]
        curve = format_html('<circle class="equity-dot" cx="{}" cy="{}" r="3"></circle>', x, y)
    else:
        curve = format_html(
            '<polyline class="equity-line" fill="none" points="{}"></polyline>',
            " ".join(f"{x},{y}" for x, y in coordinates),
        )
    zero = ""
    if e_low < 0 < e_high:
        zero_y = round(_scale(0, e_low, e_high, y0, y1), 1)
        zero = format_html(
            '<line class="chart-zero" x1="{}" y1="{}" x2="{}" y2="{}"></line>',
            x0,
            zero_y,
            x1,
            zero_y,
        )
    # A flat curve has one value to label, drawn across the middle.
    flat = e_high == e_low
    y_labels = [(e_high, (y0 + y1) / 2 + 4)] if flat else [(e_high, y1 + 4), (e_low, y0)]
    labels = format_html_join(
        "",
        '<text class="chart-label" x="{}" y="{}" text-anchor="end">{}</text>',
        ((x0 - 6, y, _money_label(value)) for value, y in y_labels),
    )
    if t_high == t_low:
        x_labels = format_html(
            '<text class="chart-label" x="{}" y="{}" text-anchor="middle">{}</text>',
            (x0 + x1) / 2,
            height - 8,
            _time_label(t_low),
        )
    else:
        x_labels = format_html(
            '<text class="chart-label" x="{}" y="{}" text-anchor="start">{}</text>'
            '<text class="chart-label" x="{}" y="{}" text-anchor="end">{}</text>',
            x0,
            height - 8,
            _time_label(t_low),
            x1,
            height - 8,
            _time_label(t_high),
        )
    axes = format_html(
        '<line class="chart-axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>'
        '<line class="chart-axis" x1="{}" y1="{}" x2="{}" y2="{}"></line>',
        x0,
        y1,
        x0,
        y0,
        x0,
        y0,
        x1,
        y0,
    )
    title = format_html(
        "<title>Equity curve: {} points, from {} to {}; lowest {}, highest {}</title>",
        len(coordinates),
        _money_label(values[0]),
        _money_label(values[-1]),
        _money_label(e_low),
        _money_label(e_high),
    )
    return format_html("{}{}{}{}{}{}{}</svg>", opening, title, axes, zero, labels, x_labels, curve)
