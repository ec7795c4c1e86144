from __future__ import annotations

import math
import re

from dashboard.charts import HEIGHT, LevelLine, equity_svg, price_svg

T0 = 1_721_347_200_000


def polyline_points(svg: str) -> list[tuple[float, float]]:
    match = re.search(r'<polyline[^>]* points="([^"]*)"', svg)
    assert match, svg
    pairs = [pair.split(",") for pair in match.group(1).split()]
    return [(float(x), float(y)) for x, y in pairs]


def test_every_point_becomes_a_vertex_of_the_polyline() -> None:
    svg = equity_svg([[T0 + i * 1000, float(i % 7)] for i in range(50)])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert len(polyline_points(svg)) == 50
    assert "50 points" in svg


def test_the_highest_equity_is_drawn_above_the_lowest_and_time_runs_left_to_right() -> None:
    points = polyline_points(equity_svg([[T0, 0.0], [T0 + 1000, 10.0], [T0 + 2000, -5.0]]))
    (x0, y0), (x1, y1), (x2, y2) = points
    assert x0 < x1 < x2
    assert y1 < y0 < y2  # SVG's y grows downwards


def test_axes_are_labelled_with_the_equity_range_and_the_times() -> None:
    svg = equity_svg([[T0, -4.25], [T0 + 3_600_000, 10.8]])
    assert "+10.80" in svg and "-4.25" in svg
    assert "2024-07-19 00:00" in svg and "2024-07-19 01:00" in svg


def test_a_curve_that_crosses_zero_gets_a_zero_line_and_one_that_does_not_gets_none() -> None:
    assert 'class="chart-zero"' in equity_svg([[T0, -1.0], [T0 + 1, 1.0]])
    assert 'class="chart-zero"' not in equity_svg([[T0, 1.0], [T0 + 1, 2.0]])


def test_a_flat_curve_is_drawn_across_the_middle_with_one_label() -> None:
    svg = equity_svg([[T0, 5.0], [T0 + 1000, 5.0], [T0 + 2000, 5.0]])
    points = polyline_points(svg)
    assert len(points) == 3
    assert len({y for _, y in points}) == 1
    assert all(math.isfinite(y) and 0 < y < HEIGHT for _, y in points)
    assert svg.count("+5.00</text>") == 1


def test_a_single_point_is_a_dot() -> None:
    svg = equity_svg([[T0, 3.0]])
    assert "<polyline" not in svg
    assert svg.count("<circle") == 1
    assert "2024-07-19 00:00" in svg


def test_no_points_is_said_in_words() -> None:
    svg = equity_svg([])
    assert "<polyline" not in svg and "<circle" not in svg
    assert "No equity points" in svg


def test_points_that_cannot_be_drawn_are_left_out() -> None:
    svg = equity_svg([[T0, 1.0], [T0 + 1, float("nan")], ["x", 2.0], [T0 + 2, 2.0], [T0 + 3]])
    assert len(polyline_points(svg)) == 2
    assert "nan" not in svg.lower()


# The price chart: prices at events and fills, levels with their tier bands, trade markers.

BTC = LevelLine(
    62750.0, above=(63063.75, 62938.25, 62844.125), below=(62436.25, 62561.75, 62655.875)
)


def level_y(svg: str, price: str) -> float:
    match = re.search(
        rf'<line class="level-line" [^>]*y1="([\d.]+)"[^>]*><title>Level {price}</title>', svg
    )
    assert match, svg
    return float(match.group(1))


def bands(svg: str) -> dict[str, tuple[float, float]]:
    """Each tier band's top and bottom y."""
    found = re.findall(
        r'<rect class="tier-band (\w+)" x="[\d.]+" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"',
        svg,
    )
    return {side: (float(y), float(y) + float(h)) for side, y, h in found}


def triangles(svg: str) -> list[tuple[str, list[tuple[float, float]]]]:
    """Each trade marker's kind and its corners, the tip first."""
    marks = []
    for kind, points in re.findall(r'<polygon class="trade-(buy|sell)" points="([^"]+)">', svg):
        corners = [(float(x), float(y)) for x, y in (p.split(",") for p in points.split())]
        marks.append((kind, corners))
    return marks


def test_a_level_is_a_line_between_its_tier_bands_with_a_line_per_tier() -> None:
    svg = price_svg([[T0, 62900.0], [T0 + 60_000, 62700.0]], levels=[BTC])
    assert svg.startswith('<svg class="price-chart"') and svg.endswith("</svg>")
    y = level_y(svg, "62,750")
    above, below = bands(svg)["above"], bands(svg)["below"]
    assert above[1] < y < below[0]  # SHORT tiers above the level, LONG below
    assert svg.count('class="tier-line"') == 6
    assert ">62,750</text>" in svg
    assert len(polyline_points(svg)) == 2


def test_the_tier_band_spans_tier_1_to_tier_3() -> None:
    svg = price_svg([[T0, 62750.0]], levels=[BTC])
    tier_ys = sorted(
        float(y) for y in re.findall(r'<line class="tier-line" x1="[\d.]+" y1="([\d.]+)"', svg)
    )
    top, bottom = bands(svg)["above"]
    assert (round(top, 1), round(bottom, 1)) == (tier_ys[0], tier_ys[2])


def test_a_level_without_tiers_is_a_line_without_bands() -> None:
    svg = price_svg([[T0, 62700.0]], levels=[LevelLine(62750.0)])
    assert 'class="level-line"' in svg
    assert "tier-band" not in svg and "tier-line" not in svg


def test_a_paused_level_is_drawn_as_paused() -> None:
    svg = price_svg([[T0, 62700.0]], levels=[LevelLine(62750.0, active=False)])
    assert '<g class="level paused">' in svg


def test_buys_are_up_triangles_and_sells_down_triangles_at_their_fill_price() -> None:
    svg = price_svg(
        [[T0, 62900.0], [T0 + 1000, 62800.0]],
        trades=[(T0, 62900.0, False), (T0 + 1000, 62800.0, True)],
    )
    (sell_kind, sell), (buy_kind, buy) = triangles(svg)
    assert (sell_kind, buy_kind) == ("sell", "buy")
    # The first point is the tip, at the price; the base is below a buy's tip, above a sell's.
    assert buy[1][1] > buy[0][1] and sell[1][1] < sell[0][1]
    assert buy[0][0] > sell[0][0]  # later, further right
    assert "<title>buy at 62,800, 2024-07-19 00:00 UTC</title>" in svg
    assert buy[0][1] > sell[0][1]  # the lower price is drawn lower


def test_a_higher_price_is_drawn_above_a_lower_one() -> None:
    (_, y_high), (_, y_low) = polyline_points(price_svg([[T0, 63000.0], [T0 + 1000, 62000.0]]))
    assert y_high < y_low


def test_a_level_far_from_the_prices_is_left_off_and_named_at_the_edge() -> None:
    far_below, far_above = LevelLine(40000.0), LevelLine(90000.0)
    svg = price_svg([[T0, 62900.0], [T0 + 1000, 62700.0]], levels=[BTC, far_below, far_above])
    assert "Level 62,750" in svg
    assert "Level 40,000" not in svg and "Level 90,000" not in svg
    assert "next level below: 40,000" in svg and "next level above: 90,000" in svg
    assert "2 of 4 levels" not in svg and "1 of 3 levels" in svg


def test_no_prices_and_no_levels_is_said_in_words() -> None:
    svg = price_svg([], levels=[], trades=[])
    assert "<polyline" not in svg and "<polygon" not in svg and "level-line" not in svg
    assert "No prices or levels to draw yet." in svg


def test_levels_without_prices_are_drawn_and_the_missing_prices_said() -> None:
    svg = price_svg([], levels=[BTC, LevelLine(40000.0)])
    assert "Level 62,750" in svg and "Level 40,000" in svg
    assert "No prices recorded in this window." in svg
    assert "<polyline" not in svg


def test_a_single_price_is_a_dot() -> None:
    svg = price_svg([[T0, 62800.0]])
    assert '<circle class="price-dot"' in svg and "<polyline" not in svg


def test_prices_and_trades_that_cannot_be_drawn_are_left_out() -> None:
    svg = price_svg(
        [[T0, 1.0], [T0 + 1, float("nan")], ["x", 2.0], [T0 + 2, 2.0]],
        trades=[(T0, float("inf"), True)],
        levels=[LevelLine(float("nan"))],
    )
    assert len(polyline_points(svg)) == 2
    assert "<polygon" not in svg and "level-line" not in svg
    assert "nan" not in svg.lower() and "inf" not in svg.lower()
