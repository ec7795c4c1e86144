"""The bot's publisher: silent without Redis, and never in the way of trading with it."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from structlog.testing import capture_logs

from tests.live.conftest import redis_layers
from tests.postgres import free_port
from trading.exchange.paper import PaperExchange
from trading.models import BotSettings, Trade
from trading.runtime import publish
from trading.runtime.publish import (
    MAX_IN_FLIGHT,
    PRICE_EVERY_S,
    SEND_TIMEOUT_S,
    STATUS_GROUP,
    TRADES_GROUP,
    Publisher,
    price_group,
)
from trading.runtime.runner import SymbolRunner
from trading.services import level_create, symbol_tiers_set

EXCHANGE, SYMBOL = "bybit", "ETH/USDT:USDT"
# What "returns at once" means for a call on the tick path: far below one order's latency.
AT_ONCE_S = 0.005


class RecordingLayer:
    """A channel layer that keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any], list[str]]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        self.sent.append((group, message, []))


class TradesWatchingLayer(RecordingLayer):
    """Keeps with each message the trades' statuses as they were when it was sent."""

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        statuses = await sync_to_async(
            lambda: sorted(Trade.objects.values_list("status", flat=True))
        )()
        self.sent.append((group, message, statuses))


class HangingLayer:
    """A channel layer whose every send hangs, as on a Redis that stopped answering."""

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await asyncio.Event().wait()


class Feed:
    description = "test feed"
    can_stall = False
    reconnects = 0
    last_error = ""

    async def batches(self):  # pragma: no cover - the test calls process() itself
        yield []


def test_without_redis_the_publisher_does_nothing(no_live_push: None) -> None:
    publisher = Publisher.from_settings()

    async def scenario() -> int:
        before = len(asyncio.all_tasks())
        publisher.trades(EXCHANGE, SYMBOL, orders=1)
        publisher.price(EXCHANGE, SYMBOL, 2650.0)
        publisher.status([])
        return len(asyncio.all_tasks()) - before

    assert publisher.layer is None and not publisher.enabled
    assert asyncio.run(scenario()) == 0


def test_a_price_is_sent_at_most_every_price_interval_per_symbol() -> None:
    layer = RecordingLayer()
    publisher = Publisher(layer)

    async def scenario() -> None:
        for price in (2650.0, 2650.5, 2651.0):
            publisher.price(EXCHANGE, SYMBOL, price)
        publisher.price(EXCHANGE, "BTC/USDT:USDT", 62000.0)
        await asyncio.sleep(PRICE_EVERY_S + 0.05)
        publisher.price(EXCHANGE, SYMBOL, 2652.0)
        await publisher.close()

    asyncio.run(scenario())
    sent = [(group, message["price"]) for group, message, _ in layer.sent]
    assert sorted(sent) == [
        ("levelbot.prices.bybit.BTC-USDT-USDT", 62000.0),
        ("levelbot.prices.bybit.ETH-USDT-USDT", 2650.0),
        ("levelbot.prices.bybit.ETH-USDT-USDT", 2652.0),
    ]
    assert price_group(EXCHANGE, SYMBOL) == "levelbot.prices.bybit.ETH-USDT-USDT"


def test_a_redis_that_hangs_costs_the_caller_nothing_and_piles_up_nothing() -> None:
    publisher = Publisher(HangingLayer(), timeout_s=0.2)

    async def scenario() -> tuple[float, float]:
        started = time.perf_counter()
        for _ in range(MAX_IN_FLIGHT + 4):
            publisher.trades(EXCHANGE, SYMBOL, orders=1)
        calls_s = time.perf_counter() - started
        assert len(publisher._in_flight) == MAX_IN_FLIGHT
        started = time.perf_counter()
        await publisher.close()
        return calls_s, time.perf_counter() - started

    with capture_logs() as logs:
        calls_s, close_s = asyncio.run(scenario())
    assert calls_s < AT_ONCE_S * (MAX_IN_FLIGHT + 4)
    assert close_s < 0.2 + 0.1
    assert (publisher.sent, publisher.dropped, publisher.failed) == (0, 4, MAX_IN_FLIGHT)
    assert [log["event"] for log in logs] == ["live push failed"]


def test_nothing_listening_on_the_redis_port_neither_raises_nor_waits(settings) -> None:
    settings.CHANNEL_LAYERS = redis_layers(f"redis://127.0.0.1:{free_port()}/0")
    publisher = Publisher.from_settings()
    assert publisher.enabled

    async def scenario() -> tuple[float, float]:
        started = time.perf_counter()
        publisher.trades(EXCHANGE, SYMBOL, orders=1)
        publisher.status([])
        publisher.price(EXCHANGE, SYMBOL, 2650.0)
        call_s = time.perf_counter() - started
        await publisher.close()
        # Within the retry interval, sends are not even tried: they are dropped at once.
        publisher.trades(EXCHANGE, SYMBOL, orders=1)
        await publisher.close()
        return call_s, time.perf_counter() - started

    with capture_logs() as logs:
        call_s, total_s = asyncio.run(scenario())
    assert call_s < 3 * AT_ONCE_S
    assert total_s < SEND_TIMEOUT_S + 0.25
    assert (publisher.sent, publisher.failed, publisher.dropped) == (0, 3, 1)
    (failure,) = logs
    assert failure["event"] == "live push failed" and failure["log_level"] == "warning"
    assert "Trading goes on" in failure["detail"]


def test_a_failed_push_is_tried_again_later_and_its_recovery_logged(monkeypatch) -> None:
    monkeypatch.setattr(publish, "RETRY_AFTER_S", 0.05)

    class FlakyLayer(RecordingLayer):
        down = True

        async def group_send(self, group: str, message: dict[str, Any]) -> None:
            if self.down:
                raise ConnectionError("Connection refused")
            await super().group_send(group, message)

    layer = FlakyLayer()
    publisher = Publisher(layer)

    async def scenario() -> None:
        publisher.trades(EXCHANGE, SYMBOL, orders=1)
        await publisher.close()
        layer.down = False
        await asyncio.sleep(0.06)
        publisher.trades(EXCHANGE, SYMBOL, orders=2)
        await publisher.close()

    with capture_logs() as logs:
        asyncio.run(scenario())
    assert [log["event"] for log in logs] == ["live push failed", "live push restored"]
    assert [message["orders"] for _, message, _ in layer.sent] == [2]


@pytest.mark.django_db(transaction=True)
def test_the_runner_announces_trades_only_once_their_outcome_is_recorded() -> None:
    symbol_tiers_set(
        exchange=EXCHANGE,
        symbol=SYMBOL,
        tier1_pct=Decimal("0.02"),
        tier2_pct=Decimal("0.01"),
        tier3_pct=Decimal("0.005"),
    )
    bot_settings = BotSettings.load()
    bot_settings.sentiment_enabled = False
    bot_settings.save()
    level_create(
        exchange=EXCHANGE,
        symbol=SYMBOL,
        level_price=Decimal("200"),
        base_size=Decimal("0.5"),
        leverage=5,
        cool_down_ms=0,
    )
    layer = TradesWatchingLayer()
    publisher = Publisher(layer)

    async def scenario() -> None:
        runner = SymbolRunner(
            exchange_id=EXCHANGE,
            symbol=SYMBOL,
            exchange=PaperExchange(EXCHANGE),
            feed=Feed(),
            prefix="tst001",
            session_id=None,
            publisher=publisher,
        )
        await runner.start()
        await runner.process([(0, 205.0, 0.0), (1000, 203.5, 0.0), (2000, 201.5, 0.0)])
        await runner.settled()
        await publisher.close()

    asyncio.run(scenario())
    by_group = {group: (message, statuses) for group, message, statuses in layer.sent}
    assert set(by_group) == {TRADES_GROUP, price_group(EXCHANGE, SYMBOL)}
    message, statuses = by_group[TRADES_GROUP]
    assert message == {
        "type": "live.changed",
        "group": TRADES_GROUP,
        "exchange": EXCHANGE,
        "symbol": SYMBOL,
        "orders": 2,
    }
    assert statuses == ["filled", "filled"]  # no intent still waiting for its answer
    assert by_group[price_group(EXCHANGE, SYMBOL)][0]["price"] == 201.5
    assert STATUS_GROUP not in by_group  # the bot's housekeeping sends that, not the runner
