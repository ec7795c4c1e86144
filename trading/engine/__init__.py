"""The trading rules of DESIGN section 3 in plain Python: no Django, no ccxt, no asyncio.

The live bot and the backtest drive the same `SymbolEngine`, one per (exchange, symbol).
"""

from trading.engine.sentiment import SentimentWindow
from trading.engine.symbol import SymbolEngine
from trading.engine.types import (
    IGNORED_ALREADY_FIRED,
    IGNORED_COOLDOWN,
    IGNORED_PAUSED,
    IGNORED_SENTIMENT,
    LONG,
    REASON_SENTIMENT_EXIT,
    REASON_TIER,
    SHORT,
    SIDES,
    SIZE_DECIMALS,
    Event,
    IgnoredCrossing,
    LevelConfig,
    LevelId,
    LevelState,
    OrderIntent,
    SentimentConfig,
    SideState,
    Tick,
    TierFire,
    Tiers,
)

__all__ = [
    "IGNORED_ALREADY_FIRED",
    "IGNORED_COOLDOWN",
    "IGNORED_PAUSED",
    "IGNORED_SENTIMENT",
    "LONG",
    "REASON_SENTIMENT_EXIT",
    "REASON_TIER",
    "SHORT",
    "SIDES",
    "SIZE_DECIMALS",
    "Event",
    "IgnoredCrossing",
    "LevelConfig",
    "LevelId",
    "LevelState",
    "OrderIntent",
    "SentimentConfig",
    "SentimentWindow",
    "SideState",
    "SymbolEngine",
    "Tick",
    "TierFire",
    "Tiers",
]
