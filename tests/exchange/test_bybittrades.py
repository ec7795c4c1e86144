"""Bybit's public trades read lean give the live feed exactly what ccxt's own parsing gives,
for every trade of the recorded stream and for malformed ones."""

from __future__ import annotations

import pytest

from tests.exchange.test_bybit_recorded import BTC_MARKET, recorded_messages
from trading.exchange.accounts import AccountConfig, make_client
from trading.exchange.ccxtload import exchange_class
from trading.feeds.live import trade_flow


class Stream:
    """What a handler needs of ccxt's websocket client: its URL, and what it resolves."""

    url = "wss://stream.bybit.com/v5/public/linear"

    def __init__(self) -> None:
        self.resolved: list[tuple[object, str]] = []

    def resolve(self, result: object, message_hash: str) -> None:
        self.resolved.append((result, message_hash))


def flows(client, message) -> tuple[list[object], str]:
    stream = Stream()
    client.handle_trades(stream, message)
    ((stored, message_hash),) = stream.resolved
    new = list(stored)[-len(message["data"]) :] if message["data"] else []
    return [trade_flow(trade) for trade in new], message_hash


@pytest.fixture
def clients():
    lean = make_client(AccountConfig("bybit"))
    plain = exchange_class("bybit").__mro__[1]({})  # ccxt.pro's own bybit class
    for client in (lean, plain):
        client.set_markets([BTC_MARKET])
    assert type(lean).handle_trades is not type(plain).handle_trades
    return lean, plain


def test_every_recorded_trade_reads_as_ccxt_reads_it(clients):
    lean, plain = clients
    trades = [m for m in recorded_messages() if m["topic"].startswith("publicTrade")]
    assert sum(len(m["data"]) for m in trades) > 50
    for message in trades:
        assert flows(lean, message) == flows(plain, message)


@pytest.mark.parametrize(
    "trade",
    [
        {"T": 1786310820000, "S": "Sell", "v": "-1", "p": "60000.5"},
        {"T": 1786310820000, "S": "Hold", "v": "1", "p": "60000.5"},
        {"T": "1786310820000", "S": "Sell", "v": "0.25", "p": "60000.5"},
        {"T": None, "S": "Buy", "v": "0.5", "p": "60000"},
        {"T": 1786310820000, "S": "Buy", "v": "1e400", "p": "60000"},
    ],
)
def test_a_malformed_trade_is_dropped_or_read_as_ccxt_would(clients, trade):
    lean, plain = clients
    message = {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1, "data": [trade]}
    assert flows(lean, message) == flows(plain, message)


@pytest.mark.parametrize("field", ["p", "v"])
def test_a_number_that_does_not_read_drops_the_trade_where_ccxt_would_raise(clients, field):
    lean, plain = clients
    trade = {"T": 1786310820000, "S": "Buy", "v": "0.5", "p": "60000", field: "abc"}
    message = {"topic": "publicTrade.BTCUSDT", "type": "snapshot", "ts": 1, "data": [trade]}
    with pytest.raises(ValueError):
        flows(plain, message)
    assert flows(lean, message) == ([None], "trade:BTC/USDT:USDT")
