"""The periodic jobs, called as plain functions on a test database: each tells exactly what it
should, once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone

from levelbot.celery import app
from tests.factories import (
    BotSessionFactory,
    BotSettingsFactory,
    FundingPaymentFactory,
    LevelFactory,
    TierStateFactory,
    TradeFactory,
)
from trading import reports, tasks
from trading.exchange.base import OrderRequest
from trading.exchange.paper import PaperExchange
from trading.models import Level, NotificationMark, PaperFill, PaperPosition, Trade
from trading.notify import Kind, Notification

pytestmark = pytest.mark.django_db

D = Decimal
BTC = "BTC/USDT:USDT"


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list[Notification]:
    """What the jobs hand to notify(), instead of sending it."""
    sent: list[Notification] = []

    def record(notification: Notification) -> bool:
        sent.append(notification)
        return True

    monkeypatch.setattr(tasks, "notify", record)
    monkeypatch.setattr(tasks, "flush", lambda timeout: True)
    return sent


# -- dead man ----------------------------------------------------------------------------


def test_a_silent_bot_is_reported_once_per_session(told: list[Notification]) -> None:
    BotSettingsFactory(heartbeat_timeout_s=10)
    now = timezone.now()
    first = BotSessionFactory(
        started_at=now - timedelta(minutes=2), heartbeat_at=now - timedelta(seconds=31)
    )
    assert tasks.dead_man_check() == 1
    assert tasks.dead_man_check() == 0
    [down] = told
    assert down.kind is Kind.BOT_DOWN
    assert down.fields["session_id"] == str(first.pk)
    assert "No heartbeat from the bot on trader-box (pid 4242) for 31 s" in down.text

    second = BotSessionFactory(  # restarted, and silent in its turn
        started_at=now - timedelta(minutes=1), heartbeat_at=now - timedelta(seconds=40)
    )
    assert tasks.dead_man_check() == 1
    assert told[-1].fields["session_id"] == str(second.pk)
    assert tasks.dead_man_check() == 0


def test_a_bot_within_three_heartbeat_timeouts_is_not_down(told: list[Notification]) -> None:
    BotSettingsFactory(heartbeat_timeout_s=10)
    BotSessionFactory(heartbeat_at=timezone.now() - timedelta(seconds=29))
    assert tasks.dead_man_check() == 0
    assert told == []


def test_a_stopped_bot_is_not_down(told: list[Notification]) -> None:
    long_ago = timezone.now() - timedelta(hours=1)
    BotSessionFactory(started_at=long_ago, heartbeat_at=long_ago, stopped_at=long_ago)
    assert tasks.dead_man_check() == 0


def test_only_the_latest_session_counts(told: list[Notification]) -> None:
    long_ago = timezone.now() - timedelta(hours=1)
    BotSessionFactory(started_at=long_ago, heartbeat_at=long_ago)  # crashed, then restarted
    BotSessionFactory()
    assert tasks.dead_man_check() == 0


def test_a_bot_that_never_beat_is_timed_from_its_start(told: list[Notification]) -> None:
    BotSessionFactory(started_at=timezone.now() - timedelta(minutes=2), heartbeat_at=None)
    assert tasks.dead_man_check() == 1
    assert "for 2 min" in told[0].text


# -- reconcile ---------------------------------------------------------------------------

cids = count(1)


def paper_fill(exchange: str, side: str, action: str, size: str, price: str) -> Trade:
    """An order through the real paper exchange, recorded as the bot records it."""
    cid = f"test{next(cids):06d}"
    result = PaperExchange(exchange, fee_rate=0.00055).place_order_sync(
        OrderRequest(exchange, BTC, side, action, float(size), float(price), cid)
    )
    level = None if action == "close" else LevelFactory(exchange=exchange)
    return TradeFactory(
        level=level,
        exchange=exchange,
        side=side,
        action=action,
        tiers=[] if action == "close" else [1],
        size=D(size),
        price=D(repr(result.price)),
        fee=D(repr(result.fee)),
        client_order_id=cid,
    )


def holding(size: str, *levels: str) -> list[Level]:
    """A paper LONG of `size` on bybit BTC, and levels whose tier state holds `levels`."""
    paper_fill("bybit", "LONG", "open", size, "61000")
    made = []
    for filled in levels:
        state = TierStateFactory(
            level=LevelFactory(exchange="bybit"),
            side="LONG",
            fired_tiers=[1],
            filled_size=D(filled),
        )
        made.append(state.level)
    return made


def test_paper_positions_that_match_the_tier_state_say_nothing(told: list[Notification]) -> None:
    holding("0.006", "0.002", "0.004")
    assert tasks.reconcile_positions() == 0
    assert [(c.side, c.account_size, c.levels_size) for c in reports.paper_side_checks()] == [
        ("LONG", D("0.006"), D("0.006")),
        ("SHORT", D(0), D(0)),
    ]


def test_a_drift_is_told_once_again_when_it_changes_and_after_it_heals(
    told: list[Notification],
) -> None:
    [level] = holding("0.006", "0.002")
    assert tasks.reconcile_positions() == 1
    [drift] = told
    assert drift.kind is Kind.POSITION_DRIFT
    assert drift.fields == {
        "exchange": "bybit",
        "symbol": BTC,
        "side": "LONG",
        "account_size": 0.006,
        "levels_size": 0.002,
        "difference": 0.004,
    }
    assert tasks.reconcile_positions() == 0  # the same drift: already told

    PaperPosition.objects.filter(side="LONG").update(size=D("0.008"))
    assert tasks.reconcile_positions() == 1
    assert told[-1].fields["account_size"] == 0.008

    level.tier_states.update(filled_size=D("0.008"))
    assert tasks.reconcile_positions() == 0
    assert not NotificationMark.objects.filter(key__startswith="position_drift:").exists()

    level.tier_states.update(filled_size=D("0.002"))
    assert tasks.reconcile_positions() == 1
    assert len(told) == 3


def test_a_level_deleted_while_holding_is_a_drift(told: list[Notification]) -> None:
    [_, deleted] = holding("0.006", "0.002", "0.004")
    deleted.delete()
    assert tasks.reconcile_positions() == 1
    assert "0.004 is held that no level accounts for" in told[0].text


def test_differences_within_the_tolerance_are_no_drift(told: list[Notification]) -> None:
    holding("0.006", "0.002", "0.004000000001")
    assert tasks.reconcile_positions() == 0


def test_a_symbol_with_an_order_in_flight_is_not_checked(told: list[Notification]) -> None:
    holding("0.006", "0.002")
    TradeFactory(exchange="bybit", side="LONG", status="intent", price=None)
    assert tasks.reconcile_positions() == 0


def test_a_symbol_traded_live_since_is_left_to_the_bot(told: list[Notification]) -> None:
    holding("0.006", "0.002")
    TradeFactory(exchange="bybit", side="LONG", client_order_id="live0001")  # no paper fill
    assert tasks.reconcile_positions() == 0


# -- daily summary -----------------------------------------------------------------------

YESTERDAY = date(2024, 7, 18)


def at(trade: Trade, when: datetime) -> None:
    Trade.objects.filter(pk=trade.pk).update(created_at=when)
    PaperFill.objects.filter(client_order_id=trade.client_order_id).update(created_at=when)


def day_at(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@pytest.fixture
def a_day_of_trading() -> list[Trade]:
    """bybit: opened the day before, added to and closed yesterday, one order refused, and an
    entry today; binanceusdm: one entry yesterday. Returns yesterday's bybit fills."""
    opened = paper_fill("bybit", "LONG", "open", "0.002", "60000")
    at(opened, day_at(YESTERDAY - timedelta(days=1), 22))
    added = paper_fill("bybit", "LONG", "add", "0.002", "62000")
    closed = paper_fill("bybit", "LONG", "close", "0.004", "61500")
    for trade in (added, closed):
        at(trade, day_at(YESTERDAY, 9))
    refused = TradeFactory(exchange="bybit", status="rejected", price=None, error="no margin")
    at(refused, day_at(YESTERDAY, 10))
    today = paper_fill("bybit", "SHORT", "open", "0.002", "61000")
    at(today, day_at(YESTERDAY + timedelta(days=1), 0))
    other = paper_fill("binanceusdm", "SHORT", "open", "0.001", "61000")
    at(other, day_at(YESTERDAY, 23))
    return [added, closed]


def test_day_totals_count_fills_rejections_fees_and_paper_pnl(
    a_day_of_trading: list[Trade],
) -> None:
    binance, bybit = reports.day_totals(YESTERDAY)
    ids = [t.client_order_id for t in a_day_of_trading]
    paper_pnl = sum(f.realized_pnl for f in PaperFill.objects.filter(client_order_id__in=ids))
    assert paper_pnl == D("2")  # 0.004 closed at 61,500 against an average entry of 61,000
    assert (bybit.exchange, bybit.fills, bybit.rejected) == ("bybit", 2, 1)
    assert bybit.realized_pnl == paper_pnl
    assert bybit.fees == sum(Trade.objects.get(pk=t.pk).fee for t in a_day_of_trading)
    assert (binance.exchange, binance.fills, binance.rejected) == ("binanceusdm", 1, 0)
    assert binance.realized_pnl == 0


def test_the_days_funding_counts_in_its_realized_pnl(
    told: list[Notification], a_day_of_trading: list[Trade]
) -> None:
    FundingPaymentFactory(amount=D("-0.75"), paid_at=day_at(YESTERDAY, 8))
    FundingPaymentFactory(amount=D("0.25"), side="SHORT", paid_at=day_at(YESTERDAY, 16))
    FundingPaymentFactory(amount=D("-9"), paid_at=day_at(YESTERDAY + timedelta(days=1), 0))
    FundingPaymentFactory(exchange="okx", amount=D("-1"), paid_at=day_at(YESTERDAY, 8))
    binance, bybit, okx = reports.day_totals(YESTERDAY)
    assert (bybit.funding, bybit.realized_pnl) == (D("-0.5"), D("1.5"))  # 2 from the fills
    assert binance.funding == 0
    assert (okx.exchange, okx.fills, okx.funding, okx.realized_pnl) == ("okx", 0, -1, -1)
    assert tasks.daily_summary("2024-07-18") == 1
    assert "realized PnL +1.50 USDT (funding -0.50 USDT), fees" in told[0].text


def test_the_daily_summary_is_told_once_a_day(
    told: list[Notification], a_day_of_trading: list[Trade]
) -> None:
    assert tasks.daily_summary("2024-07-18") == 1
    assert tasks.daily_summary("2024-07-18") == 0
    [summary] = told
    assert summary.kind is Kind.DAILY_SUMMARY
    assert summary.title == "Daily summary 2024-07-18 (UTC)"
    lines = summary.text.splitlines()
    assert lines[1] == (
        "binanceusdm: 1 fill, 0 rejected, realized PnL 0.00 USDT, fees 0.0336 USDT, "
        "net -0.0336 USDT"
    )
    assert lines[2].startswith("bybit: 2 fills, 1 rejected, realized PnL +2.00 USDT, fees 0.")


def test_a_quiet_day_is_summarized_too(told: list[Notification]) -> None:
    assert tasks.daily_summary() == 1
    [summary] = told
    assert summary.fields["day"] == reports.previous_utc_day().isoformat()
    assert summary.text.endswith("No orders.")


# -- schedule ----------------------------------------------------------------------------


def test_beat_runs_each_job_on_its_schedule() -> None:
    schedule = app.conf.beat_schedule
    assert {entry["task"] for entry in schedule.values()} <= set(app.tasks)
    assert schedule["dead-man-check"]["schedule"] == 30
    assert schedule["reconcile-positions"]["schedule"] == 300
    daily = schedule["daily-summary"]["schedule"]
    assert (daily.hour, daily.minute) == ({0}, {5})
    assert app.conf.task_always_eager is False
