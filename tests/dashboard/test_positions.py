"""Open positions (spec 13.4): the paper account marked to each symbol's last price."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from tests.dashboard.conftest import HTMX
from tests.dashboard.factories import FeedStatusFactory, PaperPositionFactory
from tests.factories import BotSessionFactory, FundingPaymentFactory, LevelFactory
from trading import selectors
from trading.models import BotSession, BotSettings, CloseRequest, FeedStatus, MarginType, Side

pytestmark = pytest.mark.django_db

D = Decimal


def rows(html: str) -> list[list[str]]:
    """Each body row's cells as text."""
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def figure(html: str, name: str) -> str:
    match = re.search(rf"<dt>{name}</dt><dd[^>]*>(.*?)</dd>", html, re.S)
    assert match, name
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def test_positions_page_shows_every_column_of_an_open_position(staff_client: Client) -> None:
    BotSessionFactory()
    LevelFactory(level_price=D(62750), leverage=5, margin_type=MarginType.ISOLATED)
    FeedStatusFactory(last_price=D("63000"))
    PaperPositionFactory(
        side=Side.LONG,
        size=D("0.004"),
        entry_price=D("62000"),
        realized_pnl=D("1.5"),
        fees=D("0.25"),
    )
    response = staff_client.get("/positions")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and "<h1>Positions</h1>" in html
    assert re.findall(r"<th [^>]*>([^<]*)</th>", html) == [
        "Exchange",
        "Symbol",
        "Side",
        "Size",
        "Entry price",
        "Current price",
        "Unrealized PnL",
        "Leverage",
        "Margin type",
        "Realized PnL",
        "Funding",
        "Fees",
        "Close",
    ]
    assert rows(html) == [
        [
            "binanceusdm",
            "BTC/USDT:USDT",
            "LONG",
            "0.004",
            "62000",
            "63000",
            "+4.00",
            "5x",
            "isolated",
            "+1.50",
            "+0.00",
            "0.25",
            "Close",
        ]
    ]
    assert 'href="/levels/binanceusdm/BTCUSDT"' in html


def test_a_short_gains_when_the_price_falls_and_loses_when_it_rises(staff_client: Client) -> None:
    FeedStatusFactory(last_price=D("63000"))
    FeedStatusFactory(symbol="ETH/USDT:USDT", last_price=D("2700"))
    PaperPositionFactory(side=Side.SHORT, size=D("0.004"), entry_price=D("63500"))
    PaperPositionFactory(
        symbol="ETH/USDT:USDT", side=Side.SHORT, size=D("0.5"), entry_price=D("2650")
    )
    shown = {row[1]: row[6] for row in rows(staff_client.get("/positions").content.decode())}
    assert shown == {"BTC/USDT:USDT": "+2.00", "ETH/USDT:USDT": "-25.00"}


def test_a_long_loses_when_the_price_falls(staff_client: Client) -> None:
    FeedStatusFactory(last_price=D("61500"))
    PaperPositionFactory(side=Side.LONG, size=D("0.01"), entry_price=D("62000"))
    (row,) = rows(staff_client.get("/positions").content.decode())
    assert row[6] == "-5.00"


def test_a_position_without_a_price_shows_n_a(staff_client: Client) -> None:
    FeedStatusFactory(symbol="ETH/USDT:USDT", last_price=None)
    PaperPositionFactory(symbol="ETH/USDT:USDT")
    PaperPositionFactory(symbol="SOL/USDT:USDT")  # no feed row at all
    html = staff_client.get("/positions").content.decode()
    assert [(row[5], row[6]) for row in rows(html)] == [("n/a", "n/a"), ("n/a", "n/a")]
    assert "2 positions without a price left out" in html


def test_closed_sides_are_hidden_but_their_pnl_and_fees_count_in_the_totals(
    staff_client: Client,
) -> None:
    FeedStatusFactory(last_price=D("63000"))
    PaperPositionFactory(
        side=Side.LONG, size=D("0.004"), entry_price=D("62000"), realized_pnl=D(0), fees=D("0.1")
    )
    PaperPositionFactory(
        side=Side.SHORT, size=D(0), entry_price=D(0), realized_pnl=D("7.25"), fees=D("0.4")
    )
    html = staff_client.get("/positions").content.decode()
    assert [row[2] for row in rows(html)] == ["LONG"]
    assert figure(html, "Unrealized PnL") == "+4.00"
    assert figure(html, "Realized PnL") == "+7.25"
    assert figure(html, "Fees") == "0.50"
    assert figure(html, "Net PnL") == "+10.75"


def test_funding_shows_per_side_and_counts_in_the_net_pnl(staff_client: Client) -> None:
    FeedStatusFactory(last_price=D("62000"))
    PaperPositionFactory(side=Side.LONG, size=D("0.004"), entry_price=D("62000"), fees=D(0))
    PaperPositionFactory(side=Side.SHORT, size=D("0.004"), entry_price=D("62000"), fees=D(0))
    FundingPaymentFactory(exchange="binanceusdm", side=Side.LONG, amount=D("-0.5"))
    FundingPaymentFactory(exchange="binanceusdm", side=Side.LONG, amount=D("-0.25"))
    FundingPaymentFactory(exchange="binanceusdm", side=Side.SHORT, amount=D("0.5"))
    FundingPaymentFactory(exchange="binanceusdm", side="", amount=D("-2"))  # side not said
    FundingPaymentFactory(exchange="bybit", side=Side.LONG, amount=D("-9"))  # another account
    html = staff_client.get("/positions").content.decode()
    assert {row[2]: row[10] for row in rows(html)} == {"LONG": "-0.75", "SHORT": "+0.50"}
    assert figure(html, "Funding") == "-11.25"
    assert figure(html, "Net PnL") == "-11.25"


def test_no_open_positions_says_so(staff_client: Client) -> None:
    PaperPositionFactory(size=D(0))
    html = staff_client.get("/positions").content.decode()
    assert "No open positions." in html
    assert figure(html, "Unrealized PnL") == "+0.00"


def test_leverage_and_margin_show_every_value_the_symbols_levels_use(
    staff_client: Client,
) -> None:
    LevelFactory(leverage=10, margin_type=MarginType.ISOLATED)
    LevelFactory(leverage=5, margin_type=MarginType.CROSS)
    LevelFactory(leverage=10, margin_type=MarginType.ISOLATED)
    LevelFactory(symbol="ETH/USDT:USDT", leverage=50, margin_type=MarginType.ISOLATED)
    PaperPositionFactory()
    PaperPositionFactory(symbol="SOL/USDT:USDT")
    btc, sol = rows(staff_client.get("/positions").content.decode())
    assert (btc[7], btc[8]) == ("5x / 10x", "cross / isolated")
    assert (sol[7], sol[8]) == ("—", "—")


def test_unrealized_pnl_is_long_current_minus_entry_and_short_entry_minus_current() -> None:
    FeedStatusFactory(last_price=D("100"))
    PaperPositionFactory(side=Side.LONG, size=D("2"), entry_price=D("90"))
    PaperPositionFactory(side=Side.SHORT, size=D("3"), entry_price=D("90"))
    book = selectors.position_book()
    assert [(r.position.side, r.unrealized_pnl) for r in book.rows] == [
        ("LONG", D("20")),
        ("SHORT", D("-30")),
    ]
    assert book.unrealized_pnl == D("-10")


def test_prices_are_marked_old_when_the_feed_is_stale_or_the_bot_is_down(
    staff_client: Client,
) -> None:
    BotSessionFactory()
    FeedStatusFactory(last_price=D("63000"))
    FeedStatusFactory(symbol="ETH/USDT:USDT", last_price=D("2700"), state=FeedStatus.State.STALE)
    PaperPositionFactory()
    PaperPositionFactory(symbol="ETH/USDT:USDT")
    html = staff_client.get("/positions").content.decode()
    btc, eth = rows(html)
    assert btc[5] == "63000" and eth[5] == "2700 old"
    assert 'role="alert"' not in html
    # The bot stops: every price is the last it recorded.
    BotSession.objects.update(stopped_at=timezone.now())
    html = staff_client.get("/positions").content.decode()
    assert [row[5] for row in rows(html)] == ["63000 old", "2700 old"]
    assert 'role="alert"' in html and "Current prices are the last the bot recorded." in html


def test_htmx_polls_get_the_table_and_totals_alone(staff_client: Client) -> None:
    PaperPositionFactory()
    full = staff_client.get("/positions").content.decode()
    partial = staff_client.get("/positions", headers=HTMX).content.decode()
    opening = (
        '<div id="positions-table" hx-get="/positions" hx-trigger="every 2s" hx-swap="outerHTML">'
    )
    assert "<html" in full and opening in full
    assert "<html" not in partial and "<h1>" not in partial
    assert partial.lstrip().startswith(opening)
    assert "Account totals" in partial and len(rows(partial)) == 1


def test_positions_are_in_the_navigation(staff_client: Client) -> None:
    html = staff_client.get("/positions").content.decode()
    assert '<a href="/positions" aria-current="page">Positions</a>' in html


def test_a_session_older_than_the_timeout_is_not_trusted_for_prices(staff_client: Client) -> None:
    BotSessionFactory(heartbeat_at=timezone.now() - timedelta(minutes=5))
    FeedStatusFactory(last_price=D("63000"))
    PaperPositionFactory()
    (row,) = rows(staff_client.get("/positions").content.decode())
    assert row[5] == "63000 old"


def test_a_side_is_closed_on_request_behind_a_confirmation(staff_client: Client) -> None:
    PaperPositionFactory(exchange="binanceusdm", symbol="BTC/USDT:USDT", side=Side.LONG)
    page = staff_client.get("/positions").content.decode()
    assert 'hx-post="/positions/binanceusdm/BTCUSDT/LONG/close"' in page
    assert 'hx-confirm="Close the whole LONG side of BTC/USDT:USDT on binanceusdm' in page
    response = staff_client.post("/positions/binanceusdm/BTCUSDT/LONG/close", headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    request = CloseRequest.objects.get()
    assert (request.exchange, request.symbol, request.side, request.status) == (
        "binanceusdm",
        "BTC/USDT:USDT",
        Side.LONG,
        "pending",
    )
    assert request.requested_by  # the staff user who asked
    assert "Close requests" in html and "waiting for the bot" in html
    plain = staff_client.post("/positions/binanceusdm/BTCUSDT/LONG/close")
    assert plain.status_code == 302 and plain["Location"] == "/positions"
    assert CloseRequest.objects.count() == 1  # one waiting request per side


@pytest.mark.parametrize(
    "path",
    ["/positions/binanceusdm/BTCUSDT/BOTH/close", "/positions/binanceusdm/NOSUCH!/LONG/close"],
)
def test_a_close_of_an_unknown_side_or_symbol_is_404(staff_client: Client, path: str) -> None:
    assert staff_client.post(path).status_code == 404
    assert not CloseRequest.objects.exists()


def test_close_everything_pauses_entries_and_asks_to_close_every_side(
    staff_client: Client,
) -> None:
    LevelFactory(exchange="binanceusdm", symbol="BTC/USDT:USDT")
    page = staff_client.get("/status").content.decode()
    assert "Pause entries and close everything" in page
    response = staff_client.post("/close-everything", headers=HTMX)
    assert response.status_code == 200
    assert BotSettings.load().entries_paused is True
    assert sorted(CloseRequest.objects.values_list("side", flat=True)) == ["LONG", "SHORT"]
