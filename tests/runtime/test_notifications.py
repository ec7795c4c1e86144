"""What the bot tells a trader: its start and stop, each settled order, a stale feed, limits.

The bot calls `notify()`, which never waits; the end-to-end test runs runbot as a process with
the webhook pointed at a local HTTP stub and reads what arrived.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tests.notify.conftest import Stub, stub
from tests.runtime.conftest import ROOT, BotDatabase
from tests.runtime.test_runbot_process import replay_args, scenario
from tests.runtime.test_runner import EXCHANGE, SYMBOL, make_level, runner_for, symbol, ticks
from trading.engine import LONG
from trading.models import AccountRisk
from trading.notify import Kind
from trading.runtime import bot as bot_module
from trading.runtime import runner as runner_module
from trading.runtime.bot import Bot, BotOptions, outcome_notification
from trading.runtime.dailyloss import Outcome
from trading.services import bot_entries_pause

__all__ = ["stub", "symbol"]  # fixtures
AT = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every notification the bot, its runners and the services hand to notify()."""
    sent: list = []
    for module in (bot_module, runner_module):
        monkeypatch.setattr(module, "notify", sent.append)
    monkeypatch.setattr("trading.services.notify", sent.append)
    return sent


def outcome(**kw) -> Outcome:
    fields = {
        "id": 1,
        "exchange": "bybit",
        "symbol": "BTC/USDT:USDT",
        "side": LONG,
        "action": "open",
        "status": "filled",
        "size": 0.004,
        "price": 61250.5,
        "fee": 0.13,
        "reason": "tier",
        "tiers": (1,),
        "error": "",
        "at": AT,
    }
    return Outcome(**{**fields, **kw})


def test_each_settled_order_reads_as_a_trader_expects():
    filled = outcome_notification(outcome())
    assert filled.kind == Kind.ORDER_FILLED and "0.004 at 61,250.5" in filled.text
    closed = outcome_notification(
        outcome(action="close", reason="stop_loss", tiers=(), realized_pnl=-3.21)
    )
    assert closed.kind == Kind.POSITION_CLOSED and "PnL -3.21 USDT" in closed.text
    refused = outcome_notification(outcome(status="rejected", error="110007 ab not enough"))
    assert refused.kind == Kind.ORDER_REJECTED and "110007 ab not enough" in refused.text


@pytest.mark.django_db(transaction=True)
def test_new_fills_are_told_and_the_history_at_start_is_not(symbol, told):
    make_level("200")

    async def scenario_():
        bot = Bot(BotOptions(feed="synthetic"))
        runner = runner_for()
        await runner.start()
        bot.runners[(EXCHANGE, SYMBOL)] = runner
        await runner.process(ticks(195, 196.5))  # an open before the bot looks: history
        await runner.settled()
        await bot._check_daily_loss()
        history = list(told)
        await runner.process(ticks(197, 198.5, start=10_000))  # tier 2: an add
        await runner.settled()
        await runner.close_side(LONG, "manual")
        await bot._check_daily_loss()
        return history

    history = asyncio.run(scenario_())
    assert history == []
    assert [n.kind for n in told] == [Kind.ORDER_FILLED, Kind.POSITION_CLOSED]
    assert "manual" in told[1].text or "by hand" in told[1].text


@pytest.mark.django_db(transaction=True)
def test_a_stale_feed_and_its_recovery_are_told(symbol, told):
    make_level("200")

    async def scenario_():
        runner = runner_for()
        await runner.start()
        await runner.process(ticks(195))
        await runner.settled()
        await asyncio.sleep(1.1)  # the heartbeat timeout is 1 s
        await runner.check_stale()
        await runner.process(ticks(196, start=5_000))
        await runner.settled()

    asyncio.run(scenario_())
    assert [n.kind for n in told] == [Kind.FEED_STALE, Kind.FEED_RECOVERED]


@pytest.mark.django_db(transaction=True)
def test_the_daily_loss_limit_is_told_once_per_account(symbol, told):
    make_level("200")
    AccountRisk.objects.create(exchange=EXCHANGE, daily_loss_limit=Decimal("1"))

    async def scenario_():
        bot = Bot(BotOptions(feed="synthetic"))
        runner = runner_for()
        await runner.start()
        bot.runners[(EXCHANGE, SYMBOL)] = runner
        await bot._check_daily_loss()
        await runner.process(ticks(195, 196.5, 193))
        await runner.settled()
        await runner.close_side(LONG, "manual")
        await bot._check_daily_loss()
        await bot._check_daily_loss()

    asyncio.run(scenario_())
    limits = [n for n in told if n.kind == Kind.LIMIT_HIT]
    assert len(limits) == 1 and "daily loss limit" in limits[0].text


@pytest.mark.django_db
def test_the_kill_switch_is_told_when_it_changes(told, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        bot_entries_pause(paused=True)
        bot_entries_pause(paused=True)
        bot_entries_pause(paused=False)
    assert [n.fields["on"] for n in told] == [True, False]


def test_runbot_tells_its_start_its_fills_and_its_stop_to_the_webhook(
    bot_db: BotDatabase, stub: Stub
):
    bot_db.setup(scenario("ethusdt_2024-08-08"))
    env = {**bot_db.env, "LEVELBOT_WEBHOOK_URL": stub.url + "/hook"}
    done = subprocess.run(
        [sys.executable, "manage.py", "runbot", *replay_args("ethusdt_2024-08-08", 0)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    kinds = [r.json()["kind"] for r in stub.received]
    assert kinds[0] == "bot_started" and kinds[-1] == "bot_stopped"
    fills = bot_db.rows("SELECT COUNT(*) AS n FROM trading_trade WHERE status = 'filled'")[0]["n"]
    told_fills = kinds.count("order_filled") + kinds.count("position_closed")
    assert fills > 0 and told_fills == fills
