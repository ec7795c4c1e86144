"""The private order stream settles orders: a fill told on the stream needs no REST look-up,
and a stream that is down or silent leaves the look-up to settle the order, as before.

Through ccxt's real bybit class against the Bybit simulator in a thread (`bybit_sim`, flat at
64,000). Every wait is bounded.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.exchange.test_stop_orders import SYMBOL, call, connected
from tests.runtime.test_order_flow import until
from trading.engine import LONG
from trading.exchange.base import FILLED, OrderRequest
from trading.exchange.live import CcxtExchange
from trading.exchange.simulator import SimulatorThread

LOOKUPS = ("/v5/order/realtime", "/v5/order/history")


def lookups(sim: SimulatorThread) -> int:
    requests = sim.requests
    return sum(requests.get(path, 0) for path in LOOKUPS)


def run(sim: SimulatorThread, stream: bool) -> tuple[list, int]:
    """Two orders with the account's streams followed (or not); their results and look-ups."""

    async def main() -> tuple[list, int]:
        async with connected(sim) as exchange:
            watching = None
            if stream:
                watching = asyncio.create_task(exchange.watch_account(_ignore))
                await until(lambda: "order" in sim.topics(), "the order stream subscribed")
            before = await call(lookups, sim)
            results = [
                await exchange.place_order(
                    OrderRequest("bybit", SYMBOL, LONG, action, 0.002, 64_000.0, cid)
                )
                for action, cid in (("open", "tststream1"), ("close", "tststream2"))
            ]
            after = await call(lookups, sim)
            if watching is not None:
                watching.cancel()
            return results, after - before

    return asyncio.run(asyncio.wait_for(main(), 20))


async def _ignore(symbols: set[str]) -> None:
    return None


def test_a_fill_told_on_the_order_stream_needs_no_lookup(bybit_sim):
    results, looked_up = run(bybit_sim, stream=True)
    assert [r.status for r in results] == [FILLED, FILLED]
    assert results[0].price == pytest.approx(64_003.2)  # the ask, as the simulator fills
    assert results[0].filled_size == pytest.approx(0.002)
    assert results[0].fee > 0 and results[0].exchange_order_id
    assert looked_up == 0


def test_without_the_stream_the_fill_is_looked_up(bybit_sim):
    results, looked_up = run(bybit_sim, stream=False)
    assert [r.status for r in results] == [FILLED, FILLED]
    assert results[0].price == pytest.approx(64_003.2)
    assert looked_up >= 2  # one look-up an order at least


def test_the_stream_waiters_are_forgotten_once_settled(bybit_sim):
    async def main() -> dict:
        async with connected(bybit_sim) as exchange:
            exchange: CcxtExchange
            watching = asyncio.create_task(exchange.watch_account(_ignore))
            await until(lambda: "order" in bybit_sim.topics(), "the order stream subscribed")
            await exchange.place_order(
                OrderRequest("bybit", SYMBOL, LONG, "open", 0.002, 64_000.0, "tststream3")
            )
            watching.cancel()
            return dict(exchange.waiters.waiting)

    assert asyncio.run(asyncio.wait_for(main(), 20)) == {}
