"""The main dashboard: symbols, latest trades and backtests."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.dashboard.conftest import HTMX
from tests.dashboard.factories import BacktestRunFactory
from tests.factories import BotSessionFactory, LevelFactory, SymbolTiersFactory, TradeFactory

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
    for link in (
        'href="/levels"',
        'href="/positions"',
        'href="/trades"',
        'href="/status"',
        'href="/backtests"',
        'href="/admin/"',
    ):
        assert link in html


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


# The bot line


def bot_line(html: str) -> str:
    match = re.search(r'<p id="bot-line"[^>]*>(.*?)</p>', html, re.S)
    assert match, "no bot line"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


def test_the_dashboard_says_when_the_bot_is_alive(staff_client: Client) -> None:
    BotSessionFactory(started_at=timezone.now() - timedelta(minutes=5))
    line = bot_line(staff_client.get("/").content.decode())
    assert line.startswith("bot alive The bot is running on trader-box (pid 4242), up 5 min")
    assert line.endswith("Status")


@pytest.mark.parametrize(
    ("session", "said"),
    [
        (None, "no bot session has been recorded yet"),
        ({"stopped_at": timezone.now}, "it stopped at"),
        ({"heartbeat_at": lambda: timezone.now() - timedelta(minutes=2)}, "last heartbeat was"),
    ],
)
def test_the_dashboard_says_when_the_bot_is_not_running(
    staff_client: Client, session: dict[str, Any] | None, said: str
) -> None:
    if session is not None:
        BotSessionFactory(**{field: make() for field, make in session.items()})
    line = bot_line(staff_client.get("/").content.decode())
    assert line.startswith("bot not running The bot is not running:")
    assert said in line


def test_the_bot_line_polls_for_itself_alone(staff_client: Client) -> None:
    LevelFactory()
    BotSessionFactory()
    html = staff_client.get("/").content.decode()
    assert (
        '<p id="bot-line" class="bot-line bot-alive" role="status" hx-get="/" '
        'hx-trigger="every 2s" hx-swap="outerHTML">'
    ) in html
    response = staff_client.get("/", headers={**HTMX, "HX-Target": "bot-line"})
    line = response.content.decode()
    assert line.lstrip().startswith('<p id="bot-line"')
    assert "BTC/USDT:USDT" not in line and "Symbols" not in line
    assert "HX-Target" in response["Vary"]
