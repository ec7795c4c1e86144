"""Charts drawn on the server as inline SVG: no JavaScript, no chart library, no CDN."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 640
HEIGHT = 220
# Room for the value labels on the left and the time labels below the plot.
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 12, 28
# Room kept above and below the prices, as a share of their range, so that marks are not cut.
PRICE_PAD = 0.06
MARK = 5  # half the width of a trade's triangle
# Levels within this share of the price (or of the prices' range, if wider) are drawn.
NEAR = 0.01


def _time_label(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _money_label(value: float) -> str:
    return f"{value:+,.2f}"


def _price_label(value: float) -> str:
    """Seven significant digits: 63,064.5, 2,650 and 0.0001234 read as a trader writes them."""
    return f"{value:,.7g}"


def _finite(*values: Any) -> bool:
    try:
        return all(math.isfinite(float(v)) for v in values)
    except (TypeError, ValueError):
        return False


def _finite_points(points: Iterable[Sequence[float]]) -> list[tuple[float, float]]:
    """The [ts, value] pairs that can be drawn; anything else is left out."""
    return [
        (float(point[0]), float(point[1]))
        for point in points
        if len(point) >= 2 and _finite(point[0], point[1])
    ]


def _scale(value: float, low: float, high: float, start: float, end: float) -> float:
    """Map value in [low, high] onto [start, end]; a range of zero width maps to its middle."""
    if high == low:
        return (start + end) / 2
    return start + (value - low) / (high - low) * (end - start)


def _opening(css_class: str, width: int, height: int) -> SafeString:
    return format_html(
        '<svg class="{}" viewBox="0 0 {} {}" width="100%" role="img" '
        'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        css_class,
        width,
        height,
    )


def _sentence(text: str, width: int, height: int) -> SafeString:
    return format_html(
        '<text class="chart-empty" x="{}" y="{}" text-anchor="middle">{}</text>',
        width / 2,
        height / 2,
        text,
    )


def _axes(x0: float, x1: float, y0: float, y1: float) -> SafeString:
    return format_html(
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


def _value_labels(
    low: float, high: float, x0: float, y0: float, y1: float, label: Callable[[float], str]
) -> SafeString:
    """The highest and lowest value beside the y axis; one label across the middle if flat."""
    pairs = [(high, (y0 + y1) / 2 + 4)] if high == low else [(high, y1 + 4), (low, y0)]
    return format_html_join(
        "",
        '<text class="chart-label" x="{}" y="{}" text-anchor="end">{}</text>',
        ((x0 - 6, y, label(value)) for value, y in pairs),
    )


def _time_labels(t_low: float, t_high: float, x0: float, x1: float, height: int) -> SafeString:
    """The first and last time (UTC) below the x axis; one in the middle if they are equal."""
    if t_high == t_low:
        return format_html(
            '<text class="chart-label" x="{}" y="{}" text-anchor="middle">{}</text>',
            (x0 + x1) / 2,
            height - 8,
            _time_label(t_low),
        )
    return format_html(
        '<text class="chart-label" x="{}" y="{}" text-anchor="start">{}</text>'
        '<text class="chart-label" x="{}" y="{}" text-anchor="end">{}</text>',
        x0,
        height - 8,
        _time_label(t_low),
        x1,
        height - 8,
        _time_label(t_high),
    )


def _curve(css_class: str, coordinates: list[tuple[float, float]]) -> SafeString:
    """A polyline through the coordinates; a single one is a dot."""
    if len(coordinates) == 1:
        x, y = coordinates[0]
        return format_html(
            '<circle class="{}-dot" cx="{}" cy="{}" r="3"></circle>', css_class, x, y
        )
    return format_html(
        '<polyline class="{}-line" fill="none" points="{}"></polyline>',
        css_class,
        " ".join(f"{x},{y}" for x, y in coordinates),
    )


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
    opening = _opening("equity-chart", width, height)
    if not drawable:
        return format_html(
            "{}<title>Equity curve: no points</title>{}</svg>",
            opening,
            _sentence("No equity points were recorded for this run.", width, height),
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
    title = format_html(
        "<title>Equity curve: {} points, from {} to {}; lowest {}, highest {}</title>",
        len(coordinates),
        _money_label(values[0]),
        _money_label(values[-1]),
        _money_label(e_low),
        _money_label(e_high),
    )
    return format_html(
        "{}{}{}{}{}{}{}</svg>",
        opening,
        title,
        _axes(x0, x1, y0, y1),
        zero,
        _value_labels(e_low, e_high, x0, y0, y1, _money_label),
        _time_labels(t_low, t_high, x0, x1, height),
        _curve("equity", coordinates),
    )


class LevelLine(NamedTuple):
    """A level to draw: its price, its tier boundaries above and below, and if it is active."""

    price: float
    above: tuple[float, ...] = ()
    below: tuple[float, ...] = ()
    active: bool = True

    @property
    def span(self) -> tuple[float, float]:
        values = (self.price, *self.above, *self.below)
        return min(values), max(values)


class LevelsInView(NamedTuple):
    shown: list[LevelLine]
    next_above: LevelLine | None  # the nearest level above the chart, named on it
    next_below: LevelLine | None


def _levels_in_view(levels: list[LevelLine], low: float, high: float) -> LevelsInView:
    """The levels whose tiers reach within NEAR of the prices (or their range, if wider).

    A level far from the prices would squash them into a line: it is left off, and the
    nearest one each way is named at the chart's edge instead.
    """
    margin = max(high - low, abs(high) * NEAR)
    near_low, near_high = low - margin, high + margin
    shown = [level for level in levels if level.span[0] <= near_high and level.span[1] >= near_low]
    above = [level for level in levels if level.span[0] > near_high]
    below = [level for level in levels if level.span[1] < near_low]
    return LevelsInView(
        shown,
        min(above, key=lambda level: level.price) if above else None,
        max(below, key=lambda level: level.price) if below else None,
    )


def _level_marks(level: LevelLine, y: Callable[[float], float], x0: float, x1: float) -> SafeString:
    """The level's line, labelled, with each side's tiers as a light band and a line per tier."""
    bands = format_html_join(
        "",
        '<rect class="tier-band {}" x="{}" y="{}" width="{}" height="{}"></rect>',
        (
            (
                side,
                x0,
                min(y(p) for p in prices),
                x1 - x0,
                round(abs(y(prices[0]) - y(prices[-1])), 1),
            )
            for side, prices in (("above", level.above), ("below", level.below))
            if prices
        ),
    )
    tier_lines = format_html_join(
        "",
        '<line class="tier-line" x1="{}" y1="{}" x2="{}" y2="{}"></line>',
        ((x0, y(p), x1, y(p)) for p in (*level.above, *level.below)),
    )
    state = "" if level.active else " paused"
    at = y(level.price)
    return format_html(
        '<g class="level{}">{}{}<line class="level-line" x1="{}" y1="{}" x2="{}" y2="{}">'
        '<title>Level {}</title></line><text class="level-label" x="{}" y="{}" '
        'text-anchor="end">{}</text></g>',
        state,
        bands,
        tier_lines,
        x0,
        at,
        x1,
        at,
        _price_label(level.price),
        x1 - 4,
        at - 3,
        _price_label(level.price),
    )


def _trade_mark(x: float, y: float, price: float, ts: float, buy: bool) -> SafeString:
    """An up-triangle for a buy, a down-triangle for a sell, its point at the fill price."""
    tip, base = (y, y + 2 * MARK) if buy else (y, y - 2 * MARK)
    return format_html(
        '<polygon class="trade-{}" points="{},{} {},{} {},{}"><title>{} at {}, {} UTC</title>'
        "</polygon>",
        "buy" if buy else "sell",
        x,
        tip,
        round(x - MARK, 1),
        round(base, 1),
        round(x + MARK, 1),
        round(base, 1),
        "buy" if buy else "sell",
        _price_label(price),
        _time_label(ts),
    )


def price_svg(
    prices: Iterable[Sequence[float]],
    *,
    levels: Iterable[LevelLine] = (),
    trades: Iterable[tuple[float, float, bool]] = (),
    width: int = WIDTH,
    height: int = HEIGHT,
) -> SafeString:
    """Recent `[time ms, price]` points as a line, with the levels near them and their tier
    bands, and trades as triangles (up for a buy, down for a sell) at their fill price.

    The y axis takes the prices and the levels in view (see `_levels_in_view`); how many
    levels lie outside it is written on the chart. Levels without prices are drawn across the
    width; nothing at all is a sentence saying so.
    """
    path = sorted(_finite_points(prices))
    fills = [(float(t), float(p), bool(b)) for t, p, b in trades if _finite(t, p)]
    all_levels = [level for level in levels if _finite(level.price, *level.above, *level.below)]
    x0, x1 = LEFT, width - RIGHT
    y0, y1 = height - BOTTOM, TOP
    opening = _opening("price-chart", width, height)
    if not path and not fills and not all_levels:
        return format_html(
            "{}<title>Prices: none recorded</title>{}</svg>",
            opening,
            _sentence("No prices or levels to draw yet.", width, height),
        )
    values = [p for _, p in path] + [p for _, p, _ in fills]
    if values:
        view = _levels_in_view(all_levels, min(values), max(values))
    else:
        view = LevelsInView(all_levels, None, None)
    spans = [v for level in view.shown for v in level.span]
    p_low, p_high = min(values + spans), max(values + spans)
    pad = (p_high - p_low) * PRICE_PAD
    p_low, p_high = p_low - pad, p_high + pad

    def y(price: float) -> float:
        return round(_scale(price, p_low, p_high, y0, y1), 1)

    marks = format_html_join("", "{}", ((_level_marks(level, y, x0, x1),) for level in view.shown))
    times = [ts for ts, _ in path] + [ts for ts, _, _ in fills]
    if times:
        t_low, t_high = min(times), max(times)

        def x(ts: float) -> float:
            return round(_scale(ts, t_low, t_high, x0, x1), 1)

        time_labels = _time_labels(t_low, t_high, x0, x1, height)
        line = _curve("price", [(x(ts), y(p)) for ts, p in path]) if path else ""
        triangles = format_html_join(
            "", "{}", ((_trade_mark(x(ts), y(p), p, ts, buy),) for ts, p, buy in fills)
        )
    else:
        time_labels = _sentence("No prices recorded in this window.", width, height)
        line = triangles = ""
    off_chart = format_html_join(
        "",
        '<text class="chart-label off-chart" x="{}" y="{}" text-anchor="end">{} {}</text>',
        (
            (x1 - 4, at, words, _price_label(level.price))
            for level, at, words in (
                (view.next_above, y1 + 10, "next level above:"),
                (view.next_below, y0 - 4, "next level below:"),
            )
            if level is not None
        ),
    )
    title = format_html(
        "<title>Prices at events and fills: {} prices, {} trades, {} of {} levels</title>",
        len(path),
        len(fills),
        len(view.shown),
        len(all_levels),
    )
    return format_html(
        "{}{}{}{}{}{}{}{}{}</svg>",
        opening,
        title,
        marks,
        _axes(x0, x1, y0, y1),
        _value_labels(p_low, p_high, x0, y0, y1, _price_label),
        time_labels,
        off_chart,
        line,
        triangles,
    )
