"""Malformed exchange messages: the live feed drops them, says so, and keeps going.

A ticker or a trade with a field missing, None, text, negative, zero, NaN or infinite never
becomes a tick, never raises out of the feed's loop and is never taken for a dropped socket
(no backoff, no resync); the good message after it still comes through. ccxt.pro's own bybit
handler, fed garbled recorded messages, still reads the next good one right.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import strategies as st
from structlog.testing import capture_logs

from tests.drills.conftest import fuzz
from tests.exchange.test_bybit_recorded import BTC_MARKET
from tests.shared_data import SHARED
from trading.engine import TRADE_ONLY
from trading.exchange.accounts import AccountConfig, make_client
from trading.feeds.live import LiveFeed, awaiting_quote, quote_tick

SYMBOL = "BTC/USDT:USDT"
GOOD_TICKER = {"bid": 100.0, "ask": 102.0, "timestamp": 1_786_310_900_000}
GOOD_TRADE = {"side": "sell", "price": 101.0, "amount": 0.123456, "timestamp": 1_786_310_900_001}
# Sent last, after the garbage: the feed must still get to them.
LAST_TICKER = {"bid": 200.0, "ask": 202.0, "timestamp": 1_786_310_999_000}
LAST_TRADE = {"side": "sell", "price": 201.0, "amount": 0.654321, "timestamp": 1_786_310_999_001}
RECORDING = SHARED / "data" / "exchange" / "ws_v5_public_linear_BTCUSDT_2026-08-09.jsonl"


def odd_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**400), max_value=10**400),
        st.floats(),  # NaN and both infinities among them
        st.sampled_from([0, 0.0, -0.0, -1, "100", "nan", "", "buy", [], {}]),
        st.text(max_size=8),
    )


def messages(fields: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A message of these fields with some garbled or missing, or something not a message."""
    garbled = st.fixed_dictionaries(
        {},
        optional={name: st.one_of(st.just(value), odd_values()) for name, value in fields.items()},
    )
    return st.one_of(garbled, odd_values())


class ScriptedClient:
    """A ccxt client whose watch calls answer from scripts, then wait as a quiet socket does."""

    id = "scripted"

    def __init__(self, tickers: list[Any], trades: list[Any]) -> None:
        self.tickers, self.trades = list(tickers), list(trades)

    async def watch_ticker(self, symbol: str) -> Any:
        return await self._next(self.tickers)

    async def watch_trades(self, symbol: str) -> Any:
        return await self._next(self.trades)

    @staticmethod
    async def _next(script: list[Any]) -> Any:
        if script:
            await asyncio.sleep(0)
            return script.pop(0)
        await asyncio.Event().wait()


async def ticks_until_good(feed: LiveFeed) -> list[tuple[int, float, float]]:
    """The feed's ticks up to the quote and the trade sent last."""
    ticks: list[tuple[int, float, float]] = []
    batches = feed.batches()
    try:
        while not (
            any(qty == 0 and price == 201.0 for _, price, qty in ticks)
            and any(qty == -LAST_TRADE["amount"] for _, _, qty in ticks)
        ):
            ticks.extend(await asyncio.wait_for(anext(batches), timeout=5))
    finally:
        await batches.aclose()
    return ticks


@fuzz(
    150,
    tickers=st.lists(messages(GOOD_TICKER), max_size=8),
    trades=st.lists(
        st.one_of(st.lists(messages(GOOD_TRADE), max_size=4), odd_values()), max_size=6
    ),
)
def test_malformed_tickers_and_trades_are_dropped_and_the_feed_keeps_going(
    tickers: list[Any], trades: list[Any]
) -> None:
    resyncs: list[bool] = []

    async def resync() -> None:
        resyncs.append(True)

    client = ScriptedClient([*tickers, LAST_TICKER], [*trades, [LAST_TRADE]])
    feed = LiveFeed(client, SYMBOL, on_reconnect=resync)
    with capture_logs() as logs:
        ticks = asyncio.run(ticks_until_good(feed))

    assert feed.reconnects == 0 and resyncs == [] and feed.last_error == ""
    assert [ts for ts, _, _ in ticks] == sorted(ts for ts, _, _ in ticks)
    for ts, price, qty in ticks:
        assert isinstance(ts, int) and ts >= 0
        assert price == TRADE_ONLY or (math.isfinite(price) and price > 0)
        assert math.isfinite(qty)
    sent = len(tickers) + sum(len(t) if isinstance(t, list) else 1 for t in trades) + 2
    waiting = sum(1 for ticker in tickers if awaiting_quote(ticker))
    assert len(ticks) + feed.dropped + waiting == sent
    assert sum(1 for log in logs if log["event"] == "feed message dropped") == feed.dropped


# ccxt.pro's bybit handler, fed garbled recorded messages.


def recorded(topic_prefix: str, count: int) -> list[dict[str, Any]]:
    found = []
    with RECORDING.open() as f:
        for line in f:
            message = json.loads(line)["msg"]
            if str(message.get("topic", "")).startswith(topic_prefix):
                found.append(message)
                if len(found) == count:
                    break
    return found


TICKERS = recorded("tickers.BTCUSDT", 20)
TRADES = recorded("publicTrade.BTCUSDT", 20)


@st.composite
def garbled_bybit_messages(draw: st.DrawFn) -> Any:
    """A recorded ticker or trades message with its data fields garbled, or no message."""
    message = json.loads(json.dumps(draw(st.sampled_from(TICKERS + TRADES))))
    data = message["data"]
    for item in data if isinstance(data, list) else [data]:
        for key in draw(st.lists(st.sampled_from(sorted(item)), max_size=4)):
            item[key] = draw(odd_values())
    if draw(st.booleans()):
        message[draw(st.sampled_from(["topic", "data", "type", "ts"]))] = draw(odd_values())
    return draw(st.one_of(st.just(message), odd_values()))


class Bybit:
    """One ccxt.pro bybit client and its public socket (never connected), on a loop of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.exchange, self.socket = self.loop.run_until_complete(self._open())

    @staticmethod
    async def _open() -> tuple[Any, Any]:
        exchange = make_client(
            AccountConfig("bybit", ws_url="ws://127.0.0.1:9", rest_url="http://127.0.0.1:9")
        )
        exchange.set_markets([BTC_MARKET])
        return exchange, exchange.client("ws://127.0.0.1:9/v5/public/linear")

    def handle(self, message: Any) -> bool:
        """Hand ccxt one message as its socket would; False when its handler raised."""

        async def handle() -> bool:
            try:
                self.exchange.handle_message(self.socket, message)
            except Exception:  # the feed's watcher takes these as a dropped socket
                return False
            return True

        return self.loop.run_until_complete(handle())

    def close(self) -> None:
        self.loop.run_until_complete(self.exchange.close())
        self.loop.close()


@pytest.fixture(scope="module")
def bybit() -> Iterator[Bybit]:
    client = Bybit()
    yield client
    client.close()


@fuzz(40, garbage=st.lists(garbled_bybit_messages(), max_size=5))
def test_bybit_handler_reads_a_good_ticker_after_garbled_messages(
    bybit: Bybit, garbage: list[Any]
) -> None:
    for message in garbage:
        bybit.handle(message)
    assert bybit.handle(TICKERS[0])
    quote = quote_tick(bybit.exchange.tickers[SYMBOL])
    snapshot = TICKERS[0]["data"]
    assert quote is not None
    assert quote[2:] == (float(snapshot["bid1Price"]), float(snapshot["ask1Price"]))
