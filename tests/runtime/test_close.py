"""Closing a side on request (manual close, close everything): through the bot, intent first."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.runtime.test_runner import EXCHANGE, SYMBOL, make_level, runner_for, symbol, ticks
from trading.engine import LONG, SHORT
from trading.exchange.base import REJECTED, OrderRequest, OrderResult
from trading.exchange.paper import PaperExchange
from trading.models import BotSettings, CloseRequest, PaperPosition, TierState, Trade
from trading.runtime.bot import Bot, BotOptions
from trading.services import bot_close_everything, position_close_request

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["symbol"]  # the fixture, imported for these tests


def test_a_side_closes_through_an_intent_and_resets_its_tiers(symbol):
    level = make_level("200")

    async def scenario():
        runner = runner_for()
        await runner.start()
        await runner.process(ticks(195, 196.5, 198.5))  # LONG tiers 1 and 2: 1.0 held
        await runner.settled()
        assert runner.engine.position[LONG] == 1.0
        return await runner.close_side(LONG, "manual"), runner.engine.position[LONG]

    (status, detail), held = asyncio.run(scenario())
    assert status == "done" and detail == "Closed 1 at 198.5."
    assert held == 0
    close = Trade.objects.get(action="close")
    assert (close.side, close.reason, close.status, close.size) == (
        LONG,
        "manual",
        "filled",
        Decimal("1"),
    )
    assert close.level_id is None and close.client_order_id.endswith("M")
    state = TierState.objects.get(level=level, side=LONG)
    assert (state.fired_tiers, state.filled_size, state.cycle) == ([], Decimal("0"), 1)
    assert PaperPosition.objects.get(side=LONG).size == 0


class RefusingCloses(PaperExchange):
    """The paper exchange, refusing every close as an exchange may (110007 and the like)."""

    async def place_order(self, order: OrderRequest) -> OrderResult:
        if order.action == "close":
            return OrderResult(order.client_order_id, REJECTED, error="ab not enough")
        return await super().place_order(order)


def test_a_refused_close_leaves_the_side_and_its_tiers_as_they_were(symbol):
    level = make_level("200")

    async def scenario():
        runner = runner_for(RefusingCloses(EXCHANGE))
        await runner.start()
        await runner.process(ticks(195, 196.5, 198.5))  # LONG tiers 1 and 2: 1.0 held
        await runner.settled()
        status = await runner.close_side(LONG, "manual")
        return status, runner.engine.position[LONG]

    (status, detail), held = asyncio.run(scenario())
    assert status == "failed" and "ab not enough" in detail
    assert held == 1.0  # still counted: the exchange holds it
    state = TierState.objects.get(level=level, side=LONG)
    assert (state.fired_tiers, state.filled_size, state.cycle) == ([1, 2], Decimal("1"), 0)
    assert Trade.objects.get(action="close").status == "rejected"
    assert PaperPosition.objects.get(side=LONG).size == 1


def test_nothing_to_close_sends_nothing(symbol):
    make_level("200")

    async def scenario():
        runner = runner_for()
        await runner.start()
        await runner.process(ticks(195, 196.5))
        await runner.settled()
        return await runner.close_side(SHORT, "manual")

    status, detail = asyncio.run(scenario())
    assert status == "nothing" and "No SHORT position" in detail
    assert not Trade.objects.filter(action="close").exists()


def test_the_bot_carries_out_waiting_requests_and_records_the_outcome(symbol):
    make_level("200")
    position_close_request(exchange=EXCHANGE, symbol=SYMBOL, side=LONG, requested_by="ann")
    position_close_request(exchange=EXCHANGE, symbol=SYMBOL, side=SHORT, requested_by="ann")
    position_close_request(exchange="okx", symbol=SYMBOL, side=LONG)  # not this bot's

    async def scenario():
        bot = Bot(BotOptions(feed="synthetic"))
        runner = runner_for()
        await runner.start()
        await runner.process(ticks(195, 196.5))
        await runner.settled()
        bot.runners[(EXCHANGE, SYMBOL)] = runner
        await bot._close_on_request()

    asyncio.run(scenario())
    done = {r.side: r for r in CloseRequest.objects.filter(exchange=EXCHANGE)}
    assert done[LONG].status == "done" and done[LONG].done_at is not None
    assert done[SHORT].status == "nothing"
    assert CloseRequest.objects.get(exchange="okx").status == "pending"
    assert Trade.objects.filter(action="close", reason="manual").count() == 1


def test_a_waiting_request_is_not_doubled_and_close_everything_pauses_entries(symbol):
    make_level("200")
    first = position_close_request(exchange=EXCHANGE, symbol=SYMBOL, side=LONG)
    assert position_close_request(exchange=EXCHANGE, symbol=SYMBOL, side=LONG) == first
    requests = bot_close_everything(requested_by="ann")
    assert BotSettings.load().entries_paused is True
    assert sorted((r.symbol, r.side) for r in requests) == [(SYMBOL, LONG), (SYMBOL, SHORT)]
    assert CloseRequest.objects.filter(status="pending").count() == 2
    with pytest.raises(ValueError, match="LONG or SHORT"):
        position_close_request(exchange=EXCHANGE, symbol=SYMBOL, side="BOTH")
