"""Funding on a live account: the Bybit simulator settles it, `CcxtExchange` reads it through
ccxt's real bybit class, and the bot records each settlement once however often it is read.

Each scenario runs on its own event loop against a simulator in a thread, flat at 64,000,
settling a funding rate every fraction of a second; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest

from tests.factories import TradeFactory
from trading.engine import LONG, SHORT
from trading.exchange.accounts import AccountConfig
from trading.exchange.base import FILLED, FundingSettlement, OrderRequest
from trading.exchange.funding import funding_settlement
from trading.exchange.live import CcxtExchange, SymbolSetup
from trading.exchange.simulator import SimulatorThread
from trading.models import FundingPayment
from trading.runtime.funding import read_funding

SYMBOL = "BTC/USDT:USDT"
RATE = 0.0001
FAST = {"funding_rate": RATE, "funding_interval_s": 0.2}


def trade(sim: SimulatorThread, scenario: Callable[[CcxtExchange], Awaitable[Any]]) -> Any:
    """Run `scenario(exchange)` with a prepared exchange, within 30 s."""

    async def main() -> Any:
        config = AccountConfig(
            "bybit", api_key="k", secret="s", rest_url=sim.rest_url, ws_url=sim.ws_url
        )
        exchange = CcxtExchange(config)
        try:
            await exchange.load_rules()
            await exchange.prepare(SymbolSetup(SYMBOL, 5, "isolated"))
            return await scenario(exchange)
        finally:
            await exchange.close()

    return asyncio.run(asyncio.wait_for(main(), 30))


async def open_both_sides(exchange: CcxtExchange) -> int:
    """A LONG of 0.002 and a SHORT of 0.004; the time (ms) once both are held."""
    for side, size, cid in ((LONG, 0.002, "fund-long"), (SHORT, 0.004, "fund-short")):
        order = OrderRequest("bybit", SYMBOL, side, "open", size, 64_000.0, cid)
        result = await exchange.place_order(order)
        assert result.status == FILLED, result.error
    return time.time_ns() // 1_000_000


async def settled(exchange: CcxtExchange, since: int, at_least: int) -> list[FundingSettlement]:
    """The settlements since `since`, once there are `at_least` of them (polled)."""
    for _ in range(100):
        found = await exchange.funding_settlements(SYMBOL, since)
        if len(found) >= at_least:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {at_least} funding settlements after 10 s")


@pytest.mark.parametrize("bybit_sim", [FAST], indirect=True)
def test_each_open_side_pays_or_receives_its_value_at_the_mark_times_the_rate(bybit_sim):
    async def scenario(exchange: CcxtExchange) -> list[FundingSettlement]:
        since = await open_both_sides(exchange)
        return await settled(exchange, since, 2)

    found = trade(bybit_sim, scenario)
    first = {s.side: s for s in found if s.ts_ms == found[0].ts_ms}
    assert first[LONG].amount == pytest.approx(-0.002 * 64_000 * RATE)  # longs pay
    assert first[SHORT].amount == pytest.approx(0.004 * 64_000 * RATE)  # shorts receive
    assert first[LONG].rate == first[SHORT].rate == pytest.approx(RATE)
    assert first[LONG].ts_ms % 200 == 0  # on the funding time itself
    assert len({s.settlement_id for s in found}) == len(found)
    assert [s.ts_ms for s in found] == sorted(s.ts_ms for s in found)


@pytest.mark.parametrize(
    "bybit_sim", [{"funding_rate": -RATE, "funding_interval_s": 0.02}], indirect=True
)
def test_every_page_is_read_and_a_negative_rate_is_paid_by_shorts(bybit_sim):
    async def scenario(exchange: CcxtExchange) -> list[FundingSettlement]:
        since = await open_both_sides(exchange)
        return await settled(exchange, since, 130)  # Bybit pages hold 50: three pages

    found = trade(bybit_sim, scenario)
    assert len(found) >= 130
    assert all(s.amount < 0 for s in found if s.side == SHORT)
    assert all(s.amount > 0 for s in found if s.side == LONG)
    assert len({s.settlement_id for s in found}) == len(found)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("bybit_sim", [FAST], indirect=True)
def test_a_settlement_read_twice_is_recorded_once(bybit_sim):
    async def scenario(exchange: CcxtExchange) -> tuple[int, int]:
        since = await open_both_sides(exchange)
        await settled(exchange, since, 2)
        first = await read_funding("bybit", SYMBOL, exchange)
        again = await read_funding("bybit", SYMBOL, exchange)
        return first, again

    TradeFactory(exchange="bybit", symbol=SYMBOL)  # the bot's first order: reads start there
    first, again = trade(bybit_sim, scenario)
    assert first >= 2
    rows = list(FundingPayment.objects.order_by("paid_at", "side"))
    # A settlement that fell between the two reads is new to the second, and only that.
    assert len(rows) == first + again
    assert len({row.settlement_id for row in rows}) == len(rows)
    long = next(row for row in rows if row.side == LONG)
    assert long.amount == Decimal("-0.0128") and long.rate == Decimal("0.0001")
    assert long.exchange == "bybit" and long.symbol == SYMBOL


# -- ccxt's rows, as each exchange reports them ------------------------------------------------


def test_bybit_who_paid_follows_from_the_side_and_the_rate_not_the_fee_sign():
    # A short with a negative rate pays, though Bybit's execFee is the value times the rate.
    row = {
        "info": {"side": "Sell", "execFee": "-0.10232512", "feeRate": "-0.000761"},
        "symbol": "XMR/USDT:USDT",
        "timestamp": 1710950400000,
        "id": "8d1ef156",
        "amount": -0.10232512,
        "rate": -0.000761,
    }
    settled = funding_settlement(row)
    assert settled == FundingSettlement(
        "XMR/USDT:USDT", SHORT, -0.10232512, -0.000761, 1710950400000, "8d1ef156"
    )
    long = funding_settlement({**row, "info": {"side": "Buy"}})
    assert long is not None and (long.side, long.amount) == (LONG, 0.10232512)


def test_binance_income_keeps_its_sign_and_says_no_side():
    row = {
        "info": {"incomeType": "FUNDING_FEE", "income": "-0.0128"},
        "symbol": SYMBOL,
        "timestamp": 1721347200000,
        "id": "9689322392",
        "amount": -0.0128,
    }
    settled = funding_settlement(row)
    assert settled is not None
    assert (settled.side, settled.amount, settled.rate) == ("", -0.0128, None)
    assert funding_settlement({**row, "id": None}) is None


def test_a_known_rate_tells_the_side_where_the_exchange_does_not():
    row = {"info": {}, "symbol": SYMBOL, "timestamp": 1, "id": "x", "amount": 0.5, "rate": 0.001}
    settled = funding_settlement(row)
    assert settled is not None and settled.side == SHORT  # received a positive rate
    paid = funding_settlement({**row, "amount": -0.5})
    assert paid is not None and paid.side == LONG
