"""ccxt.pro's own bybit handlers, fed Bybit's real recorded public messages, give the live feed
the ticks and taker trades the engine expects.

A local websocket on 127.0.0.1 answers ccxt's subscriptions and then plays back, in order, the
`tickers.BTCUSDT` and `publicTrade.BTCUSDT` messages of 43 s recorded on Bybit's v5 public
linear stream. What the feed yields is checked against the messages read directly, without
ccxt: the mid price of the best bid and ask (snapshot then deltas), each trade's time, price and
taker side, trades as ticks only before the first quote.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from aiohttp import WSMsgType, web

from tests.shared_data import SHARED
from trading.engine import TRADE_ONLY
from trading.exchange.accounts import AccountConfig, make_client
from trading.feeds.live import LiveFeed

RECORDING = SHARED / "data" / "exchange" / "ws_v5_public_linear_BTCUSDT_2026-08-09.jsonl"
TOPICS = ("tickers.BTCUSDT", "publicTrade.BTCUSDT")
PACE_S = 0.003  # Bybit sends tickers every 100 ms; a little spacing keeps them distinct here


# The market ccxt needs to name the symbol, set without a REST call.
BTC_MARKET = {
    "id": "BTCUSDT",
    "symbol": "BTC/USDT:USDT",
    "base": "BTC",
    "quote": "USDT",
    "settle": "USDT",
    "type": "swap",
    "swap": True,
    "linear": True,
    "inverse": False,
    "contract": True,
    "spot": False,
    "active": True,
    "contractSize": 1,
    "precision": {"amount": 0.001, "price": 0.1},
    "limits": {"amount": {"min": 0.001}},
    "info": {"category": "linear"},
}


def recorded_messages() -> list[dict]:
    with RECORDING.open() as f:
        messages = [json.loads(line)["msg"] for line in f]
    return [m for m in messages if m.get("topic") in TOPICS]


def expected_records(messages: list[dict]) -> tuple[list[tuple], list[tuple]]:
    """(quote ticks, trades) read straight from the messages: quotes as (ts, mid), trades as
    (ts, price, signed amount), in message order."""
    quotes, trades = [], []
    bid = ask = None
    for message in messages:
        data = message["data"]
        if message["topic"].startswith("tickers"):
            bid = Decimal(data["bid1Price"]) if data.get("bid1Price") else bid
            ask = Decimal(data["ask1Price"]) if data.get("ask1Price") else ask
            if bid is not None and ask is not None:
                quotes.append((message["ts"], float((bid + ask) / 2)))
        else:
            for trade in data:
                amount = float(trade["v"]) if trade["S"] == "Buy" else -float(trade["v"])
                trades.append((trade["T"], float(trade["p"]), amount))
    return quotes, trades


async def serve_recording(messages: list[dict]) -> tuple[web.AppRunner, str]:
    async def public(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        subscribed: set[str] = set()
        async for frame in ws:
            if frame.type != WSMsgType.TEXT:
                continue
            ask = json.loads(frame.data)
            if ask.get("op") == "ping":
                await ws.send_json({"op": "pong", "success": True})
                continue
            subscribed.update(ask.get("args", []))
            reply = {"success": True, "ret_msg": "", "op": ask.get("op"), "conn_id": "local"}
            await ws.send_json({**reply, "req_id": ask.get("req_id")})
            if set(TOPICS) <= subscribed:
                for message in messages:
                    await ws.send_json(message)
                    await asyncio.sleep(PACE_S)
        return ws

    app = web.Application()
    app.router.add_get("/v5/public/linear", public)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"ws://127.0.0.1:{port}"


def test_recorded_bybit_messages_become_the_ticks_and_flow_the_engine_expects() -> None:
    messages = recorded_messages()
    expected_quotes, expected_trades = expected_records(messages)
    assert len(expected_quotes) > 100 and len(expected_trades) > 10

    async def scenario() -> list[tuple]:
        server, ws_url = await serve_recording(messages)
        config = AccountConfig("bybit", ws_url=ws_url, rest_url="http://127.0.0.1:9")
        client = make_client(config)
        client.set_markets([BTC_MARKET])
        feed = LiveFeed(client, "BTC/USDT:USDT")
        records: list[tuple] = []
        batches = feed.batches()
        try:
            while len([r for r in records if r[2] != 0]) < len(expected_trades) or (
                not records or records[-1][:2] != expected_quotes[-1]
            ):
                records.extend(await asyncio.wait_for(anext(batches), timeout=10))
        finally:
            await batches.aclose()
            await client.close()
            await server.cleanup()
        return records

    records = asyncio.run(scenario())
    quotes = [(ts, price) for ts, price, qty in records if qty == 0]
    trades = [(ts, price, qty) for ts, price, qty in records if qty != 0]

    # Every trade, in order, with its own time and taker side. Before the first quote a trade
    # is a tick at its price; after it, a trade that is no tick (its time may be raised to
    # keep event time from running backwards across the two streams).
    first_quote = next(i for i, r in enumerate(records) if r[2] == 0)
    assert [qty for _, _, qty in trades] == [qty for _, _, qty in expected_trades]
    for (ts, price, _), record in zip(expected_trades, trades, strict=True):
        before = records.index(record) < first_quote
        assert record[1] == (price if before else TRADE_ONLY)
        assert record[0] >= ts

    # Quotes: mid prices of the recorded book, in order. ccxt keeps the latest ticker, so an
    # update superseded before the feed reads it is skipped, never reordered or invented.
    position = 0
    for quote in quotes:
        position = expected_quotes.index(quote, position) + 1
    assert quotes[-1] == expected_quotes[-1]
    assert len(quotes) >= 0.8 * len(expected_quotes)
    assert [ts for ts, _, _ in records] == sorted(ts for ts, _, _ in records)
