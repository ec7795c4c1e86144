"""Saved backtest runs and their equity curves."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.dashboard.conftest import HTMX
from tests.dashboard.factories import BacktestRunFactory, order, summary

pytestmark = pytest.mark.django_db


def test_backtest_list_shows_each_runs_figures_newest_first(staff_client: Client) -> None:
    older = BacktestRunFactory()
    newer = BacktestRunFactory(
        exchange="bybit",
        symbol="ETH/USDT:USDT",
        summary=summary(orders=7, realized_pnl=-3.5, max_drawdown=12.0, win_rate=None),
    )
    response = staff_client.get("/backtests")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert html.index(f'href="/backtests/{newer.pk}"') < html.index(f'href="/backtests/{older.pk}"')
    assert '<td class="num pnl">+12.35</td>' in html and '<td class="num pnl">-3.50</td>' in html
    assert '<td class="num">4.25</td>' in html and '<td class="num">12.00</td>' in html
    assert '<td class="num">50%</td>' in html and '<td class="num">—</td>' in html
    assert '<td class="num">7</td>' in html


def test_an_empty_backtest_list_says_how_to_save_one(staff_client: Client) -> None:
    html = staff_client.get("/backtests").content.decode()
    assert "python manage.py backtest --save" in html


def test_backtest_list_for_htmx_is_the_table_alone(staff_client: Client) -> None:
    BacktestRunFactory()
    html = staff_client.get("/backtests", headers=HTMX).content.decode()
    assert "<html" not in html and html.lstrip().startswith('<div id="runs-table"')


def test_backtest_detail_shows_figures_scenario_orders_and_the_equity_curve(
    staff_client: Client,
) -> None:
    run = BacktestRunFactory()
    response = staff_client.get(f"/backtests/{run.pk}")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert f"<h1>Backtest {run.pk}: binanceusdm BTC/USDT:USDT</h1>" in html
    assert '<dd class="pnl">+12.35</dd>' in html
    assert "50% of 2" in html
    assert "<dd>120,000</dd>" in html
    assert "2024-07-19 00:00:00" in html and "2024-07-19 01:00:00" in html
    assert "Tiers 0.5% / 0.3% / 0.15%" in html
    assert "sentiment on (60 s window, threshold 0.6)" in html
    assert '<td class="num">62750</td>' in html
    assert "trades-2024-07-19.csv.gz" in html
    svg = html[html.index("<svg") : html.index("</svg>")]
    points = re.search(r'<polyline[^>]* points="([^"]*)"', svg)
    assert points and len(points.group(1).split()) == 3
    assert len(re.findall(r'<tr class="side-short">', html)) == 3
    assert "63064.5" in html


def test_backtest_detail_shows_the_first_500_orders(staff_client: Client) -> None:
    run = BacktestRunFactory(orders=[order(n) for n in range(520)], summary=summary(orders=520))
    html = staff_client.get(f"/backtests/{run.pk}").content.decode()
    assert len(re.findall(r'<tr class="side-short">', html)) == 500
    assert "The first 500 of 520 saved orders." in html


def test_a_run_whose_orders_were_cut_when_saved_says_so(staff_client: Client) -> None:
    run = BacktestRunFactory(orders_truncated=True, summary=summary(orders=12_000))
    html = staff_client.get(f"/backtests/{run.pk}").content.decode()
    assert "The run made 12,000; only the first 3 were saved." in html


def test_a_run_without_orders_or_curve_still_renders(staff_client: Client) -> None:
    run = BacktestRunFactory(
        orders=[], equity_curve=[], summary=summary(orders=0, win_rate=None, round_trips=0)
    )
    html = staff_client.get(f"/backtests/{run.pk}").content.decode()
    assert "The run placed no orders." in html
    assert "No equity points" in html
    assert "no round trip closed" in html


def test_backtest_detail_for_htmx_is_the_run_alone(staff_client: Client) -> None:
    run = BacktestRunFactory()
    html = staff_client.get(f"/backtests/{run.pk}", headers=HTMX).content.decode()
    assert "<html" not in html and "<svg" in html


def test_a_missing_backtest_is_a_404_that_says_so(staff_client: Client) -> None:
    response = staff_client.get("/backtests/424242")
    assert response.status_code == 404
    assert "There is no saved backtest 424242." in response.content.decode()
