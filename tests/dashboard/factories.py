"""Saved backtest runs and what the bot writes while it runs, for the dashboard's tests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from trading.models import BacktestRun, FeedStatus, LevelEvent, PaperPosition, Side


def summary(**overrides: Any) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "exchange": "binanceusdm",
        "symbol": "BTC/USDT:USDT",
        "ticks": 120_000,
        "skipped_rows": 0,
        "orders": 3,
        "volume": 378.39,
        "fees": 0.21,
        "realized_pnl": 12.3456,
        "unrealized_pnl": -1.5,
        "win_rate": 0.5,
        "round_trips": 2,
        "max_drawdown": 4.25,
        "max_exposure": {"LONG": 0.004, "SHORT": 0.002},
        "open_position": {"LONG": 0.0, "SHORT": 0.0},
        "ignored": {"cooldown": 2},
        "ticks_per_second": None,
        "first_ts": 1_721_347_200_000,
        "last_ts": 1_721_350_800_000,
    }
    return {**figures, **overrides}


def order(n: int) -> dict[str, Any]:
    return {
        "ts": 1_721_347_200_000 + n * 1000,
        "level": "1",
        "side": "SHORT",
        "action": "open" if n == 0 else "add",
        "tiers": [1],
        "size": 0.002,
        "price": 63064.5,
        "reason": "tier",
    }


class BacktestRunFactory(DjangoModelFactory[BacktestRun]):
    class Meta:
        model = BacktestRun

    exchange = "binanceusdm"
    symbol = "BTC/USDT:USDT"
    data_files = factory.LazyFunction(lambda: ["trades-2024-07-19.csv.gz"])
    scenario = factory.LazyFunction(
        lambda: {
            "exchange": "binanceusdm",
            "symbol": "BTC/USDT:USDT",
            "tiers": {"tier1_pct": "0.005", "tier2_pct": "0.003", "tier3_pct": "0.0015"},
            "sentiment": {"enabled": True, "window_s": 60.0, "threshold": 0.6},
            "levels": [
                {"id": "1", "level_price": "62750", "base_size": 0.002, "cool_down_ms": 5000}
            ],
        }
    )
    summary = factory.LazyFunction(summary)
    equity_curve = factory.LazyFunction(
        lambda: [[1_721_347_200_000, 0.0], [1_721_349_000_000, -4.25], [1_721_350_800_000, 10.8]]
    )
    orders = factory.LazyFunction(lambda: [order(n) for n in range(3)])


class PaperPositionFactory(DjangoModelFactory[PaperPosition]):
    class Meta:
        model = PaperPosition

    exchange = "binanceusdm"
    symbol = "BTC/USDT:USDT"
    side = Side.LONG
    size = Decimal("0.004")
    entry_price = Decimal("62000")
    realized_pnl = Decimal(0)
    fees = Decimal("0.1364")


class FeedStatusFactory(DjangoModelFactory[FeedStatus]):
    class Meta:
        model = FeedStatus

    exchange = "binanceusdm"
    symbol = "BTC/USDT:USDT"
    feed = "synthetic"
    state = FeedStatus.State.LIVE
    last_message_at = factory.LazyFunction(timezone.now)
    last_price = Decimal("63000")
    rest_latency_ms = 12.5


class LevelEventFactory(DjangoModelFactory[LevelEvent]):
    class Meta:
        model = LevelEvent

    level = factory.SubFactory("tests.factories.LevelFactory")
    level_key = factory.LazyAttribute(lambda e: str(e.level.pk) if e.level else "0")
    exchange = factory.LazyAttribute(lambda e: e.level.exchange if e.level else "binanceusdm")
    symbol = factory.LazyAttribute(lambda e: e.level.symbol if e.level else "BTC/USDT:USDT")
    kind = LevelEvent.Kind.FIRED
    side = Side.SHORT
    tiers = factory.LazyFunction(lambda: [1])
    price = 63064.5
    detail = "order of 0.002 at 63064.5"
    event_ts_ms = factory.Sequence(lambda n: 1_721_347_217_599 + n * 1000)
