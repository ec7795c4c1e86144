"""Reads of the database shaped for the engine: what the bot and the backtest trade."""

from __future__ import annotations

from trading.backtest.scenario import Scenario, ScenarioError
from trading.models import BotSettings, Level, SymbolTiers


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
