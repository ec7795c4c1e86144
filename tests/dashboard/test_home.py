"""The main dashboard: symbols, latest trades and backtests."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from tests.dashboard.conftest import HTMX
from tests.dashboard.factories import BacktestRunFactory
from tests.factories import LevelFactory, SymbolTiersFactory, TradeFactory

pytestmark = pytest.mark.django_db


def test_dashboard_shows_symbols_with_levels_and_tiers_latest_trades_and_backtests(
    staff_client: Client,
) -> None:
    SymbolTiersFactory()
    level = LevelFactory(level_price=Decimal(62750))
    LevelFactory(level_price=Decimal(64000), is_active=False)
    LevelFactory(exchange="bybit", symbol="ETH/USDT:USDT", level_price=Decimal(2650))
    trade = TradeFactory(level=level)
    run = BacktestRunFactory()
    response = staff_client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and "<h1>Dashboard</h1>" in html
    assert '<a href="/levels/binanceusdm/BTCUSDT">BTC/USDT:USDT</a>' in html
    assert '<a href="/levels/bybit/ETHUSDT">ETH/USDT:USDT</a>' in html
    assert "1 active of 2" in html and "1 active of 1" in html
    assert "0.5% / 0.3% / 0.15%" in html and "not set" in html
    assert trade.client_order_id in html
    assert f'href="/backtests/{run.pk}"' in html
    for link in ('href="/levels"', 'href="/trades"', 'href="/backtests"', 'href="/admin/"'):
        assert link in html
    assert "/positions" not in html and "/status" not in html


def test_an_empty_dashboard_says_where_to_start(staff_client: Client) -> None:
    html = staff_client.get("/").content.decode()
    assert "No levels yet" in html and "No trades yet." in html and "No saved backtests yet" in html


def test_dashboard_for_htmx_is_the_overview_alone(staff_client: Client) -> None:
    LevelFactory()
    html = staff_client.get("/", headers=HTMX).content.decode()
    assert "<html" not in html and "BTC/USDT:USDT" in html


def test_pages_load_htmx_and_the_stylesheet_from_this_server(staff_client: Client) -> None:
    html = staff_client.get("/").content.decode()
    assert '<script src="/static/django_htmx/htmx-2.min.js" defer></script>' in html
    assert '<link rel="stylesheet" href="/static/dashboard/levelbot.css">' in html
    assert all(url.startswith("/") for url in re.findall(r'(?:src|href)="([^"]+)"', html))
    css = b"".join(staff_client.get("/static/dashboard/levelbot.css").streaming_content)
    assert b"prefers-color-scheme: dark" in css and b"overflow-x: auto" in css
