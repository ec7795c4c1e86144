"""The stop-loss that rests on the exchange (`CcxtExchange.protect`), through ccxt's real bybit
class against the Bybit simulator: set, rounded away from the position, moved, removed, refused,
and triggered by the price with no bot code running after it was set. Binance USD-M and OKX are
in `test_stop_orders_other.py`.

Each test runs its scenario on its own event loop against a simulator in a thread
(`bybit_sim`, flat at 64,000: bid 63,996.8, ask 64,003.2); controls go through
`asyncio.to_thread`. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest

from trading.engine import LONG, SHORT
from trading.exchange.accounts import AccountConfig
from trading.exchange.base import FILLED, OrderRequest
from trading.exchange.ccxtload import exchange_class
from trading.exchange.live import CcxtExchange, SymbolSetup
from trading.exchange.simulator import SimulatorThread
from trading.exchange.stops import stop_level

exchange_class("bybit")  # registers the light ccxt packages before `import ccxt`
import ccxt  # noqa: E402

SYMBOL = "BTC/USDT:USDT"
SIZE = 0.002


@asynccontextmanager
async def connected(sim: SimulatorThread, timeout_ms: int = 5000) -> AsyncIterator[CcxtExchange]:
    config = AccountConfig(
        "bybit",
        api_key="k",
        secret="s",
        rest_url=sim.rest_url,
        ws_url=sim.ws_url,
        timeout_ms=timeout_ms,
    )
    exchange = CcxtExchange(config)
    try:
        await exchange.load_rules()
        await exchange.prepare(SymbolSetup(SYMBOL, 5, "isolated"))
        yield exchange
    finally:
        await exchange.close()


def trade(sim: SimulatorThread, scenario: Callable[[CcxtExchange], Awaitable[None]]) -> None:
    """Run `scenario(exchange)` with a prepared exchange, within 20 s."""

    async def main() -> None:
        async with connected(sim) as exchange:
            await scenario(exchange)

    asyncio.run(asyncio.wait_for(main(), 20))


async def call(function: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


async def order(exchange: CcxtExchange, side: str, action: str, cid: str) -> None:
    request = OrderRequest("bybit", SYMBOL, side, action, SIZE, 64_000.0, cid)
    result = await exchange.place_order(request)
    assert result.status == FILLED, result.error


async def sizes(sim: SimulatorThread) -> dict[str, float]:
    return {side: p["size"] for side, p in (await call(sim.positions)).items()}


async def listed_stops(exchange: CcxtExchange) -> dict[str, float | None]:
    """Each held side's stop-loss as `/v5/position/list` shows it, parsed by ccxt."""
    rows = await exchange.client.fetch_positions([SYMBOL])
    return {row["side"]: row["stopLossPrice"] for row in rows if row["contracts"]}


def test_a_long_stop_rests_rounded_down_and_closes_the_position_with_no_bot_code_running(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(exchange: CcxtExchange) -> None:
        await order(exchange, LONG, "open", "long1")
        assert await exchange.protect(SYMBOL, LONG, 63_359.97) is None
        assert await call(bybit_sim.stops) == {LONG: 63_359.9, SHORT: None}  # down, not up
        assert await listed_stops(exchange) == {"long": 63_359.9}
        assert await exchange.protect(SYMBOL, LONG, 63_359.9) is None  # "not modified": fine
        async with (
            aiohttp.ClientSession() as session,
            session.get(bybit_sim.rest_url + "/sim/state") as answer,
        ):
            assert (await answer.json())["stops"] == {LONG: 63_359.9, SHORT: None}

    trade(bybit_sim, scenario)
    # The bot is gone (its client closed); only the simulator moves from here on.
    bybit_sim.set_price(63_400)  # above the stop: nothing happens
    assert bybit_sim.positions()[LONG]["size"] == SIZE
    bybit_sim.set_price(63_300)  # through it
    assert bybit_sim.positions()[LONG]["size"] == 0
    closing = bybit_sim.orders()[-1]
    assert (closing["createType"], closing["orderLinkId"]) == ("CreateByStopLoss", "")
    assert (closing["side"], closing["qty"], closing["reduceOnly"]) == ("Sell", SIZE, True)
    assert closing["price"] == pytest.approx(63_296.8)  # the bid at 63,300: a market close
    assert bybit_sim.stops() == {LONG: None, SHORT: None}


def test_a_short_stop_rests_rounded_up_and_closes_only_the_short(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(exchange: CcxtExchange) -> None:
        await order(exchange, LONG, "open", "long1")
        await order(exchange, SHORT, "open", "short1")
        assert await exchange.protect(SYMBOL, LONG, 63_000) is None
        assert await exchange.protect(SYMBOL, SHORT, 64_640.01) is None
        assert await call(bybit_sim.stops) == {LONG: 63_000.0, SHORT: 64_640.1}  # up
        await call(bybit_sim.set_price, 64_600)
        assert await sizes(bybit_sim) == {LONG: SIZE, SHORT: SIZE}
        await call(bybit_sim.set_price, 64_700)
        assert await sizes(bybit_sim) == {LONG: SIZE, SHORT: 0}
        closing = (await call(bybit_sim.orders))[-1]
        assert (closing["createType"], closing["side"], closing["positionIdx"]) == (
            "CreateByStopLoss",
            "Buy",
            2,
        )
        assert await call(bybit_sim.stops) == {LONG: 63_000.0, SHORT: None}
        assert set(await exchange.positions(SYMBOL)) == {LONG}

    trade(bybit_sim, scenario)


def test_a_stop_reached_exactly_fires(bybit_sim: SimulatorThread) -> None:
    async def scenario(exchange: CcxtExchange) -> None:
        await order(exchange, SHORT, "open", "short1")
        assert await exchange.protect(SYMBOL, SHORT, 64_500) is None
        await call(bybit_sim.set_price, 64_499.9)
        assert (await sizes(bybit_sim))[SHORT] == SIZE
        await call(bybit_sim.set_price, 64_500)
        assert (await sizes(bybit_sim))[SHORT] == 0

    trade(bybit_sim, scenario)


def test_removing_the_stop_lets_the_price_fall_through_it(bybit_sim: SimulatorThread) -> None:
    async def scenario(exchange: CcxtExchange) -> None:
        await order(exchange, LONG, "open", "long1")
        assert await exchange.protect(SYMBOL, LONG, 63_000) is None
        assert await exchange.protect(SYMBOL, LONG, None) is None
        assert await call(bybit_sim.stops) == {LONG: None, SHORT: None}
        assert await listed_stops(exchange) == {"long": None}
        assert await exchange.protect(SYMBOL, LONG, None) is None  # nothing left: fine too
        await call(bybit_sim.set_price, 62_000)
        assert (await sizes(bybit_sim))[LONG] == SIZE

    trade(bybit_sim, scenario)


def test_a_stop_goes_with_its_position_and_does_not_hit_the_next_one(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(exchange: CcxtExchange) -> None:
        await order(exchange, LONG, "open", "long1")
        assert await exchange.protect(SYMBOL, LONG, 63_000) is None
        await order(exchange, LONG, "close", "close1")
        assert await call(bybit_sim.stops) == {LONG: None, SHORT: None}
        assert await exchange.protect(SYMBOL, LONG, None) is None  # flat: nothing to remove
        await order(exchange, LONG, "open", "long2")
        assert await listed_stops(exchange) == {"long": None}
        await call(bybit_sim.set_price, 62_000)
        assert (await sizes(bybit_sim))[LONG] == SIZE

    trade(bybit_sim, scenario)


def test_a_stop_on_a_flat_side_returns_the_exchanges_reason(bybit_sim: SimulatorThread) -> None:
    async def scenario(exchange: CcxtExchange) -> None:
        reason = await exchange.protect(SYMBOL, LONG, 63_000)
        assert reason is not None and reason.startswith("BadRequest: bybit ")
        assert "can not set tp/sl/ts for zero position" in reason
        assert "\n" not in reason
        assert await call(bybit_sim.stops) == {LONG: None, SHORT: None}

    trade(bybit_sim, scenario)


def test_a_stop_on_the_wrong_side_of_the_price_returns_the_reason(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(exchange: CcxtExchange) -> None:
        await order(exchange, LONG, "open", "long1")
        await order(exchange, SHORT, "open", "short1")
        long_reason = await exchange.protect(SYMBOL, LONG, 64_000)  # at the price: refused
        assert long_reason is not None
        assert "set for Buy position should lower than base_price:64000.0" in long_reason
        short_reason = await exchange.protect(SYMBOL, SHORT, 63_900)
        assert short_reason is not None and "set for Sell position should higher" in short_reason
        assert await call(bybit_sim.stops) == {LONG: None, SHORT: None}

    trade(bybit_sim, scenario)


def test_the_position_stream_tells_the_stop_and_the_close_it_triggers(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(exchange: CcxtExchange) -> None:
        client = exchange.client
        await order(exchange, LONG, "open", "long1")
        await client.watch_positions([SYMBOL])  # the first call: a REST snapshot
        update = asyncio.ensure_future(client.watch_positions([SYMBOL]))
        async with asyncio.timeout(3):
            while "position" not in await call(bybit_sim.topics):
                await asyncio.sleep(0.01)
        assert await exchange.protect(SYMBOL, LONG, 63_500) is None
        (pushed,) = await asyncio.wait_for(update, 3)
        assert (pushed["side"], pushed["stopLossPrice"]) == ("long", 63_500)
        update = asyncio.ensure_future(client.watch_positions([SYMBOL]))
        await asyncio.sleep(0.01)
        await call(bybit_sim.set_price, 63_400)
        (pushed,) = await asyncio.wait_for(update, 3)
        assert (pushed["side"], pushed["contracts"], pushed["stopLossPrice"]) == ("long", 0, None)

    trade(bybit_sim, scenario)


def test_the_simulator_checks_trading_stop_requests(bybit_sim: SimulatorThread) -> None:
    async def scenario(exchange: CcxtExchange) -> None:
        await order(exchange, LONG, "open", "long1")
        good = {
            "category": "linear",
            "symbol": "BTCUSDT",
            "positionIdx": 1,
            "tpslMode": "Full",
            "stopLoss": "63000",
        }
        send = exchange.client.privatePostV5PositionTradingStop
        for change, words in (
            ({"category": "spot"}, "Illegal category"),
            ({"symbol": "ETHUSDT"}, "Not supported symbols"),
            ({"positionIdx": 0}, "position idx not match position mode"),
            ({"tpslMode": "Partial"}, "tpslMode invalid"),
            ({"stopLoss": "63000.05"}, "multiple of the tick size"),
            ({"takeProfit": "66000"}, "stopLoss only"),
            ({"slTriggerBy": "Whim"}, "slTriggerBy invalid"),
        ):
            with pytest.raises(ccxt.BadRequest, match=words):
                await send({**good, **change})
        assert await call(bybit_sim.stops) == {LONG: None, SHORT: None}
        await send(good)  # Bybit's default trigger, the last price
        assert await call(bybit_sim.stops) == {LONG: 63_000.0, SHORT: None}
        with pytest.raises(ccxt.ExchangeError, match="34040"):
            await send(good)

    trade(bybit_sim, scenario)


@pytest.mark.parametrize(
    ("price", "side", "tick", "expected"),
    [
        (63_359.97, LONG, 0.1, "63359.9"),
        (63_359.91, SHORT, 0.1, "63360"),
        (63_360.0, LONG, 0.1, "63360"),  # on the tick: kept
        (0.123456, SHORT, 1e-05, "0.12346"),
        (0.04, LONG, 0.1, "0"),  # rounds to nothing: no stop
        (float("nan"), LONG, 0.1, "0"),
    ],
)
def test_stop_prices_round_away_from_the_position(
    price: float, side: str, tick: float, expected: str
) -> None:
    assert format(stop_level(price, side, tick), "f") == expected
