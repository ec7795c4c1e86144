"""Bybit's batch order: a batch's orders go out in one request, and each comes back in its
place, whether filled, refused, a duplicate, or answered too late.

Through ccxt's real bybit class against the Bybit simulator in a thread (`bybit_sim`, flat at
64,000). Every wait is bounded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from structlog.testing import capture_logs

from tests.exchange.test_stop_orders import SIZE, SYMBOL, call, connected
from trading.engine import LONG, SHORT
from trading.exchange.base import FILLED, REJECTED, OrderRequest, OrderResult
from trading.exchange.live import CcxtExchange
from trading.exchange.sending import OrderOutcomeUnknown
from trading.exchange.simulator import SimulatorThread

BATCH = "/v5/order/create-batch"
SINGLE = "/v5/order/create"


def request(cid: str, side: str = LONG, action: str = "open", size: float = SIZE) -> OrderRequest:
    return OrderRequest("bybit", SYMBOL, side, action, size, 64_000.0, cid)


def run(
    sim: SimulatorThread,
    scenario: Callable[[CcxtExchange], Awaitable[Any]],
    *,
    timeout_ms: int = 5000,
) -> Any:
    async def main() -> Any:
        async with connected(sim, timeout_ms) as exchange:
            return await scenario(exchange)

    return asyncio.run(asyncio.wait_for(main(), 30))


async def place(exchange: CcxtExchange, orders: list[OrderRequest]) -> list[Any]:
    """Each order's outcome, in the orders' order, whatever order they came in."""
    answers = dict([answer async for answer in exchange.place_orders(orders)])
    assert sorted(answers) == list(range(len(orders)))
    return [answers[i] for i in range(len(orders))]


def sent_requests(sim: SimulatorThread) -> dict[str, int]:
    requests = sim.requests
    return {path: requests.get(path, 0) for path in (BATCH, SINGLE)}


def link_ids(sim: SimulatorThread) -> list[str]:
    return [order["orderLinkId"] for order in sim.orders()]


def test_a_batch_goes_out_in_one_request_and_each_order_is_answered_in_its_place(
    bybit_sim: SimulatorThread,
) -> None:
    orders = [request("tstbatch1"), request("tstbatch2", SHORT), request("tstbatch3", size=0.004)]

    async def scenario(exchange: CcxtExchange) -> list[OrderResult | Exception]:
        return await place(exchange, orders)

    outcomes = run(bybit_sim, scenario)
    assert all(isinstance(o, OrderResult) and o.status == FILLED for o in outcomes), outcomes
    assert [o.client_order_id for o in outcomes] == ["tstbatch1", "tstbatch2", "tstbatch3"]
    assert [o.filled_size for o in outcomes] == pytest.approx([0.002, 0.002, 0.004])
    # a long is bought at the ask, a short sold at the bid
    assert [o.price for o in outcomes] == pytest.approx([64_003.2, 63_996.8, 64_003.2])
    ids = [o.exchange_order_id for o in outcomes]
    assert all(ids) and len(set(ids)) == 3
    assert sent_requests(bybit_sim) == {BATCH: 1, SINGLE: 0}
    assert link_ids(bybit_sim) == ["tstbatch1", "tstbatch2", "tstbatch3"]
    positions = bybit_sim.positions()
    assert positions[LONG]["size"] == pytest.approx(0.006)
    assert positions[SHORT]["size"] == pytest.approx(0.002)


def test_refused_and_duplicate_orders_in_a_batch_leave_the_others_be(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(exchange: CcxtExchange) -> tuple[OrderResult, list[Any]]:
        earlier = await exchange.place_order(request("tstdupe"))
        await call(bybit_sim.insufficient_balance_next, 1)
        outcomes = await place(
            exchange,
            [
                request("tstpoor"),  # refused for the balance, by the exchange
                request("tstdupe"),  # already there: found, never placed twice
                request("tsttiny", size=0.0001),  # below the minimum: never sent
                request("tstfine"),
            ],
        )
        return earlier, outcomes

    earlier, outcomes = run(bybit_sim, scenario)
    poor, dupe, tiny, fine = outcomes
    assert poor.status == REJECTED and "InsufficientFunds" in poor.error
    assert dupe.status == FILLED and dupe.exchange_order_id == earlier.exchange_order_id
    assert tiny.status == REJECTED and "minimum" in tiny.error
    assert fine.status == FILLED and fine.client_order_id == "tstfine"
    assert link_ids(bybit_sim) == ["tstdupe", "tstfine"]
    assert sent_requests(bybit_sim) == {BATCH: 1, SINGLE: 1}


def test_a_rate_limited_batch_is_sent_again_whole(bybit_sim: SimulatorThread) -> None:
    async def scenario(exchange: CcxtExchange) -> list[Any]:
        await call(bybit_sim.rate_limit_next, 1)
        return await place(exchange, [request("tstrate1"), request("tstrate2")])

    with capture_logs() as logs:
        outcomes = run(bybit_sim, scenario)
    assert [o.status for o in outcomes] == [FILLED, FILLED]
    assert sent_requests(bybit_sim) == {BATCH: 2, SINGLE: 0}
    assert link_ids(bybit_sim) == ["tstrate1", "tstrate2"]
    limited = [e["client_order_id"] for e in logs if e["event"] == "rate limited"]
    assert limited == ["tstrate1", "tstrate2"]  # each order's own line, as for one order


def test_a_batch_answered_too_late_is_found_order_by_order_and_never_sent_again(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(exchange: CcxtExchange) -> list[Any]:
        await call(bybit_sim.delay_next_orders, 1, 1.0)
        return await place(exchange, [request("tstlate1"), request("tstlate2", SHORT)])

    outcomes = run(bybit_sim, scenario, timeout_ms=400)
    assert [o.status for o in outcomes] == [FILLED, FILLED]
    assert [o.client_order_id for o in outcomes] == ["tstlate1", "tstlate2"]
    assert sent_requests(bybit_sim) == {BATCH: 1, SINGLE: 0}
    assert link_ids(bybit_sim) == ["tstlate1", "tstlate2"]


def test_an_order_of_a_batch_turned_away_for_the_rate_goes_again_alone(
    bybit_sim: SimulatorThread,
) -> None:
    async def scenario(exchange: CcxtExchange) -> list[Any]:
        await call(bybit_sim.rate_limit_next_orders, 1)
        orders = [request("tstturn1"), request("tstturn2"), request("tstturn3")]
        return [answer async for answer in exchange.place_orders(orders)]

    answers = run(bybit_sim, scenario)
    outcomes = dict(answers)
    assert [outcomes[i].status for i in range(3)] == [FILLED] * 3
    assert [outcomes[i].client_order_id for i in range(3)] == ["tstturn1", "tstturn2", "tstturn3"]
    assert sent_requests(bybit_sim) == {BATCH: 1, SINGLE: 1}
    assert link_ids(bybit_sim) == ["tstturn2", "tstturn3", "tstturn1"]


@pytest.mark.parametrize("orders", [1, 2])
def test_an_order_placed_yet_answered_with_a_timeout_is_found_not_refused(
    bybit_sim: SimulatorThread, orders: int
) -> None:
    """Bybit's gateway may answer "Server Timeout" (retCode 5004) for an order its matching
    engine placed: the order is looked up, alone or in a batch, and never sent again."""

    async def scenario(exchange: CcxtExchange) -> list[Any]:
        await call(bybit_sim.time_out_next_orders, 1)
        return await place(exchange, [request(f"tsttime{i}") for i in range(orders)])

    outcomes = run(bybit_sim, scenario)
    assert [o.status for o in outcomes] == [FILLED] * orders
    assert outcomes[0].exchange_order_id == bybit_sim.orders()[0]["orderId"]
    assert link_ids(bybit_sim) == [f"tsttime{i}" for i in range(orders)]


def test_more_orders_than_a_request_takes_go_in_several(bybit_sim: SimulatorThread) -> None:
    orders = [request(f"tstmany{i:02d}", size=0.001) for i in range(23)]

    async def scenario(exchange: CcxtExchange) -> list[Any]:
        exchange.bucket.burst = exchange.bucket.rate = 100  # not what this test is about
        return await place(exchange, orders)

    outcomes = run(bybit_sim, scenario)
    assert [o.client_order_id for o in outcomes] == [o.client_order_id for o in orders]
    assert {o.status for o in outcomes} == {FILLED}
    assert sent_requests(bybit_sim) == {BATCH: 3, SINGLE: 0}  # 10 orders a request
    assert link_ids(bybit_sim) == [o.client_order_id for o in orders]


def test_an_order_alone_goes_by_the_single_order_request(bybit_sim: SimulatorThread) -> None:
    async def scenario(exchange: CcxtExchange) -> list[Any]:
        return await place(exchange, [request("tstalone")])

    (outcome,) = run(bybit_sim, scenario)
    assert outcome.status == FILLED
    assert sent_requests(bybit_sim) == {BATCH: 0, SINGLE: 1}


def test_an_order_never_found_after_a_lost_answer_is_an_unknown_outcome_in_its_place(
    bybit_sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch's answer is lost and one of its orders cannot be found: that order's place
    holds OrderOutcomeUnknown (recovery settles it), the other its fill."""
    import trading.exchange.sending as sending

    monkeypatch.setattr(sending, "FILL_POLLS", (0.01, 0.01))

    async def scenario(exchange: CcxtExchange) -> list[Any]:
        await call(bybit_sim.delay_next_orders, 1, 1.0)
        looked_up = exchange._lookup

        async def forgetful(cid: str, symbol: str) -> dict[str, Any] | None:
            return None if cid == "tstlost2" else await looked_up(cid, symbol)

        exchange._lookup = forgetful  # type: ignore[method-assign]
        return await place(exchange, [request("tstlost1"), request("tstlost2")])

    found, lost = run(bybit_sim, scenario, timeout_ms=400)
    assert isinstance(found, OrderResult) and found.status == FILLED
    assert isinstance(lost, OrderOutcomeUnknown)


@pytest.mark.parametrize(
    ("orders", "words"),
    [([], "a list of orders"), (["x"] * 11, "at most 10 orders")],
)
def test_the_simulator_refuses_an_empty_or_oversized_batch_whole(
    bybit_sim: SimulatorThread, orders: list[Any], words: str
) -> None:
    async def scenario(exchange: CcxtExchange) -> str:
        batch = {"category": "linear", "request": orders}
        try:
            await exchange.client.privatePostV5OrderCreateBatch(batch)
        except Exception as e:
            return str(e)
        return "accepted"

    assert words in run(bybit_sim, scenario)
    assert link_ids(bybit_sim) == []


def test_a_classic_account_sends_one_request_an_order(bybit_sim: SimulatorThread) -> None:
    """Bybit takes batches of linear orders from unified accounts only."""

    async def scenario(exchange: CcxtExchange) -> list[Any]:
        exchange.client.options.update(enableUnifiedAccount=False, enableUnifiedMargin=False)
        return await place(exchange, [request("tstclassic1"), request("tstclassic2")])

    outcomes = run(bybit_sim, scenario)
    assert [o.status for o in outcomes] == [FILLED, FILLED]
    assert sent_requests(bybit_sim) == {BATCH: 0, SINGLE: 2}
