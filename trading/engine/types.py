"""The engine's vocabulary: configuration in, events out.

Plain frozen dataclasses so that the engine stays free of any framework; the Django models
convert to and from them at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final, NamedTuple, TypeAlias

LONG: Final = "LONG"
SHORT: Final = "SHORT"
SIDES: Final = (LONG, SHORT)

# Sizes are summed in floats; sums are rounded to this many places so that 0.01 + 0.008 is
# 0.018, not 0.018000000000000002. Far below any exchange's amount precision.
SIZE_DECIMALS: Final = 12

# The price of a trade that is no tick (live, where quotes set the price): it moves the
# sentiment window only. No real price is 0, so it cannot be mistaken for one.
TRADE_ONLY: Final = 0.0

# Reasons an order is placed (the Trade model's `reason`).
REASON_TIER: Final = "tier"
REASON_SENTIMENT_EXIT: Final = "sentiment_exit"
REASON_STOP_LOSS: Final = "stop_loss"
REASON_TAKE_PROFIT: Final = "take_profit"
REASON_LEVEL_TOUCH: Final = "level_touch"

# Reasons a crossed tier did not fire (rules 4, 6 and 8, and a paused level).
IGNORED_PAUSED: Final = "paused"
IGNORED_COOLDOWN: Final = "cooldown"
IGNORED_SENTIMENT: Final = "sentiment"
IGNORED_ALREADY_FIRED: Final = "already_fired"
# Risk limits: an entry they block is an ignored crossing like the others.
IGNORED_KILL_SWITCH: Final = "kill_switch"
IGNORED_MAX_POSITION: Final = "max_position"
IGNORED_MAX_NOTIONAL: Final = "max_notional"
IGNORED_MAX_LEVELS: Final = "max_levels"
IGNORED_DAILY_LOSS: Final = "daily_loss"
IGNORED_MARGIN: Final = "margin"
IGNORED_LIQUIDATION: Final = "liquidation"

LevelId: TypeAlias = str | int
Number: TypeAlias = float | int | Decimal | str


class Tick(NamedTuple):
    """One price observation in event time.

    `qty` is the taker amount of the trade behind the tick in base units, signed by the taker
    side: positive for a taker buy, negative for a taker sell, 0 when the tick carries no trade
    (a quote). Plain `(ts, price, qty)` tuples are accepted wherever a Tick is.
    """

    ts: int
    price: float
    qty: float = 0.0

    @classmethod
    def trade(cls, ts: int, price: float, side: str | None = None, amount: float = 0.0) -> Tick:
        """A tick from a trade with its taker side ('buy' or 'sell')."""
        if side == "buy":
            return cls(ts, price, amount)
        if side == "sell":
            return cls(ts, price, -amount)
        return cls(ts, price, 0.0)


def to_decimal(value: Number) -> Decimal:
    """A decimal as a person wrote it: floats go through their shortest repr (0.1 -> 0.1)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


@dataclass(frozen=True, slots=True)
class Tiers:
    """A symbol's three tier distances as fractions of the level price (0.005 is 0.5%)."""

    tier1_pct: Decimal
    tier2_pct: Decimal
    tier3_pct: Decimal

    def __init__(self, tier1_pct: Number, tier2_pct: Number, tier3_pct: Number) -> None:
        t1, t2, t3 = to_decimal(tier1_pct), to_decimal(tier2_pct), to_decimal(tier3_pct)
        if not t1 < 1:
            raise ValueError("tier 1 must be below 1 (1 is 100%).")
        if not t1 > t2:
            raise ValueError("tier 1 must be farther from the level than tier 2.")
        if not t2 > t3:
            raise ValueError("tier 2 must be farther from the level than tier 3.")
        if not t3 > 0:
            raise ValueError("tier 3 must be above 0.")
        object.__setattr__(self, "tier1_pct", t1)
        object.__setattr__(self, "tier2_pct", t2)
        object.__setattr__(self, "tier3_pct", t3)

    def pcts(self) -> tuple[Decimal, Decimal, Decimal]:
        return (self.tier1_pct, self.tier2_pct, self.tier3_pct)


@dataclass(frozen=True, slots=True)
class LevelConfig:
    """What the engine needs of a level: its anchor, size, cooldown and whether it may enter."""

    level_id: LevelId
    level_price: Decimal
    base_size: float
    cool_down_ms: int
    is_active: bool = True
    # Optional exits of the side this level holds, as fractions of the side's average entry
    # (0.01 is 1%), and a close when the price comes back to the level.
    take_profit_pct: Decimal | None = None
    stop_loss_pct: Decimal | None = None
    close_on_touch: bool = False
    leverage: int | None = None  # for the margin and liquidation checks; None: not checked

    def __init__(
        self,
        level_id: LevelId,
        level_price: Number,
        base_size: Number,
        cool_down_ms: int,
        is_active: bool = True,
        *,
        take_profit_pct: Number | None = None,
        stop_loss_pct: Number | None = None,
        close_on_touch: bool = False,
        leverage: int | None = None,
    ) -> None:
        price = to_decimal(level_price)
        size = float(base_size)
        if not price > 0:
            raise ValueError(f"level {level_id}: level_price must be above 0.")
        if not size > 0:
            raise ValueError(f"level {level_id}: base_size must be above 0.")
        if cool_down_ms < 0:
            raise ValueError(f"level {level_id}: cool_down_ms cannot be negative.")
        exits = {}
        for name, value in (("take_profit_pct", take_profit_pct), ("stop_loss_pct", stop_loss_pct)):
            pct = None if value is None else to_decimal(value)
            if pct is not None and not 0 < pct < 1:
                raise ValueError(f"level {level_id}: {name} must be above 0 and below 1.")
            exits[name] = pct
        object.__setattr__(self, "level_id", level_id)
        object.__setattr__(self, "level_price", price)
        object.__setattr__(self, "base_size", size)
        object.__setattr__(self, "cool_down_ms", int(cool_down_ms))
        object.__setattr__(self, "is_active", bool(is_active))
        object.__setattr__(self, "take_profit_pct", exits["take_profit_pct"])
        object.__setattr__(self, "stop_loss_pct", exits["stop_loss_pct"])
        object.__setattr__(self, "close_on_touch", bool(close_on_touch))
        if leverage is not None and not int(leverage) >= 1:
            raise ValueError(f"level {level_id}: leverage must be at least 1.")
        object.__setattr__(self, "leverage", None if leverage is None else int(leverage))

    @property
    def has_exits(self) -> bool:
        return bool(self.take_profit_pct or self.stop_loss_pct or self.close_on_touch)

    def boundary(self, side: str, pct: Decimal) -> float:
        """Rule 2: `L*(1+t)` for SHORT, `L*(1-t)` for LONG, computed exactly, then as a float.

        Exact decimal arithmetic means a tick printed at the boundary's decimal value compares
        equal to it, so "a tick exactly on a boundary crosses it" holds as written.
        """
        factor = 1 + pct if side == SHORT else 1 - pct
        return float(self.level_price * factor)


@dataclass(frozen=True, slots=True)
class SentimentConfig:
    """Rule 8: the trade-flow window and threshold; `enabled=False` turns off filter and exit."""

    enabled: bool = True
    window_s: float = 60.0
    threshold: float = 0.6

    def __post_init__(self) -> None:
        if not self.window_s > 0:
            raise ValueError("the sentiment window must be longer than 0 seconds.")
        if not 0 <= self.threshold < 1:
            raise ValueError("the sentiment threshold must be at least 0 and below 1.")


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Per (exchange, symbol): the most a side may hold, in base units and in notional at the
    entry's price, the most levels holding a position at once, and how near the level a side's
    liquidation price may come (a fraction of the level price: 0.05 is 5%). None: no limit.

    The liquidation price is estimated for isolated margin at the level's leverage:
    `E*(1 - 1/lev + mm)` for a LONG, `E*(1 + 1/lev - mm)` for a SHORT, where `E` is the side's
    average entry after the order and `mm` the maintenance margin rate."""

    max_position: float | None = None
    max_notional: float | None = None
    max_levels: int | None = None
    min_liquidation_distance: float | None = None
    maintenance_margin: float = 0.005

    def __post_init__(self) -> None:
        for name in ("max_position", "max_notional", "max_levels", "min_liquidation_distance"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be above 0, or empty for no limit.")
        if not 0 <= self.maintenance_margin < 1:
            raise ValueError("maintenance_margin must be at least 0 and below 1.")

    def liquidation_price(self, side: str, entry: float, leverage: int) -> float:
        step = 1 / leverage - self.maintenance_margin
        return entry * (1 - step) if side == LONG else entry * (1 + step)


@dataclass(frozen=True, slots=True)
class SideState:
    """Tier state of one (level, side): fired tiers, filled size and how many resets so far."""

    fired: tuple[int, ...] = ()
    filled: float = 0.0
    cycle: int = 0


@dataclass(frozen=True, slots=True)
class LevelState:
    """Everything the engine keeps for a level, to persist and restore across restarts."""

    last_trigger_ms: int | None = None
    long: SideState = SideState()
    short: SideState = SideState()

    def side(self, side: str) -> SideState:
        return self.long if side == LONG else self.short


@dataclass(frozen=True, slots=True)
class TierFire:
    """Tiers of a level-side fired on a tick; `size` is the order they need (0: target held)."""

    ts: int
    level_id: LevelId
    side: str
    tiers: tuple[int, ...]
    price: float
    size: float


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """A market order the rules call for.

    Entries name their level and the tiers they fill; a close (`action="close"`) is for the
    whole side of the symbol as the account holds it, with no level and no tiers. `cycle` is
    the level-side's reset count for entries and the symbol-side's for closes: with the other
    fields it makes a deterministic client order id.
    """

    ts: int
    level_id: LevelId | None
    side: str
    action: str
    tiers: tuple[int, ...]
    size: float
    price: float
    reason: str
    cycle: int
    # A close's record of what it reset (rule 9), to put back if the exchange refuses it; not
    # part of the order.
    undo: SideReset | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class SideReset:
    """A side as a close found it: its average entry and each level's tier state that the
    close reset."""

    entry: float
    levels: tuple[tuple[LevelId, SideState], ...]


@dataclass(frozen=True, slots=True)
class IgnoredCrossing:
    """Tiers crossed on a tick that did not fire, and why."""

    ts: int
    level_id: LevelId
    side: str
    tiers: tuple[int, ...]
    price: float
    reason: str
    cooldown_left_ms: int | None = None
    sentiment: float | None = None

    def describe(self) -> str:
        """The reason as a sentence for the level's timeline."""
        tiers = ", ".join(str(t) for t in self.tiers)
        what = f"{self.side} tier{'s' if len(self.tiers) > 1 else ''} {tiers}"
        if self.reason == IGNORED_COOLDOWN:
            return f"{what} crossed during the cooldown ({self.cooldown_left_ms} ms left)."
        if self.reason == IGNORED_SENTIMENT:
            return f"{what} crossed against the trade flow (sentiment {self.sentiment:+.2f})."
        return f"{what} {_REASONS.get(self.reason, f'crossed but ignored ({self.reason}).')}"


_REASONS: Final = {
    IGNORED_ALREADY_FIRED: "crossed again but already fired in this cycle.",
    IGNORED_PAUSED: "crossed while the level is paused.",
    IGNORED_KILL_SWITCH: "crossed while entries are paused for every level (kill switch).",
    IGNORED_MAX_POSITION: "crossed, but the order would take the side past its maximum position.",
    IGNORED_MAX_NOTIONAL: "crossed, but the order would take the side past its maximum notional.",
    IGNORED_MAX_LEVELS: "crossed, but as many levels as allowed already hold positions.",
    IGNORED_DAILY_LOSS: "crossed after the account's daily loss limit was reached: no entry "
    "until the next UTC day.",
    IGNORED_MARGIN: "crossed, but the account's free margin does not cover the order.",
    IGNORED_LIQUIDATION: "crossed, but the side's liquidation price would come too near the level.",
}


Event: TypeAlias = TierFire | OrderIntent | IgnoredCrossing
