"""One symbol's runner in process: reload, staleness, refusals and recovery, step by step."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from trading.engine import LONG, SHORT, RiskLimits
from trading.exchange.base import REJECTED, OrderRequest, OrderResult, PositionInfo
from trading.exchange.paper import PaperExchange
from trading.models import BotSettings, FeedStatus, Level, LevelEvent, TierState, Trade
from trading.runtime.journal import parse
from trading.runtime.runner import SymbolRunner
from trading.services import (
    level_create,
    level_delete,
    level_reset_tier_state,
    level_set_active,
    symbol_risk_set,
    symbol_tiers_set,
)

pytestmark = pytest.mark.django_db(transaction=True)

EXCHANGE, SYMBOL = "bybit", "ETH/USDT:USDT"


class StalledFeed:
    """A live-like feed the test drives by hand through `runner.process`."""

    description = "test feed"
    can_stall = True
    reconnects = 0
    last_error = ""

    async def batches(self):  # pragma: no cover - never iterated: the test calls process()
        yield []


class RefusingExchange(PaperExchange):
    """The paper exchange, except that it refuses every entry, as an exchange may."""

    async def place_order(self, order: OrderRequest) -> OrderResult:
        if order.action != "close":
            return OrderResult(order.client_order_id, REJECTED, error="Insufficient margin.")
        return await super().place_order(order)


def make_level(price: str, **kw) -> Level:
    return level_create(
        exchange=EXCHANGE,
        symbol=SYMBOL,
        level_price=Decimal(price),
        base_size=Decimal("0.5"),
        leverage=5,
        cool_down_ms=kw.pop("cool_down_ms", 0),
        **kw,
    )


@pytest.fixture
def symbol():
    symbol_tiers_set(
        exchange=EXCHANGE,
        symbol=SYMBOL,
        tier1_pct=Decimal("0.02"),
        tier2_pct=Decimal("0.01"),
        tier3_pct=Decimal("0.005"),
    )
    settings = BotSettings.load()
    settings.sentiment_enabled = False
    settings.heartbeat_timeout_s = 1
    settings.save()


def runner_for(exchange=None) -> SymbolRunner:
    return SymbolRunner(
        exchange_id=EXCHANGE,
        symbol=SYMBOL,
        exchange=exchange or PaperExchange(EXCHANGE),
        feed=StalledFeed(),
        prefix="tst001",
        session_id=None,
    )


def ticks(*prices: float, start: int = 0, step: int = 1000) -> list[tuple[int, float, float]]:
    return [(start + i * step, p, 0.0) for i, p in enumerate(prices)]


def test_orders_are_recorded_filled_with_tier_state_persisted(symbol):
    level = make_level("200")

    async def scenario():
        runner = runner_for()
        await runner.start()
        await runner.process(ticks(205, 203.5, 201.5))
        await runner.settled()

    asyncio.run(scenario())
    orders = list(Trade.objects.order_by("id").values_list("action", "tiers", "size", "status"))
    assert orders == [
        ("open", [1], Decimal("0.5"), "filled"),
        ("add", [2], Decimal("0.5"), "filled"),
    ]
    state = TierState.objects.get(level=level, side=SHORT)
    assert (state.fired_tiers, state.filled_size) == ([1, 2], Decimal("1"))
    assert Level.objects.get(pk=level.pk).last_trigger_ms == 2000
    assert LevelEvent.objects.filter(kind="fired").count() == 2


def test_reload_picks_up_added_paused_and_deleted_levels(symbol):
    kept, paused, deleted = make_level("200"), make_level("300"), make_level("400")

    async def scenario():
        runner = runner_for()
        await runner.start()
        added = await asyncio.to_thread(lambda: make_level("500"))
        await asyncio.to_thread(lambda: level_set_active(level=paused, is_active=False))
        await asyncio.to_thread(lambda: level_delete(level=deleted))
        await runner.reload()
        assert runner.engine.level_ids == [kept.pk, paused.pk, added.pk]
        await runner.process(ticks(310, 302.5, start=10_000))  # the paused level's tiers 1, 2
        await runner.settled()
        assert not await asyncio.to_thread(LevelEvent.objects.exists)  # kept off the tick path
        await runner.save_events()

    asyncio.run(scenario())
    event = LevelEvent.objects.get()
    assert (event.level_id, event.kind, event.reason) == (paused.pk, "ignored", "paused")
    assert event.tiers == [1, 2]
    assert not Trade.objects.exists()


def test_reload_takes_over_a_reset_from_the_admin(symbol):
    level = make_level("200")

    async def scenario():
        runner = runner_for()
        await runner.start()
        await runner.process(ticks(205, 203.5))
        await runner.settled()
        await asyncio.to_thread(lambda: level_reset_tier_state(level=level))
        await runner.reload()
        await runner.process(ticks(205, 203.5, start=10_000))
        await runner.settled()

    asyncio.run(scenario())
    ids = list(Trade.objects.order_by("id").values_list("client_order_id", flat=True))
    assert ids == [f"tst001E{level.pk}S10", f"tst001E{level.pk}S11"]  # cycle 0, then cycle 1


def test_a_stale_feed_pauses_entries_until_fresh_ticks(symbol):
    make_level("200")

    async def scenario():
        runner = runner_for()
        await runner.start()
        await runner.process(ticks(205))
        await runner.settled()
        runner.last_message = time.monotonic() - 2  # silent for longer than the 1 s timeout
        await runner.check_stale()
        assert runner.stale
        assert await asyncio.to_thread(lambda: FeedStatus.objects.get().state) == "stale"
        await runner.process(ticks(203.5, start=5000))  # would cross tier 1 from 205: no prev
        await runner.settled()
        assert not runner.stale
        await runner.process(ticks(205, 203.5, start=6000))  # seen whole: it fires
        await runner.settled()

    asyncio.run(scenario())
    assert list(Trade.objects.values_list("event_ts_ms", flat=True)) == [7000]


def test_a_refused_entry_is_recorded_and_not_counted_as_filled(symbol):
    level = make_level("200")

    async def scenario():
        runner = runner_for(RefusingExchange(EXCHANGE))
        await runner.start()
        await runner.process(ticks(205, 203.5))
        await runner.settled()
        assert runner.engine.position[SHORT] == 0.0
        assert "Insufficient margin" in runner.last_error

    asyncio.run(scenario())
    trade = Trade.objects.get()
    assert (trade.status, trade.error) == ("rejected", "Insufficient margin.")
    state = TierState.objects.get(level=level, side=SHORT)
    assert (state.fired_tiers, state.filled_size) == ([1], Decimal("0"))  # fired, not retried


def unsent_intent(level: Level) -> Trade:
    """The intent of a LONG tier 1 entry that a stopped bot wrote but never sent."""
    return Trade.objects.create(
        exchange=EXCHANGE,
        symbol=SYMBOL,
        level=level,
        level_key=str(level.pk),
        side=LONG,
        action="open",
        tiers=[1],
        size=Decimal("0.5"),
        tick_price=Decimal("196.5"),
        reason="tier",
        client_order_id=f"tst001E{level.pk}L10",
        event_ts_ms=1,
    )


def test_restart_settles_an_unsent_intent_once(symbol):
    level = make_level("200")
    unsent_intent(level)
    exchange = PaperExchange(EXCHANGE)

    async def scenario():
        first = runner_for(exchange)
        await first.start()
        first.close_journal()  # as the bot does at its stop
        await runner_for(exchange).start()  # a second restart finds it filled, sends nothing

    asyncio.run(scenario())
    trade = Trade.objects.get()
    assert (trade.status, trade.price) == ("filled", Decimal("196.5"))
    positions = exchange.positions_sync(SYMBOL)
    assert positions == {LONG: PositionInfo(LONG, 0.5, 196.5)}


def test_restart_refuses_a_stale_unsent_intent_and_corrects_the_level(symbol):
    level = make_level("200")
    TierState.objects.filter(level=level, side=LONG).update(
        fired_tiers=[1], filled_size=Decimal("0.5")
    )
    trade = unsent_intent(level)
    Trade.objects.filter(pk=trade.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    exchange = PaperExchange(EXCHANGE)

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        assert runner.engine.position[LONG] == 0.0

    asyncio.run(scenario())
    trade.refresh_from_db()
    assert (trade.status, trade.error) == ("rejected", "Not sent before the bot stopped.")
    state = TierState.objects.get(level=level, side=LONG)
    assert (state.fired_tiers, state.filled_size) == ([1], Decimal("0"))  # no chase, no ghost
    assert exchange.positions_sync(SYMBOL) == {}


def test_kill_switch_and_risk_limits_reach_the_running_bot_on_reload(symbol):
    level = make_level("200")

    async def scenario():
        runner = runner_for()
        await runner.start()
        settings = await asyncio.to_thread(BotSettings.load)
        settings.entries_paused = True
        await asyncio.to_thread(settings.save)
        await runner.reload()
        await runner.process(ticks(205, 203.5))
        await runner.settled()
        await runner.save_events()
        settings.entries_paused = False
        await asyncio.to_thread(settings.save)
        await asyncio.to_thread(
            lambda: symbol_risk_set(
                exchange=EXCHANGE, symbol=SYMBOL, risk=RiskLimits(max_position=0.5)
            )
        )
        await runner.reload()
        await runner.process(ticks(205, 203.5, 201.5, start=10_000))
        await runner.settled()
        await runner.save_events()

    asyncio.run(scenario())
    reasons = list(LevelEvent.objects.order_by("id").values_list("reason", flat=True))
    assert reasons == ["kill_switch", "", "max_position"]  # paused; tier 1 fires; tier 2 capped
    assert list(Trade.objects.values_list("size", flat=True)) == [Decimal("0.5")]
    assert TierState.objects.get(level=level, side=SHORT).fired_tiers == [1]


class RestartViewExchange(PaperExchange):
    """The paper exchange, which first looks at what a restart would find when an order
    reaches it: what is committed in the database (through a connection of its own), with
    the journal's entries that the database does not hold yet."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.seen: list[tuple[OrderRequest, dict[str, object]]] = []
        self.journal: Path | None = None

    async def place_order(self, order: OrderRequest) -> OrderResult:
        assert self.journal is not None
        found = await asyncio.to_thread(restart_view, order.client_order_id, self.journal)
        self.seen.append((order, found))
        return await super().place_order(order)


def restart_view(client_order_id: str, journal: Path) -> dict[str, object]:
    """The intent's status, every tier state and every level's last trigger, as a restart
    would have them: committed, then the journal's entries not committed, in their order."""
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT client_order_id, status FROM trading_trade")
            statuses = dict(cursor.fetchall())
            cursor.execute("SELECT level_id, side, fired_tiers, cycle FROM trading_tierstate")
            states = {(pk, side): (json.loads(fired), cycle) for pk, side, fired, cycle in cursor}
            cursor.execute("SELECT id, last_trigger_ms FROM trading_level")
            triggers = dict(cursor.fetchall())
    finally:
        other.close()
    for entry in parse(journal.read_bytes(), journal, EXCHANGE, SYMBOL):
        if entry.orders[0][1] in statuses:
            continue  # committed already
        for pk, state in entry.states.items():
            triggers[pk] = state.last_trigger_ms
            for side in (LONG, SHORT):
                states[pk, side] = (list(state.side(side).fired), state.side(side).cycle)
        statuses.update((cid, "intent") for _, cid in entry.orders)
    return {"status": statuses.get(client_order_id), "states": states, "triggers": triggers}


def test_no_order_reaches_the_exchange_before_a_restart_would_find_its_intent_and_state(symbol):
    low, high = make_level("200"), make_level("210")
    BotSettings.objects.update(sentiment_enabled=True, sentiment_window_s=60)
    exchange = RestartViewExchange(EXCHANGE)

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        exchange.journal = runner.journal.path
        await runner.process([(0, 215.0, 0.0), (1000, 213.5, -1.0)])  # high's SHORT tier 1
        await runner.settled()
        await runner.process([(2000, 203.5, -1.0)])  # low's SHORT tier 1
        await runner.settled()
        await runner.process([(3000, 203.6, 10.0)])  # buyers lead: the SHORT side closes
        await runner.settled()

    asyncio.run(scenario())
    assert [(o.action, o.side) for o, _ in exchange.seen] == [
        ("open", SHORT),
        ("open", SHORT),
        ("close", SHORT),
    ]
    assert [seen["status"] for _, seen in exchange.seen] == ["intent"] * 3
    (_, at_high), (_, at_low), (_, at_close) = exchange.seen
    assert (at_high["states"][high.pk, SHORT], at_high["triggers"][high.pk]) == (([1], 0), 1000)
    assert (at_low["states"][low.pk, SHORT], at_low["triggers"][low.pk]) == (([1], 0), 2000)
    # A close resets every level of its side: all of it is on record before the close goes out.
    assert at_close["states"][high.pk, SHORT] == at_close["states"][low.pk, SHORT] == ([], 1)
    assert set(Trade.objects.values_list("status", flat=True)) == {"filled"}


class SlowPositionsExchange(PaperExchange):
    """The paper exchange whose position read is answered late, from before an order."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.reading = asyncio.Event()
        self.answer = asyncio.Event()
        self.stale: dict | None = None

    async def positions(self, symbol: str):
        if self.stale is None:
            return await super().positions(symbol)
        self.reading.set()
        await self.answer.wait()
        return self.stale  # what the exchange held when the read began: nothing


def test_a_position_read_overtaken_by_an_order_resets_nothing(symbol):
    level = make_level("200")
    exchange = SlowPositionsExchange(EXCHANGE)

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        await runner.process(ticks(195))
        await runner.settled()
        exchange.stale = {}  # flat, as before the entry below
        resync = asyncio.create_task(runner.resync_positions())
        await exchange.reading.wait()
        await runner.process(ticks(196.5, start=1000))  # an entry while the read is out
        await runner.settled()
        exchange.answer.set()
        await resync
        return runner.engine.position[LONG]

    held = asyncio.run(scenario())
    assert held == 0.5  # not taken for a side closed outside the bot
    state = TierState.objects.get(level=level, side=LONG)
    assert (state.fired_tiers, state.cycle) == ([1], 0)
