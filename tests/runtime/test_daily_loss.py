"""The daily realized-loss limit of an exchange account: tallied from recorded fills, it pauses
every entry of the account until the next UTC day, each blocked crossing logged with its reason."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tests.runtime.test_runner import EXCHANGE, SYMBOL, make_level, runner_for, symbol, ticks
from trading.engine import IGNORED_DAILY_LOSS, LONG, SHORT
from trading.models import AccountRisk, LevelEvent, Trade
from trading.runtime.bot import Bot, BotOptions
from trading.runtime.dailyloss import DailyLoss, Outcome

__all__ = ["symbol"]  # the fixture, imported for these tests
DAY = date(2026, 11, 25)
AT = datetime(2026, 11, 25, 12, tzinfo=UTC)


def fill(pk: int, side: str, action: str, size: float, price: float, fee: float = 0.0) -> Outcome:
    return Outcome(
        pk, "bybit", "BTC/USDT:USDT", side, action, "filled", size, price, fee, "tier", (), "", AT
    )


def test_the_day_is_realized_pnl_net_of_fees_from_the_average_entry():
    tally = DailyLoss()
    tally.add(
        [
            fill(1, LONG, "open", 1.0, 100.0, fee=0.1),
            fill(2, LONG, "add", 1.0, 90.0, fee=0.1),  # average entry 95
            fill(3, LONG, "close", 2.0, 93.0, fee=0.2),  # -4 realized
        ]
    )
    assert tally.net("bybit", DAY) == pytest.approx(-4.4)
    assert tally.net("bybit", DAY + timedelta(days=1)) == 0
    assert tally.hit("bybit", DAY, Decimal("4.4")) and not tally.hit("bybit", DAY, Decimal(5))
    assert not tally.hit("bybit", DAY, None)


def test_a_fill_is_counted_once_even_when_recorded_after_later_ones():
    tally = DailyLoss()
    tally.add([fill(1, SHORT, "open", 1.0, 100.0), fill(3, SHORT, "close", 1.0, 110.0)])
    tally.settle_floor(lowest_unsettled=2)  # order 2's answer is not recorded yet
    assert tally.floor == 1
    tally.add([fill(1, SHORT, "open", 1.0, 100.0), fill(3, SHORT, "close", 1.0, 110.0)])
    assert tally.net("bybit", DAY) == pytest.approx(-10.0)
    tally.add([fill(2, LONG, "open", 1.0, 100.0, fee=0.5)])  # settled late, counted now
    tally.settle_floor(lowest_unsettled=None)
    assert tally.floor == 3
    assert tally.net("bybit", DAY) == pytest.approx(-10.5)


def test_new_outcomes_come_back_with_the_pnl_of_closes_and_rejections_count_nothing():
    tally = DailyLoss()
    refused = Outcome(
        5, "bybit", "BTC/USDT:USDT", LONG, "add", "rejected", 1.0, 0.0, 0.0, "tier", (2,), "no", AT
    )
    new = tally.add([fill(4, LONG, "open", 2.0, 100.0), refused, fill(6, LONG, "close", 2.0, 103)])
    assert [(o.id, o.realized_pnl) for o in new] == [(4, 0.0), (5, 0.0), (6, 6.0)]
    assert tally.net("bybit", DAY) == pytest.approx(6.0)
    assert tally.add([fill(6, LONG, "close", 2.0, 103)]) == []  # told once


@pytest.mark.django_db(transaction=True)
def test_the_limit_pauses_every_entry_until_the_next_utc_day(symbol):
    make_level("200")
    AccountRisk.objects.create(exchange=EXCHANGE, daily_loss_limit=Decimal("1"))
    today = datetime.now(UTC).date()

    async def scenario():
        bot = Bot(BotOptions(feed="synthetic"))
        runner = runner_for()
        await runner.start()
        bot.runners[(EXCHANGE, SYMBOL)] = runner
        # LONG 0.5 at 196.5, then a fall to 193 and a close by hand: -1.75 realized.
        await runner.process(ticks(195, 196.5, 193))
        await runner.settled()
        await runner.close_side(LONG, "manual")
        await bot._check_daily_loss(today)
        halted = runner.engine.entries_halted
        await runner.process(ticks(195, 196.5, start=100_000))  # tier 1 crossed again
        await runner.settled()
        await runner.save_events()
        await bot._check_daily_loss(today + timedelta(days=1))
        return halted, runner.engine.entries_halted

    halted, next_day = asyncio.run(scenario())
    assert halted == IGNORED_DAILY_LOSS and next_day is None
    assert Trade.objects.filter(action="open").count() == 1  # nothing after the limit
    event = LevelEvent.objects.get(kind="ignored")
    assert event.reason == IGNORED_DAILY_LOSS
