"""Levels, tiers, and what the bot did with them.

Every rule on a row is stated twice with the same sentence: as a field validator or in `clean()`,
so that a form shows it beside the field, and as a database constraint, so that no writer (the
bot, a script, a shell) can store a row that breaks it.
"""

from trading.choices import MarginType, Side, TradeAction, TradeReason, TradeStatus
from trading.models.backtests import BacktestJob, BacktestRun
from trading.models.bot import BotSession, BotSettings
from trading.models.funding import FundingPayment
from trading.models.levels import AccountRisk, Level, SymbolRisk, SymbolTiers, TierState
from trading.models.markets import Market
from trading.models.notifications import NotificationMark
from trading.models.requests import CloseRequest
from trading.models.runtime import (
    FeedStatus,
    Installation,
    LevelEvent,
    PaperFill,
    PaperPosition,
)
from trading.models.trades import Trade

__all__ = [
    "AccountRisk",
    "BacktestJob",
    "BacktestRun",
    "BotSession",
    "BotSettings",
    "CloseRequest",
    "FeedStatus",
    "FundingPayment",
    "Installation",
    "Level",
    "LevelEvent",
    "MarginType",
    "Market",
    "NotificationMark",
    "PaperFill",
    "PaperPosition",
    "Side",
    "SymbolRisk",
    "SymbolTiers",
    "TierState",
    "Trade",
    "TradeAction",
    "TradeReason",
    "TradeStatus",
]
