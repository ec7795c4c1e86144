"""Optional exits of a held side: stop-loss, take-profit and a close at the level.

Each level may carry them; they apply to the side it holds (its filled size on that side is
above 0) and, like every close, close the whole side of the symbol and reset it (rule 9):

- stop-loss `s`: LONG when `P <= E*(1-s)`, SHORT when `P >= E*(1+s)`;
- take-profit `t`: LONG when `P >= E*(1+t)`, SHORT when `P <= E*(1-t)`;
- level touch: LONG when `P >= L`, SHORT when `P <= L`: the price came back to the level;

where `E` is the side's average entry price. With several holding levels, the nearest
threshold of each kind applies (the smallest fraction; for touches, the level reached first).
Where one tick reaches several, the reason recorded is the first of stop-loss, take-profit,
level touch. Exits are checked on every tick, before entries (rule 10), ignore the cooldown
and do not set `last_trigger`, as the sentiment exit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from math import inf

from trading.engine.types import (
    LONG,
    REASON_LEVEL_TOUCH,
    REASON_STOP_LOSS,
    REASON_TAKE_PROFIT,
    LevelConfig,
)

# Where one tick reaches several thresholds, the reason recorded is the first of these.
_PRIORITY = {REASON_STOP_LOSS: 0, REASON_TAKE_PROFIT: 1, REASON_LEVEL_TOUCH: 2}


@dataclass(frozen=True, slots=True)
class SideExits:
    """A held side's thresholds: it closes when `P <= below` or `P >= above`."""

    below: float = -inf
    below_reason: str = ""
    above: float = inf
    above_reason: str = ""

    def reached(self, price: float) -> str | None:
        """The reason the side closes at `price`, or None."""
        low = price <= self.below
        high = price >= self.above
        if low and high:
            return min(self.below_reason, self.above_reason, key=_PRIORITY.__getitem__)
        if low:
            return self.below_reason
        if high:
            return self.above_reason
        return None


NO_EXITS = SideExits()


def side_exits(side: str, entry: float, holding: Iterable[LevelConfig]) -> SideExits:
    """The thresholds of `side`, held at average entry `entry` by the `holding` levels."""
    below: list[tuple[float, str]] = []
    above: list[tuple[float, str]] = []
    for config in holding:
        long = side == LONG
        if config.stop_loss_pct is not None:
            s = float(config.stop_loss_pct)
            (below if long else above).append(
                (entry * (1 - s) if long else entry * (1 + s), REASON_STOP_LOSS)
            )
        if config.take_profit_pct is not None:
            t = float(config.take_profit_pct)
            (above if long else below).append(
                (entry * (1 + t) if long else entry * (1 - t), REASON_TAKE_PROFIT)
            )
        if config.close_on_touch:
            (above if long else below).append((float(config.level_price), REASON_LEVEL_TOUCH))
    exits = NO_EXITS
    if below:
        # The highest threshold under the price is reached first; ties go to the priority.
        price, reason = max(below, key=lambda e: (e[0], -_PRIORITY[e[1]]))
        exits = SideExits(price, reason, exits.above, exits.above_reason)
    if above:
        price, reason = min(above, key=lambda e: (e[0], _PRIORITY[e[1]]))
        exits = SideExits(exits.below, exits.below_reason, price, reason)
    return exits
