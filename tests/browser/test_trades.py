"""The trades page in a real browser: a trade the bot writes shows up at the next poll."""

from __future__ import annotations

import pytest

from tests.browser.conftest import NOT_RELOADED, Browser
from tests.factories import TradeFactory

pytestmark = [
    pytest.mark.needs("chromium", "chromium-driver"),
    pytest.mark.django_db(transaction=True),
]

ROWS = "#trades-table tbody tr"
POLL_S = 3


def test_new_trade_shows_after_the_poll_without_reload(signed_in: Browser) -> None:
    signed_in.open("/trades")
    assert signed_in.texts(ROWS) == ["No trades yet."]
    signed_in.mark_page()

    trade = TradeFactory(client_order_id="lb-browser-1")

    signed_in.wait_for(
        lambda: trade.client_order_id in signed_in.text(ROWS),
        "the trade to show at the next poll",
        timeout=2 * POLL_S + 2,
    )
    row = signed_in.text(ROWS)
    for shown in ("binanceusdm", "BTC/USDT:USDT", "SHORT", "open", "0.002", "63064.5", "filled"):
        assert shown in row
    assert len(signed_in.texts(ROWS)) == 1
    assert signed_in.page_mark() == NOT_RELOADED
