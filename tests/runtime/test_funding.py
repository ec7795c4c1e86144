"""Funding settled on a live account, in the bot's books: where each read starts, and the
daily loss limit, which counts a day's funding as realized PnL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.factories import FundingPaymentFactory, TradeFactory
from tests.runtime.test_runner import EXCHANGE, SYMBOL, make_level, runner_for, symbol
from trading.engine import IGNORED_DAILY_LOSS, LONG, SHORT
from trading.exchange.base import FundingSettlement
from trading.models import AccountRisk, FundingPayment, Trade
from trading.runtime.bot import Bot, BotOptions
from trading.runtime.dailyloss import DailyLoss, FundingPaid
from trading.runtime.funding import LOOKBACK, funding_read_from, funding_record

__all__ = ["symbol"]  # the fixture, imported for these tests
DAY = date(2026, 11, 25)
AT = datetime(2026, 11, 25, 8, tzinfo=UTC)


def test_funding_paid_counts_toward_the_days_loss_and_received_offsets_it():
    tally = DailyLoss()
    tally.add_funding([FundingPaid(2, "bybit", -1.5, AT), FundingPaid(1, "bybit", 0.25, AT)])
    tally.add_funding([FundingPaid(3, "bybit", -4.0, AT + timedelta(days=1))])
    assert tally.net("bybit", DAY) == pytest.approx(-1.25)
    assert tally.net("bybit", DAY + timedelta(days=1)) == pytest.approx(-4.0)
    assert tally.hit("bybit", DAY, Decimal("1.25")) and not tally.hit("bybit", DAY, Decimal(2))
    tally.add_funding([FundingPaid(2, "bybit", -1.5, AT)])  # read again: counted once
    assert tally.net("bybit", DAY) == pytest.approx(-1.25) and tally.funding_floor == 3


@pytest.mark.django_db(transaction=True)
def test_a_days_funding_paid_pauses_entries_with_no_trade_closed(symbol):
    make_level("200")
    AccountRisk.objects.create(exchange=EXCHANGE, daily_loss_limit=Decimal("1"))
    now = timezone.now()
    today = now.astimezone(UTC).date()
    FundingPaymentFactory(exchange=EXCHANGE, symbol=SYMBOL, amount=Decimal("-0.6"), paid_at=now)
    FundingPaymentFactory(
        exchange=EXCHANGE, symbol=SYMBOL, amount=Decimal("-5"), paid_at=now - timedelta(days=1)
    )

    async def scenario():
        bot = Bot(BotOptions(feed="synthetic"))
        runner = runner_for()
        await runner.start()
        bot.runners[(EXCHANGE, SYMBOL)] = runner
        await bot._check_daily_loss(today)
        under = runner.engine.entries_halted  # -0.6 today: under the limit of 1
        await asyncio.to_thread(
            lambda: FundingPaymentFactory(
                exchange=EXCHANGE, symbol=SYMBOL, amount=Decimal("-0.5"), paid_at=now
            )
        )
        await bot._check_daily_loss(today)
        return under, runner.engine.entries_halted

    under, over = asyncio.run(scenario())
    assert under is None and over == IGNORED_DAILY_LOSS


@pytest.mark.django_db
def test_a_read_starts_at_the_last_settlement_recorded_else_the_first_order():
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    ms = lambda moment: int(moment.timestamp() * 1000)  # noqa: E731
    assert funding_read_from(EXCHANGE, SYMBOL, now=now) == ms(now)  # never traded: from now
    first = TradeFactory(exchange=EXCHANGE, symbol=SYMBOL)
    Trade.objects.filter(pk=first.pk).update(created_at=now - timedelta(days=2))
    assert funding_read_from(EXCHANGE, SYMBOL, now=now) == ms(now - timedelta(days=2))
    Trade.objects.filter(pk=first.pk).update(created_at=now - timedelta(days=30))
    assert funding_read_from(EXCHANGE, SYMBOL, now=now) == ms(now - LOOKBACK)
    FundingPaymentFactory(exchange=EXCHANGE, symbol=SYMBOL, paid_at=now - timedelta(hours=8))
    FundingPaymentFactory(exchange=EXCHANGE, symbol=SYMBOL, paid_at=now - timedelta(hours=16))
    FundingPaymentFactory(exchange="okx", symbol=SYMBOL, paid_at=now - timedelta(hours=1))
    assert funding_read_from(EXCHANGE, SYMBOL, now=now) == ms(now - timedelta(hours=8))


@pytest.mark.django_db
def test_settlements_are_recorded_once_with_their_side_amount_and_rate():
    ts = 1_764_057_600_000
    settlements = [
        FundingSettlement(SYMBOL, LONG, -0.0128, 0.0001, ts, "a"),
        FundingSettlement(SYMBOL, SHORT, 1.23456789012345e-05, 0.0001, ts, "b"),
        FundingSettlement(SYMBOL, "", -0.5, None, ts, "c"),
    ]
    assert funding_record(EXCHANGE, settlements) == 3
    assert funding_record(EXCHANGE, [*settlements, settlements[0]]) == 0
    assert funding_record("okx", settlements[:1]) == 1  # another account's own ids
    rows = {row.settlement_id: row for row in FundingPayment.objects.filter(exchange=EXCHANGE)}
    assert rows["a"].amount == Decimal("-0.0128") and rows["a"].side == LONG
    assert rows["b"].amount == Decimal("0.000012345679")  # to the stored 12 places
    assert rows["c"].rate is None and rows["c"].side == ""
    assert rows["a"].paid_at == datetime.fromtimestamp(ts / 1000, tz=UTC)
