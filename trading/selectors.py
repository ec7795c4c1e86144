"""Reads of the database shaped for the engine: what the bot and the backtest trade."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch

from trading.backtest.scenario import Scenario, ScenarioError
from trading.models import BacktestRun, BotSettings, Level, SymbolTiers, TierState, Trade


def scenario_from_db(*, exchange: str, symbol: str) -> Scenario:
    """The active levels (by id) and tiers of one (exchange, symbol), with the bot's settings.

    Raises ScenarioError with a sentence saying what is missing.
    """
    tiers = SymbolTiers.objects.filter(exchange=exchange, symbol=symbol).first()
    if tiers is None:
        raise ScenarioError(
            f"{exchange} {symbol} has no tiers yet: set them in the admin or on the levels page."
        )
    levels = Level.objects.filter(exchange=exchange, symbol=symbol, is_active=True).order_by("id")
    configs = tuple(level.to_engine() for level in levels)
    if not configs:
        raise ScenarioError(f"{exchange} {symbol} has no active levels to replay.")
    return Scenario(exchange, symbol, tiers.to_engine(), BotSettings.load().sentiment(), configs)


# Reads for the dashboard's pages.


@dataclass(frozen=True)
class SymbolOverview:
    """One (exchange, symbol) with its levels (highest price first) and its tiers, if set."""

    exchange: str
    symbol: str
    levels: list[Level]
    tiers: SymbolTiers | None

    @property
    def active_count(self) -> int:
        return sum(level.is_active for level in self.levels)


def symbol_overview_list(*, exchange: str | None = None) -> list[SymbolOverview]:
    """Every (exchange, symbol) with levels or tiers, ordered by exchange then symbol.

    A symbol with tiers but no levels yet is listed too, as is one with levels but no tiers.
    """
    levels = Level.objects.order_by("exchange", "symbol", "-level_price", "id")
    tiers = SymbolTiers.objects.all()
    if exchange is not None:
        levels = levels.filter(exchange=exchange)
        tiers = tiers.filter(exchange=exchange)
    by_symbol: dict[tuple[str, str], list[Level]] = {}
    for level in levels:
        by_symbol.setdefault((level.exchange, level.symbol), []).append(level)
    tiers_by_symbol = {(t.exchange, t.symbol): t for t in tiers}
    keys = sorted(by_symbol.keys() | tiers_by_symbol.keys())
    return [
        SymbolOverview(key[0], key[1], by_symbol.get(key, []), tiers_by_symbol.get(key))
        for key in keys
    ]


def symbol_tiers_get(*, exchange: str, symbol: str) -> SymbolTiers | None:
    return SymbolTiers.objects.filter(exchange=exchange, symbol=symbol).first()


def level_list_for_symbol(*, exchange: str, symbol: str) -> list[Level]:
    """The levels of one (exchange, symbol), highest price first, with their tier state."""
    return list(
        Level.objects.filter(exchange=exchange, symbol=symbol)
        .prefetch_related(Prefetch("tier_states", TierState.objects.order_by("side")))
        .order_by("-level_price", "id")
    )


def level_get_for_symbol(*, exchange: str, symbol: str, level_id: int) -> Level | None:
    """The level with this id, only if it belongs to this (exchange, symbol)."""
    return Level.objects.filter(pk=level_id, exchange=exchange, symbol=symbol).first()


def trade_list(*, symbol: str | None = None, limit: int = 200) -> list[Trade]:
    """The latest trades, newest first, of one symbol or of all."""
    trades = Trade.objects.order_by("-created_at", "-id")
    if symbol:
        trades = trades.filter(symbol=symbol)
    return list(trades[:limit])


def trade_symbol_list() -> list[str]:
    """The symbols that have trades, for a filter."""
    return list(Trade.objects.order_by("symbol").values_list("symbol", flat=True).distinct())


def backtest_run_list(*, limit: int = 100) -> list[BacktestRun]:
    """The latest saved backtests without their orders and curve, which only a detail needs."""
    return list(BacktestRun.objects.defer("orders", "equity_curve", "scenario")[:limit])


def backtest_run_get(*, run_id: int) -> BacktestRun | None:
    return BacktestRun.objects.filter(pk=run_id).first()
