"""Recent trades (spec 13.5)."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from tests.dashboard.conftest import HTMX
from tests.factories import LevelFactory, TradeFactory
from trading.models import Trade, TradeAction, TradeStatus

pytestmark = pytest.mark.django_db


def rows(html: str) -> list[str]:
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    return re.findall(r"<tr class=\"side-[a-z]+\">(.*?)</tr>", body, re.S)


def test_trades_page_shows_every_column_as_a_trader_writes_it(staff_client: Client) -> None:
    trade = TradeFactory(
        price=Decimal("63064.5"), size=Decimal("0.002"), fee=Decimal("0.0693"), tiers=[1, 2]
    )
    response = staff_client.get("/trades")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    headers = re.findall(r"<th [^>]*>([^<]*)</th>", html)
    assert headers == [
        "Time (UTC)",
        "Exchange",
        "Symbol",
        "Level ID",
        "Side",
        "Action",
        "Tiers",
        "Size",
        "Price",
        "Fee",
        "Reason",
        "Status",
        "Client order ID",
    ]
    (row,) = rows(html)
    cells = [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]
    assert cells[1:] == [
        "binanceusdm",
        "BTC/USDT:USDT",
        str(trade.level_id),
        "SHORT",
        "open",
        "1, 2",
        "0.002",
        "63064.5",
        "0.0693",
        "tier",
        "filled",
        trade.client_order_id,
    ]
    assert cells[0] == timezone.localtime(trade.created_at).strftime("%Y-%m-%d %H:%M:%S")


def test_trades_are_newest_first_and_at_most_200(staff_client: Client) -> None:
    level = LevelFactory()
    now = timezone.now()
    trades = TradeFactory.create_batch(205, level=level)
    for age, trade in enumerate(trades):
        Trade.objects.filter(pk=trade.pk).update(created_at=now - timedelta(seconds=age))
    html = staff_client.get("/trades").content.decode()
    shown = rows(html)
    assert len(shown) == 200
    assert trades[0].client_order_id in shown[0]
    assert trades[199].client_order_id in shown[-1]
    assert trades[200].client_order_id not in html


def test_a_close_without_a_level_and_an_unfilled_order_show_dashes(staff_client: Client) -> None:
    TradeFactory(
        level=None,
        action=TradeAction.CLOSE,
        tiers=[],
        price=None,
        status=TradeStatus.SENT,
        reason="sentiment_exit",
    )
    (row,) = rows(staff_client.get("/trades").content.decode())
    assert row.count("<td>—</td>") == 2  # level id, tiers
    assert '<td class="num">—</td>' in row  # price
    assert "sentiment exit" in row


def test_trades_can_be_filtered_by_symbol(staff_client: Client) -> None:
    TradeFactory(level=LevelFactory(symbol="ETH/USDT:USDT", level_price=Decimal(2650)))
    TradeFactory(level=LevelFactory(symbol="BTC/USDT:USDT"))
    html = staff_client.get("/trades", {"symbol": "ETH/USDT:USDT"}).content.decode()
    assert len(rows(html)) == 1
    assert "ETH/USDT:USDT" in rows(html)[0]
    assert '<option value="ETH/USDT:USDT" selected>' in html
    assert '<option value="BTC/USDT:USDT">' in html
    assert 'hx-get="/trades?symbol=ETH%2FUSDT%3AUSDT" hx-trigger="every 3s"' in html
    everything = staff_client.get("/trades").content.decode()
    assert len(rows(everything)) == 2


def test_a_symbol_with_no_trades_says_so(staff_client: Client) -> None:
    TradeFactory()
    html = staff_client.get("/trades", {"symbol": "SOL/USDT:USDT"}).content.decode()
    assert rows(html) == []
    assert "No trades of SOL/USDT:USDT yet." in html


def test_htmx_polls_get_the_table_alone(staff_client: Client) -> None:
    TradeFactory()
    html = staff_client.get("/trades", headers=HTMX).content.decode()
    assert "<html" not in html and "<select" not in html
    assert html.lstrip().startswith('<div id="trades-table"')
    assert 'hx-get="/trades" hx-trigger="every 3s" hx-swap="outerHTML"' in html
    assert len(rows(html)) == 1


def test_the_page_and_its_partial_vary_on_the_htmx_header(staff_client: Client) -> None:
    assert "HX-Request" in staff_client.get("/trades")["Vary"]
