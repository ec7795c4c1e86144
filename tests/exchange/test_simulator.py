"""The Bybit simulator, driven through ccxt's real bybit class (REST and ccxt.pro websockets).

Each test runs its scenario on its own event loop against a simulator running in a thread
(`bybit_sim`); controls are called through `asyncio.to_thread` so that the simulator can talk
to the client while it works. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import itertools
import select
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.shared_data import TRADES
from trading.backtest.readers import open_ticks
from trading.exchange.accounts import redirect
from trading.exchange.ccxtload import exchange_class
from trading.exchange.simulator import SimulatorThread

BYBIT = exchange_class("bybit")  # registers the light ccxt packages before `import ccxt`
import ccxt  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SYMBOL = "BTC/USDT:USDT"
TRADES_FILE = TRADES / "binance_usdm_BTCUSDT_trades_2024-07-19T0000_hftbacktest.csv"
REPLAY = {"trades": TRADES_FILE, "speed": 20, "replay_paused": True}
UNIFIED = {"enableUnifiedAccount": True, "enableUnifiedMargin": False}
HEDGED_LONG = {"positionIdx": 1}
HEDGED_SHORT = {"positionIdx": 2}


def make_client(sim: SimulatorThread, *, timeout: int = 2000, **options: Any) -> Any:
    client = BYBIT(
        {
            "apiKey": options.pop("api_key", "k"),
            "secret": "s",
            "enableRateLimit": False,
            "timeout": timeout,
            "options": {"defaultType": "swap", "fetchMarkets": {"types": ["linear"]}, **options},
        }
    )
    client.has["fetchCurrencies"] = False  # the private currencies call the simulator lacks
    redirect(client.urls["api"], sim.rest_url, sim.ws_url)
    return client


@asynccontextmanager
async def bybit(sim: SimulatorThread, **options: Any) -> AsyncIterator[Any]:
    client = make_client(sim, **{**UNIFIED, **options})
    try:
        await client.load_markets()
        yield client
    finally:
        await client.close()


def trade(sim: SimulatorThread, scenario: Callable[[Any], Awaitable[None]], **options: Any) -> None:
    """Run `scenario(client)` with a loaded client, within 20 s."""

    async def main() -> None:
        async with bybit(sim, **options) as client:
            await scenario(client)

    asyncio.run(asyncio.wait_for(main(), 20))


async def call(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not await asyncio.to_thread(condition):
            await asyncio.sleep(0.01)


async def watching(watch: Awaitable[Any]) -> asyncio.Task[Any]:
    """A watch already waiting: ccxt hands a ticker only to a watch waiting when it comes."""
    task = asyncio.ensure_future(watch)
    await asyncio.sleep(0.01)
    return task


async def hedge(client: Any) -> None:
    await client.set_position_mode(True, SYMBOL)


def by_side(positions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {p["side"]: p for p in positions}


# Markets and account settings ----------------------------------------------------------------


def test_markets_carry_the_recorded_precision_and_limits(bybit_sim: SimulatorThread) -> None:
    async def scenario(client: Any) -> None:
        market = client.market(SYMBOL)
        assert market["id"] == "BTCUSDT" and market["swap"] and market["linear"]
        assert market["precision"] == {"amount": 0.001, "price": 0.1}
        assert market["limits"]["amount"] == {"min": 0.001, "max": 1500.0}
        assert market["limits"]["cost"]["min"] == 5.0
        assert market["limits"]["leverage"] == {"min": 1.0, "max": 100.0}
        assert len(client.markets) == 800  # the recorded list, in one page of 1000
        ids: list[str] = []
        cursor = ""
        for _ in range(3):  # 800 in pages of 300
            page = (
                await client.publicGetV5MarketInstrumentsInfo(
                    {"category": "linear", "limit": 300, "cursor": cursor}
                )
            )["result"]
            ids += [row["symbol"] for row in page["list"]]
            cursor = page["nextPageCursor"]
        assert cursor == "" and sorted(ids) == sorted(m["id"] for m in client.markets.values())
        ticker = await client.fetch_ticker(SYMBOL)
        assert ticker["bid"] < ticker["last"] == 64_000 < ticker["ask"]

    trade(bybit_sim, scenario)


def test_settings_change_once_then_answer_not_modified(bybit_sim: SimulatorThread) -> None:
    async def scenario(client: Any) -> None:
        await client.set_position_mode(True, SYMBOL)
        with pytest.raises(ccxt.NoChange):
            await client.set_position_mode(True, SYMBOL)
        await client.set_leverage(5, SYMBOL)
        with pytest.raises(ccxt.BadRequest, match="110043"):
            await client.set_leverage(5, SYMBOL)
        await client.set_margin_mode("isolated")
        with pytest.raises(ccxt.MarginModeAlreadySet):
            await client.set_margin_mode("isolated")

    trade(bybit_sim, scenario)


def test_position_mode_stays_while_a_position_is_open(bybit_sim: SimulatorThread) -> None:
    async def scenario(client: Any) -> None:
        await hedge(client)
        await client.create_order(
            SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "o1"} | HEDGED_LONG
        )
        with pytest.raises(ccxt.BadRequest, match="110024"):
            await client.set_position_mode(False, SYMBOL)

    trade(bybit_sim, scenario)


def test_private_requests_need_the_api_key(bybit_sim: SimulatorThread) -> None:
    async def scenario(client: Any) -> None:
        with pytest.raises(ccxt.AuthenticationError, match="10003"):
            await client.fetch_positions([SYMBOL])
        with pytest.raises(ccxt.AuthenticationError, match="Authentication failed"):
            await asyncio.wait_for(client.watch_orders(SYMBOL), 3)

    trade(bybit_sim, scenario, api_key="wrong")


def test_first_order_asks_account_type_unless_the_options_say_it(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario() -> None:
        for options, expected in (({}, 1), (UNIFIED, 0)):
            before = await call(lambda: bybit_sim.requests)
            client = make_client(bybit_sim, **options)
            try:
                await client.load_markets()
                cid = f"first-{expected}"
                await client.create_order(
                    SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": cid}
                )
            finally:
                await client.close()
            after = await call(lambda: bybit_sim.requests)
            asked = {path: after.get(path, 0) - before.get(path, 0) for path in after}
            assert asked["/v5/order/create"] == 1
            assert asked.get("/v5/user/query-api", 0) == expected
            assert asked.get("/v5/account/info", 0) == expected

    asyncio.run(asyncio.wait_for(scenario(), 20))


# Orders --------------------------------------------------------------------------------------


def test_hedged_orders_fill_at_the_quote_into_both_sides(bybit_sim: SimulatorThread) -> None:
    async def scenario(client: Any) -> None:
        await hedge(client)
        buy = {"clientOrderId": "L1", "hedged": True}
        await client.create_order(SYMBOL, "market", "buy", 0.002, None, buy)
        await call(bybit_sim.set_price, 65_000)
        await client.create_order(
            SYMBOL, "market", "buy", 0.002, None, buy | {"clientOrderId": "L2"}
        )
        sell = {"clientOrderId": "S1", "hedged": True}
        await client.create_order(SYMBOL, "market", "sell", 0.003, None, sell)
        sides = by_side(await client.fetch_positions([SYMBOL]))
        assert sides["long"]["contracts"] == 0.004
        assert sides["long"]["entryPrice"] == pytest.approx((64_003.2 + 65_003.3) / 2)
        assert sides["short"]["contracts"] == 0.003
        assert sides["short"]["entryPrice"] == pytest.approx(64_996.7)  # the bid
        close = {"clientOrderId": "L3", "hedged": True, "reduceOnly": True}
        await client.create_order(SYMBOL, "market", "sell", 0.001, None, close)
        sides = by_side(await client.fetch_positions([SYMBOL]))
        assert sides["long"]["contracts"] == 0.003
        summary = await call(bybit_sim.orders)
        assert [(o["orderLinkId"], o["side"], o["positionIdx"]) for o in summary] == [
            ("L1", "Buy", 1),
            ("L2", "Buy", 1),
            ("S1", "Sell", 2),
            ("L3", "Sell", 1),
        ]
        fills = await client.fetch_my_trades(SYMBOL)
        assert sorted(f["order"] for f in fills) == sorted(o["orderId"] for o in summary)
        (first,) = [f for f in fills if f["order"] == summary[0]["orderId"]]
        assert first["fee"]["cost"] == pytest.approx(0.002 * 64_003.2 * 0.00055)  # taker fee

    trade(bybit_sim, scenario)


def test_a_close_beyond_the_position_is_cut_and_a_close_of_nothing_refused(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(client: Any) -> None:
        await hedge(client)
        await client.create_order(
            SYMBOL, "market", "sell", 0.002, None, {"clientOrderId": "s"} | HEDGED_SHORT
        )
        close = {"clientOrderId": "c", "reduceOnly": True} | HEDGED_SHORT
        order = await client.fetch_closed_order(
            (await client.create_order(SYMBOL, "market", "buy", 0.005, None, close))["id"], SYMBOL
        )
        assert order["filled"] == 0.002
        assert by_side(await client.fetch_positions([SYMBOL]))["short"]["contracts"] == 0
        again = {"clientOrderId": "c2", "reduceOnly": True} | HEDGED_SHORT
        with pytest.raises(ccxt.InvalidOrder, match="110017"):
            await client.create_order(SYMBOL, "market", "buy", 0.001, None, again)

    trade(bybit_sim, scenario)


def test_one_way_mode_nets_sides_and_hedge_mode_wants_a_position_index(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(client: Any) -> None:
        with pytest.raises(ccxt.BadRequest, match="position idx not match"):  # a new account
            await client.create_order(
                SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "x"} | HEDGED_LONG
            )
        await client.create_order(SYMBOL, "market", "buy", 0.002, None, {"clientOrderId": "b"})
        await client.create_order(SYMBOL, "market", "sell", 0.003, None, {"clientOrderId": "s"})
        (net,) = await client.fetch_positions([SYMBOL])
        assert (net["side"], net["contracts"], net["hedged"]) == ("short", 0.001, False)
        await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "c"})
        await hedge(client)
        with pytest.raises(ccxt.BadRequest, match="position idx not match"):
            await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "y"})

    trade(bybit_sim, scenario)


def test_a_duplicate_client_order_id_is_refused(bybit_sim: SimulatorThread) -> None:
    async def scenario(client: Any) -> None:
        await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "dup"})
        with pytest.raises(ccxt.InvalidOrder, match="110072"):
            await client.create_order(
                SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "dup"}
            )
        assert len(await call(bybit_sim.orders)) == 1

    trade(bybit_sim, scenario)


def test_orders_below_the_minimums_or_not_market_are_refused(bybit_sim: SimulatorThread) -> None:
    async def scenario(client: Any) -> None:
        with pytest.raises(ccxt.InvalidOrder):  # ccxt's own check: rounds to 0
            await client.create_order(SYMBOL, "market", "buy", 0.0004, None, {"clientOrderId": "a"})
        await call(bybit_sim.set_price, 1_000)  # 0.001 BTC is now worth 1 USDT, below 5
        with pytest.raises(ccxt.InvalidOrder, match="110094"):
            await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "b"})
        with pytest.raises(ccxt.BadRequest, match="Qty invalid"):  # off the step: ccxt's raw call
            await client.privatePostV5OrderCreate(
                {
                    "category": "linear",
                    "symbol": "BTCUSDT",
                    "side": "Buy",
                    "orderType": "Market",
                    "qty": "0.0105",
                    "orderLinkId": "c",
                }
            )
        with pytest.raises(ccxt.BadRequest, match="market orders only"):
            await client.create_order(SYMBOL, "limit", "buy", 0.01, 900, {"clientOrderId": "d"})
        assert await call(bybit_sim.orders) == []

    trade(bybit_sim, scenario)


def test_rate_limit_and_insufficient_faults_refuse_without_trading(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(client: Any) -> None:
        await call(bybit_sim.rate_limit_next, 1)
        with pytest.raises(ccxt.RateLimitExceeded):
            await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "r"})
        await call(bybit_sim.insufficient_balance_next, 1)
        with pytest.raises(ccxt.InsufficientFunds):
            await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "r"})
        assert await call(bybit_sim.orders) == []
        await client.create_order(SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "r"})
        with pytest.raises(ccxt.InsufficientFunds):  # 10 BTC at 10x needs 64,000 USDT
            await client.create_order(SYMBOL, "market", "buy", 10, None, {"clientOrderId": "big"})
        assert [o["orderLinkId"] for o in await call(bybit_sim.orders)] == ["r"]

    trade(bybit_sim, scenario)


def test_a_late_answer_times_out_yet_the_filled_order_is_found_by_client_id(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(client: Any) -> None:
        await call(bybit_sim.delay_next_orders, 1, 1.0)
        with pytest.raises(ccxt.RequestTimeout):
            await client.create_order(
                SYMBOL, "market", "buy", 0.001, None, {"clientOrderId": "late"}
            )
        (closed,) = await client.fetch_closed_orders(SYMBOL, params={"orderLinkId": "late"})
        assert closed["clientOrderId"] == "late" and closed["status"] == "closed"
        assert closed["filled"] == 0.001 and closed["average"] == 64_003.2
        (recent,) = await client.fetch_open_orders(SYMBOL, params={"orderLinkId": "late"})
        assert recent["id"] == closed["id"] and recent["status"] == "closed"
        found = await client.fetch_order(closed["id"], SYMBOL, {"acknowledged": True})
        assert found["clientOrderId"] == "late"
        assert (await client.fetch_closed_order(closed["id"], SYMBOL))["clientOrderId"] == "late"
        assert await client.fetch_closed_orders(SYMBOL, params={"orderLinkId": "never"}) == []

    trade(bybit_sim, scenario, timeout=500)


# Websockets ----------------------------------------------------------------------------------


def first_ticks(n: int) -> list[tuple[int, float, float]]:
    with open_ticks([TRADES_FILE]) as stream:
        ticks = [tick for batch in stream for tick in batch]
    return ticks[:n]


@pytest.mark.parametrize("bybit_sim", [REPLAY], indirect=True)
def test_watch_trades_and_ticker_replay_the_file(bybit_sim: SimulatorThread) -> None:
    expected = first_ticks(60)

    async def scenario(client: Any) -> None:
        first = await client.watch_ticker(SYMBOL)  # the snapshot: the file's first price
        assert (first["last"], first["timestamp"]) == (expected[0][1], expected[0][0])
        trades: list[dict[str, Any]] = []
        waiting = asyncio.create_task(client.watch_trades(SYMBOL))
        await until(lambda: "publicTrade.BTCUSDT" in bybit_sim.topics())
        await call(bybit_sim.start_replay)
        trades += await waiting
        tickers = []
        while len(trades) < len(expected):
            tickers.append(await client.watch_ticker(SYMBOL))
            trades += await client.watch_trades(SYMBOL)
        got = [(t["timestamp"], t["price"], t["amount"], t["side"]) for t in trades[:60]]
        assert got == [(ts, p, abs(q), "buy" if q > 0 else "sell") for ts, p, q in expected]
        prices_at: dict[int, set[float]] = {}  # a ticker may come after the 60th trade
        for ts, price, _ in first_ticks(5000):
            prices_at.setdefault(ts, set()).add(price)
        assert any(ticker["timestamp"] in prices_at for ticker in tickers)
        for ticker in tickers:
            if ticker["timestamp"] in prices_at:
                assert ticker["last"] in prices_at[ticker["timestamp"]]
            assert ticker["bid"] < ticker["last"] < ticker["ask"]
            assert ticker["ask"] - ticker["bid"] == pytest.approx(0.0001 * ticker["last"], abs=0.2)

    trade(bybit_sim, scenario)


@pytest.mark.parametrize("bybit_sim", [REPLAY], indirect=True)
def test_the_public_stream_keeps_bybits_pace(bybit_sim: SimulatorThread) -> None:
    """The trades of one moment in one message; the ticker at most every 100 ms."""
    expected = first_ticks(400)
    received: dict[str, list[tuple[float, dict[str, Any]]]] = {"trades": [], "tickers": []}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession() as session:
            url = f"{bybit_sim.ws_url}/v5/public/linear"
            async with session.ws_connect(url) as ws:
                topics = ["publicTrade.BTCUSDT", "tickers.BTCUSDT"]
                await ws.send_json({"op": "subscribe", "args": topics})
                await until(lambda: set(topics) <= set(bybit_sim.topics()))
                await call(bybit_sim.start_replay)
                trades = 0
                while trades < len(expected):
                    message = await asyncio.wait_for(ws.receive_json(), 5)
                    topic = message.get("topic", "")
                    if topic.startswith("publicTrade."):
                        received["trades"].append((loop.time(), message))
                        trades += len(message["data"])
                    elif topic.startswith("tickers.") and message["type"] == "delta":
                        received["tickers"].append((loop.time(), message))

    asyncio.run(asyncio.wait_for(main(), 20))
    sent = [(int(t["T"]), float(t["p"])) for _, m in received["trades"] for t in m["data"]]
    assert sent[: len(expected)] == [(ts, price) for ts, price, _ in expected]
    assert len(received["trades"]) < len(expected) / 2  # a moment's trades travel together
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(received["tickers"])]
    assert gaps and min(gaps) >= 0.09  # and the ticker keeps to 100 ms


def test_a_dropped_websocket_fails_the_watch_and_the_next_watch_reconnects(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(client: Any) -> None:
        await client.watch_ticker(SYMBOL)
        pending = await watching(client.watch_ticker(SYMBOL))
        await call(bybit_sim.drop_websockets)
        with pytest.raises(ccxt.NetworkError, match="closing code 1001"):
            await asyncio.wait_for(pending, 3)
        assert (await asyncio.wait_for(client.watch_ticker(SYMBOL), 3))["last"] == 64_000
        update = await watching(client.watch_ticker(SYMBOL))
        await call(bybit_sim.set_price, 64_100)
        assert (await asyncio.wait_for(update, 3))["last"] == 64_100

    trade(bybit_sim, scenario)


def test_the_top_of_the_book_streams_the_quote(bybit_sim: SimulatorThread) -> None:
    async def scenario(client: Any) -> None:
        book = await client.watch_order_book(SYMBOL, 1)
        assert (book["bids"][0][0], book["asks"][0][0]) == (63_996.8, 64_003.2)
        update = await watching(client.watch_order_book(SYMBOL, 1))
        await call(bybit_sim.set_price, 65_000)
        book = await asyncio.wait_for(update, 3)
        assert (book["bids"][0][0], book["asks"][0][0]) == (64_996.7, 65_003.3)
        assert len(book["bids"]) == len(book["asks"]) == 1

    trade(bybit_sim, scenario)


def test_a_stall_silences_data_and_pongs_until_it_ends(bybit_sim: SimulatorThread) -> None:
    async def scenario(client: Any) -> None:
        await client.watch_ticker(SYMBOL)
        pending = await watching(client.watch_ticker(SYMBOL))
        async with (
            aiohttp.ClientSession() as session,
            session.ws_connect(bybit_sim.ws_url + "/v5/public/linear") as raw,
        ):
            await call(bybit_sim.stall_websockets, 0.6)
            await call(bybit_sim.set_price, 64_100)  # lost in the stall
            await raw.send_json({"op": "ping", "req_id": "1"})
            with pytest.raises(TimeoutError):
                await raw.receive(timeout=0.3)
            assert not pending.done()
            await asyncio.sleep(0.4)
            await call(bybit_sim.set_price, 64_200)
            assert (await asyncio.wait_for(pending, 2))["last"] == 64_200
            await raw.send_json({"op": "ping", "req_id": "2"})
            pong = await raw.receive_json(timeout=2)
            assert (pong["op"], pong["ret_msg"], pong["req_id"]) == ("ping", "pong", "2")

    trade(bybit_sim, scenario)


def test_private_stream_pushes_fills_and_a_close_behind_the_back(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(client: Any) -> None:
        await hedge(client)
        orders = asyncio.create_task(client.watch_orders(SYMBOL))
        fills = asyncio.create_task(client.watch_my_trades(SYMBOL))
        await until(lambda: {"order", "execution"} <= set(bybit_sim.topics()))
        await client.create_order(
            SYMBOL, "market", "buy", 0.002, None, {"clientOrderId": "w"} | HEDGED_LONG
        )
        (pushed,) = await asyncio.wait_for(orders, 3)
        (fill,) = await asyncio.wait_for(fills, 3)
        assert pushed["clientOrderId"] == "w" and pushed["filled"] == 0.002
        assert pushed["status"] == "closed"
        assert fill["order"] == pushed["id"] and fill["price"] == 64_003.2
        assert fill["takerOrMaker"] == "taker"
        snapshot = by_side(await client.watch_positions([SYMBOL]))  # first call: a REST snapshot
        assert snapshot["long"]["contracts"] == 0.002
        update = asyncio.create_task(client.watch_positions([SYMBOL]))
        await until(lambda: "position" in bybit_sim.topics())
        closing = await call(bybit_sim.close_position, "BTCUSDT", "LONG")
        assert (closing["side"], closing["qty"], closing["reduceOnly"]) == ("Sell", 0.002, True)
        (position,) = await asyncio.wait_for(update, 3)
        assert (position["side"], position["contracts"]) == ("long", 0)
        long = (await call(bybit_sim.positions))["LONG"]
        assert long["size"] == 0 and long["realised_pnl"] < 0  # the spread and two fees

    trade(bybit_sim, scenario)


# Over HTTP and as a process --------------------------------------------------------------------


def test_the_control_endpoint_faults_the_simulator(bybit_sim: SimulatorThread) -> None:
    async def scenario(client: Any) -> None:
        async with aiohttp.ClientSession() as session:
            url = bybit_sim.rest_url + "/sim/control"
            async with session.post(url, json={"fault": "rate_limit_next", "n": 1}) as answer:
                assert (answer.status, await answer.json()) == (200, {"ok": True, "result": None})
            async with session.post(url, json={"fault": "melt_down"}) as answer:
                assert answer.status == 400
                assert "Unknown fault 'melt_down'" in (await answer.json())["error"]
            async with session.post(url, json=["rate_limit_next"]) as answer:
                assert answer.status == 400
                assert "naming the fault" in (await answer.json())["error"]
            with pytest.raises(ccxt.RateLimitExceeded):
                await client.fetch_positions([SYMBOL])
            await client.fetch_positions([SYMBOL])
            async with session.get(bybit_sim.rest_url + "/sim/state") as answer:
                state = await answer.json()
        assert state["requests"]["/v5/position/list"] == 2 and state["orders"] == []

    trade(bybit_sim, scenario)


def run_command(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "manage.py", "exchange_sim", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_the_command_prints_its_urls_serves_and_stops_on_sigterm() -> None:
    process = run_command("--port", "0", "--trades", str(TRADES_FILE), "--speed", "0")
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the simulator printed nothing within 30 s"
        assert process.stdout is not None
        words = process.stdout.readline().split()
        assert words[0::2] == ["REST", "WS"] and words[3] == words[1].replace("http", "ws")
        with urllib.request.urlopen(words[1] + "/v5/market/time", timeout=5) as answer:
            assert b'"retCode": 0' in answer.read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.communicate()


def test_the_command_explains_a_missing_trades_file() -> None:
    process = run_command("--trades", "/no/such/trades.csv")
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "The trades file /no/such/trades.csv does not exist" in stderr
    assert "Traceback" not in stderr
