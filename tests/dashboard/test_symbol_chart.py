"""The symbol page's price chart: prices at events and fills, levels, tier bands and trades."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from tests.dashboard.conftest import HTMX
from tests.dashboard.factories import FeedStatusFactory, LevelEventFactory
from tests.factories import LevelFactory, SymbolTiersFactory, TradeFactory
from trading import selectors
from trading.models import FeedStatus, LevelEvent, Side, Trade, TradeAction, TradeStatus

pytestmark = pytest.mark.django_db

D = Decimal
PAGE = "/levels/binanceusdm/BTCUSDT"


def chart(html: str) -> str:
    match = re.search(r'<svg class="price-chart".*?</svg>', html, re.S)
    assert match, "no price chart on the page"
    return match.group(0)


def age(model: type[Trade] | type[LevelEvent], pk: int, **delta: float) -> None:
    model.objects.filter(pk=pk).update(created_at=timezone.now() - timedelta(**delta))


def test_the_symbol_page_draws_levels_tier_bands_prices_and_trades(staff_client: Client) -> None:
    SymbolTiersFactory()
    level = LevelFactory(level_price=D(62750))
    LevelEventFactory(level=level, price=63064.5)
    TradeFactory(level=level, side=Side.SHORT, action=TradeAction.OPEN, price=D("63064.5"))
    TradeFactory(level=level, side=Side.SHORT, action=TradeAction.CLOSE, price=D("62900"))
    FeedStatusFactory(last_price=D("62880"))
    html = staff_client.get(PAGE).content.decode()
    svg = chart(html)
    assert "<title>Level 62,750</title>" in svg
    assert '<rect class="tier-band above"' in svg and '<rect class="tier-band below"' in svg
    assert svg.count('class="tier-line"') == 6
    assert re.findall(r'<polygon class="trade-(\w+)"', svg) == ["sell", "buy"]
    points = re.search(r'<polyline class="price-line" fill="none" points="([^"]+)"', svg)
    assert points and len(points.group(1).split()) == 4  # the event, two fills, the last price
    assert "Prices at level events and fills over the last hour" in html


def test_the_chart_leaves_out_unfilled_orders_old_rows_and_other_symbols(
    staff_client: Client,
) -> None:
    level = LevelFactory(level_price=D(62750))
    TradeFactory(level=level, price=None, status=TradeStatus.SENT)
    old = TradeFactory(level=level, price=D("63000"))
    age(Trade, old.pk, hours=2)
    old_event = LevelEventFactory(level=level, price=63000.0)
    age(LevelEvent, old_event.pk, minutes=61)
    eth = LevelFactory(symbol="ETH/USDT:USDT", level_price=D(2650))
    TradeFactory(level=eth, price=D("2650"))
    LevelEventFactory(level=eth, price=2650.0)
    FeedStatusFactory(last_price=D("62800"), last_message_at=timezone.now() - timedelta(hours=3))
    svg = chart(staff_client.get(PAGE).content.decode())
    assert "<polygon" not in svg and "<polyline" not in svg and "price-dot" not in svg
    assert "No prices recorded in this window." in svg
    assert "<title>Level 62,750</title>" in svg and "2,650" not in svg


def test_the_polled_table_redraws_the_chart(staff_client: Client) -> None:
    level = LevelFactory(level_price=D(62750))
    TradeFactory(level=level, price=D("62700"), side=Side.LONG)
    html = staff_client.get(f"{PAGE}/table", headers=HTMX).content.decode()
    assert html.lstrip().startswith('<div id="levels-table"')
    assert '<polygon class="trade-buy"' in chart(html)


def test_an_exchange_page_draws_no_charts(staff_client: Client) -> None:
    LevelFactory()
    html = staff_client.get("/levels/binanceusdm").content.decode()
    assert "price-chart" not in html
    partial = staff_client.get(f"{PAGE}/table?in=exchange", headers=HTMX).content.decode()
    assert "price-chart" not in partial


def test_a_symbol_with_nothing_yet_says_so_on_its_chart(staff_client: Client) -> None:
    svg = chart(staff_client.get("/levels/bybit/SOLUSDT").content.decode())
    assert "No prices or levels to draw yet." in svg


def test_price_history_is_in_time_order_with_the_feeds_last_price() -> None:
    level = LevelFactory()
    event = LevelEventFactory(level=level, price=100.0)
    age(LevelEvent, event.pk, minutes=30)
    TradeFactory(level=level, side=Side.LONG, action=TradeAction.CLOSE, price=D("101"))
    FeedStatusFactory(last_price=D("102"), state=FeedStatus.State.LIVE)
    history = selectors.price_history_get(exchange="binanceusdm", symbol="BTC/USDT:USDT")
    assert [p.price for p in history.prices] == [100.0, 101.0, 102.0]
    assert [(t.price, t.buy) for t in history.trades] == [(101.0, False)]  # a LONG close sells
