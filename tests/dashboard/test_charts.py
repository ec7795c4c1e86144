from __future__ import annotations

import math
import re

from dashboard.charts import HEIGHT, equity_svg

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
