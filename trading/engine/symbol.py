"""The tier engine of one (exchange, symbol): DESIGN section 3, rules 1 to 11.

Feed it ticks in event-time order; it returns the events each tick implies: tier fires, the
orders they need, closes on a sentiment exit, and every crossing it ignored with the reason.
One engine serves live trading and backtests alike.

Speed: every tier boundary of every level sits in one sorted list. The engine keeps the nearest
boundary at or below the previous price and the nearest at or above it; a tick strictly between
the two crosses nothing and costs two comparisons, whatever the number of levels. Any other tick
finds what it crossed by bisection, so O(log n + crossed).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from math import inf

from trading.engine.exits import NO_EXITS, side_exits
from trading.engine.sentiment import SentimentWindow
from trading.engine.types import (
    IGNORED_ALREADY_FIRED,
    IGNORED_COOLDOWN,
    IGNORED_LIQUIDATION,
    IGNORED_MARGIN,
    IGNORED_MAX_LEVELS,
    IGNORED_MAX_NOTIONAL,
    IGNORED_MAX_POSITION,
    IGNORED_PAUSED,
    IGNORED_SENTIMENT,
    LONG,
    REASON_SENTIMENT_EXIT,
    REASON_STOP_LOSS,
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
    RiskLimits,
    SentimentConfig,
    SideReset,
    SideState,
    TierFire,
    Tiers,
)

# Below this fraction of the base size, an order is rounding noise, not an order.
_SIZE_EPSILON = 1e-9
_TIER_BITS = {1: 1, 2: 2, 3: 4}


class _Side:
    """Mutable tier state of one (level, side): a bitmask of fired tiers (bit k-1 is tier k)."""

    __slots__ = ("cycle", "filled", "fired")

    def __init__(self, state: SideState) -> None:
        self.fired = sum(_TIER_BITS[t] for t in state.fired)
        self.filled = state.filled
        self.cycle = state.cycle

    def frozen(self) -> SideState:
        fired = tuple(t for t, bit in _TIER_BITS.items() if self.fired & bit)
        return SideState(fired=fired, filled=self.filled, cycle=self.cycle)

    def reset(self) -> bool:
        """Nothing fired, nothing filled; whether that changed anything. A side with nothing
        to reset stays in its cycle: no order of the cycle exists to be told apart from, and
        its saved state need not change."""
        if not (self.fired or self.filled):
            return False
        self.fired = 0
        self.filled = 0.0
        self.cycle += 1
        return True


class _Level:
    __slots__ = ("config", "last_trigger", "long", "price", "rank", "short")

    def __init__(self, config: LevelConfig, state: LevelState) -> None:
        self.config = config
        self.price = float(config.level_price)
        self.rank = 0
        self.last_trigger = state.last_trigger_ms
        self.long = _Side(state.long)
        self.short = _Side(state.short)

    def side(self, side: str) -> _Side:
        return self.long if side == LONG else self.short

    def frozen(self) -> LevelState:
        return LevelState(self.last_trigger, self.long.frozen(), self.short.frozen())


def _target_multiple(fired: int) -> int:
    """Rule 7: 1x, 2x, 4x the base size for the deepest tier fired so far."""
    if fired & 4:
        return 4
    return 2 if fired & 2 else 1


def _tiers_of(bits: int) -> tuple[int, ...]:
    return tuple(t for t, bit in _TIER_BITS.items() if bits & bit)


class SymbolEngine:
    """Tier state, positions and sentiment of one (exchange, symbol), driven tick by tick."""

    def __init__(
        self,
        tiers: Tiers,
        levels: Sequence[LevelConfig] = (),
        sentiment: SentimentConfig | None = None,
        risk: RiskLimits | None = None,
    ) -> None:
        self._tiers = tiers
        self._risk = risk or RiskLimits()
        self._halted: str | None = None
        self._sentiment = SentimentWindow(sentiment or SentimentConfig())
        self._levels: dict[LevelId, _Level] = {}
        self._configs: tuple[LevelConfig, ...] | None = None  # as last set, in order
        self._changed: set[LevelId] = set()  # levels whose tier state changed: take_changed()
        self._bounds: list[float] = []
        self._refs: list[tuple[_Level, str, int]] = []
        self._prev: float | None = None
        self._lo = inf
        self._hi = -inf
        self.position = {LONG: 0.0, SHORT: 0.0}
        self.entry = {LONG: 0.0, SHORT: 0.0}  # each side's average entry price
        # The account's free margin as last reported (None: unknown, not checked); each entry
        # takes its margin off until the next report.
        self.free_margin: float | None = None
        self.close_cycle = {LONG: 0, SHORT: 0}
        self._with_exits = False  # any level with a stop-loss, take-profit or touch exit
        self._exits = {LONG: NO_EXITS, SHORT: NO_EXITS}
        self.set_levels(levels)

    # -- configuration -------------------------------------------------------------------

    @property
    def tiers(self) -> Tiers:
        return self._tiers

    @property
    def prev(self) -> float | None:
        """The previous tick's price, or None before the first (fresh) tick."""
        return self._prev

    @property
    def level_ids(self) -> list[LevelId]:
        return list(self._levels)

    def set_levels(self, configs: Sequence[LevelConfig]) -> None:
        """Replace the level set; `configs` order is the stable order of work (rule 10).

        Levels that stay keep their tier state; new ones start fresh; removed ones lose their
        tier state (rule 11) while the account's position stays as it is. The same levels
        again change nothing.
        """
        configs = tuple(configs)
        if configs == self._configs:
            return
        levels: dict[LevelId, _Level] = {}
        for rank, config in enumerate(configs):
            if config.level_id in levels:
                raise ValueError(f"level {config.level_id} is listed twice.")
            level = self._levels.get(config.level_id) or _Level(config, LevelState())
            level.config = config
            level.price = float(config.level_price)
            level.rank = rank
            levels[config.level_id] = level
        self._levels = levels
        self._configs = configs
        self._with_exits = any(level.config.has_exits for level in levels.values())
        self._rebuild()

    def set_tiers(self, tiers: Tiers) -> None:
        """New tier distances apply at once; tiers already fired stay fired."""
        self._tiers = tiers
        self._rebuild()

    def set_risk(self, risk: RiskLimits) -> None:
        """New limits apply to the next entry; positions already held are not touched."""
        self._risk = risk

    def halt_entries(self, reason: str | None) -> None:
        """Halt every entry for `reason` (the kill switch, the daily loss limit), or let them
        go again with None. While halted, every new crossing is ignored with that reason;
        exits still run."""
        self._halted = reason

    @property
    def entries_halted(self) -> str | None:
        """Why entries are halted, or None."""
        return self._halted

    def set_sentiment(self, config: SentimentConfig) -> None:
        """New sentiment settings apply from the next tick; trades already seen stay counted."""
        self._sentiment.configure(config)

    def _rebuild(self) -> None:
        entries: list[tuple[float, int, str, int, _Level]] = []
        for level in self._levels.values():
            for tier, pct in enumerate(self._tiers.pcts(), start=1):
                for side in SIDES:
                    entries.append(
                        (level.config.boundary(side, pct), level.rank, side, tier, level)
                    )
        entries.sort(key=lambda e: e[:4])
        self._bounds = [e[0] for e in entries]
        self._refs = [(e[4], e[2], e[3]) for e in entries]
        self._bracket()

    def _bracket(self) -> None:
        """The nearest boundaries at or below and at or above `prev`: the quiet interval."""
        prev = self._prev
        if prev is None:
            self._lo, self._hi = inf, -inf  # nothing is quiet before the first tick
            return
        bounds = self._bounds
        below = bisect_right(bounds, prev)
        above = bisect_left(bounds, prev)
        # Never below 0: a tick that is not a price (a trade-only record) is never quiet.
        self._lo = bounds[below - 1] if below else 0.0
        self._hi = bounds[above] if above < len(bounds) else inf
        if self._with_exits:  # a held side's exit thresholds are never quiet either
            self._refresh_exits()
            exits = self._exits.values()
            self._lo = max(self._lo, *(e.below for e in exits))
            self._hi = min(self._hi, *(e.above for e in exits))

    def stop_price(self, side: str) -> float | None:
        """The stop-loss price of a held side, from its levels' `stop_loss_pct`; None when no
        holding level has one. Live, it also rests on the exchange."""
        exits = self._exits[side]
        if side == LONG:
            return exits.below if exits.below_reason == REASON_STOP_LOSS else None
        return exits.above if exits.above_reason == REASON_STOP_LOSS else None

    def _refresh_exits(self) -> None:
        for side in SIDES:
            if self.position[side] <= 0:
                self._exits[side] = NO_EXITS
                continue
            holding = [
                level.config
                for level in self._levels.values()
                if level.config.has_exits and level.side(side).filled > 0
            ]
            self._exits[side] = side_exits(side, self.entry[side], holding)

    # -- state ---------------------------------------------------------------------------

    def level_state(self, level_id: LevelId) -> LevelState:
        return self._levels[level_id].frozen()

    def take_changed(self) -> set[LevelId]:
        """The levels whose tier state may have changed since the last call (fires, resets,
        refusals undone, restores), among those the engine still has: what there is to
        persist, without looking at every level."""
        changed, self._changed = self._changed, set()
        return changed & self._levels.keys()

    def restore(self, level_id: LevelId, state: LevelState) -> None:
        """Put back a level's persisted tier state (after a restart)."""
        level = self._levels[level_id]
        level.last_trigger = state.last_trigger_ms
        level.long = _Side(state.long)
        level.short = _Side(state.short)
        self._changed.add(level_id)

    def mark_stale(self) -> None:
        """Forget the previous price: the next tick crosses nothing (a move not seen)."""
        self._prev = None
        self._bracket()

    def reset_side(self, side: str) -> None:
        """Rule 9: the side's position is closed; every level's tiers on that side reset."""
        self.position[side] = 0.0
        self.entry[side] = 0.0
        self.close_cycle[side] += 1
        for level_id, level in self._levels.items():
            if level.side(side).reset():
                self._changed.add(level_id)
        self._bracket()

    def closed_outside(self, side: str, held: float) -> list[LevelId]:
        """The exchange holds `held` of a side the engine counts more of: the side was closed
        (or reduced) outside the bot, and perhaps entered again since. The fills older than
        that close are the ones gone: levels are taken from the earliest fire on, and when
        theirs add up to exactly what went missing, those levels reset and the later ones keep
        their tiers; otherwise the whole side resets (rule 9). The side then counts `held`.
        Returns the levels reset."""
        missing = round(self.position[side] - held, SIZE_DECIMALS)
        holders = sorted(
            (item for item in self._levels.items() if item[1].side(side).filled > 0),
            key=lambda item: (item[1].last_trigger, item[1].rank),
        )
        taken: list[LevelId] = []
        total = 0.0
        for level_id, level in holders:
            if total >= missing:
                break
            taken.append(level_id)
            total = round(total + level.side(side).filled, SIZE_DECIMALS)
        if held <= 0 or total != missing:
            everyone = [level_id for level_id, _ in holders]
            self.reset_side(side)
            self.set_position(side, held)
            return everyone
        for level_id in taken:
            self._levels[level_id].side(side).reset()
            self._changed.add(level_id)
        self.position[side] = max(0.0, round(held, SIZE_DECIMALS))
        self._bracket()
        return taken

    def set_position(self, side: str, size: float, entry_price: float | None = None) -> None:
        """The account's position on a side as the exchange reports it; 0 means closed."""
        if size <= 0:
            if self.position[side] > 0:
                self.reset_side(side)
            self.position[side] = 0.0
        else:
            self.position[side] = float(size)
            if entry_price:
                self.entry[side] = float(entry_price)
        self._bracket()

    def undo_fill(self, level_id: LevelId, side: str, size: float) -> None:
        """An entry of `size` the exchange refused was never filled. Its tiers stay fired, so
        the refusal is not retried on the next crossing."""
        if level_id not in self._levels:
            return
        state = self._levels[level_id].side(side)
        state.filled = max(0.0, round(state.filled - size, SIZE_DECIMALS))
        self._changed.add(level_id)
        self.position[side] = max(0.0, round(self.position[side] - size, SIZE_DECIMALS))
        self._bracket()

    def sentiment(self) -> float:
        return self._sentiment.value()

    # -- ticks ---------------------------------------------------------------------------

    def on_tick(self, ts: int, price: float, qty: float = 0.0) -> list[Event]:
        """One tick; see `run`."""
        return self.run(((ts, price, qty),))

    def run(self, ticks: Iterable[tuple[int, float, float]]) -> list[Event]:
        """Feed ticks `(ts_ms, price, signed taker qty)` in order; return the events, in order.

        A record priced `TRADE_ONLY` is a trade seen while quotes set the price (live): it
        moves the sentiment window and is no tick, so nothing else happens on it.
        Feeding a path in one call or tick by tick gives the same events.
        """
        out: list[Event] = []
        window = self._sentiment
        track = window.enabled
        position = self.position
        lo, hi = self._lo, self._hi
        for ts, price, qty in ticks:
            if track:
                window.update(ts, qty)
                if window.lean and price > 0 and (position[LONG] > 0 or position[SHORT] > 0):
                    side = LONG if window.lean < 0 else SHORT
                    self._close(ts, side, price, REASON_SENTIMENT_EXIT, out)
            if lo < price < hi:
                self._prev = price
                continue
            self._step(ts, price, out)
            lo, hi = self._lo, self._hi
        return out

    def close(self, ts: int, side: str, price: float, reason: str) -> OrderIntent | None:
        """Close the whole side of the symbol as the account holds it (rules 8 and 9, the
        optional exits, a close on request): one order with no level and no tiers, then the
        side resets. None when the side holds nothing."""
        size = self.position[side]
        if size <= 0:
            return None
        held = tuple(
            (level_id, state.frozen())
            for level_id, level in self._levels.items()
            if (state := level.side(side)).fired or state.filled
        )
        undo = SideReset(self.entry[side], held)
        cycle = self.close_cycle[side]
        intent = OrderIntent(ts, None, side, "close", (), size, price, reason, cycle, undo)
        self.reset_side(side)
        return intent

    def _close(self, ts: int, side: str, price: float, reason: str, out: list[Event]) -> None:
        intent = self.close(ts, side, price, reason)
        if intent is not None:
            out.append(intent)

    def close_refused(self, close: OrderIntent, unfilled: float) -> None:
        """The exchange left `unfilled` of a close's size open. All of it: the close never
        happened, so the levels it reset get their tiers and fills back (those that fired
        again since keep their new state) and the side its entry; the exit may close it on a
        later tick. Part of it: the side counts what is left, and stays reset."""
        side = close.side
        unfilled = round(min(unfilled, close.size), SIZE_DECIMALS)
        if unfilled <= 0:
            return
        if unfilled >= close.size and close.undo is not None:
            for level_id, state in close.undo.levels:
                level = self._levels.get(level_id)
                if level is None or level.side(side).fired or level.side(side).filled:
                    continue
                if side == LONG:
                    level.long = _Side(state)
                else:
                    level.short = _Side(state)
                self._changed.add(level_id)
            if not self.position[side]:
                self.entry[side] = close.undo.entry
        self.position[side] = round(self.position[side] + unfilled, SIZE_DECIMALS)
        self._bracket()

    def _step(self, ts: int, price: float, out: list[Event]) -> None:
        """A tick outside the quiet interval: find the crossed tiers, fire or ignore them."""
        if not 0 < price < inf:
            return  # not a price: a feed must never feed one, and it must never crash us
        if self._with_exits:
            for side in SIDES:
                reason = self._exits[side].reached(price)
                if reason is not None:
                    self._close(ts, side, price, reason, out)
        prev = self._prev
        self._prev = price
        if prev is not None and price != prev:
            crossed = self._crossed(prev, price)
            if crossed:
                for level, (side, bits) in sorted(crossed.items(), key=lambda kv: kv[0].rank):
                    self._fire(level, side, bits, ts, price, out)
        self._bracket()

    def _crossed(self, prev: float, price: float) -> dict[_Level, tuple[str, int]]:
        """Rule 3: the tiers crossed moving from `prev` to `price`, per level."""
        bounds, refs = self._bounds, self._refs
        crossed: dict[_Level, tuple[str, int]] = {}
        if price < prev:  # falling: SHORT tiers with prev > B >= P, and P above the level
            start, stop, toward = bisect_left(bounds, price), bisect_left(bounds, prev), SHORT
        else:  # rising: LONG tiers with prev < B <= P, and P below the level
            start, stop, toward = bisect_right(bounds, prev), bisect_right(bounds, price), LONG
        for level, side, tier in refs[start:stop]:
            if side != toward:
                continue
            if (price > level.price) if side == SHORT else (price < level.price):
                crossed[level] = (side, crossed.get(level, (side, 0))[1] | _TIER_BITS[tier])
        return crossed

    def _risk_block(self, level: _Level, side: str, size: float, price: float) -> str | None:
        """The limit an entry of `size` would break, if any."""
        risk = self._risk
        leverage = level.config.leverage
        if leverage and self.free_margin is not None and size * price / leverage > self.free_margin:
            return IGNORED_MARGIN
        if leverage and risk.min_liquidation_distance is not None:
            held = self.position[side]
            entry = (self.entry[side] * held + price * size) / (held + size)
            liquidation = risk.liquidation_price(side, entry, leverage)
            if abs(liquidation - level.price) <= risk.min_liquidation_distance * level.price:
                return IGNORED_LIQUIDATION
        held = self.position[side] + size
        if risk.max_position is not None and held > risk.max_position * (1 + _SIZE_EPSILON):
            return IGNORED_MAX_POSITION
        if risk.max_notional is not None and held * price > risk.max_notional:
            return IGNORED_MAX_NOTIONAL
        if risk.max_levels is not None and not (level.long.filled or level.short.filled):
            holding = sum(1 for lv in self._levels.values() if lv.long.filled or lv.short.filled)
            if holding >= risk.max_levels:
                return IGNORED_MAX_LEVELS
        return None

    def _fire(
        self, level: _Level, side: str, bits: int, ts: int, price: float, out: list[Event]
    ) -> None:
        """Rules 4-8 for one level-side's crossed tiers."""
        state = level.side(side)
        config = level.config
        again = bits & state.fired
        if again:
            out.append(
                IgnoredCrossing(
                    ts, config.level_id, side, _tiers_of(again), price, IGNORED_ALREADY_FIRED
                )
            )
        new = bits & ~state.fired
        if not new:
            return
        tiers = _tiers_of(new)
        if not config.is_active:
            out.append(IgnoredCrossing(ts, config.level_id, side, tiers, price, IGNORED_PAUSED))
            return
        if self._halted is not None:
            out.append(IgnoredCrossing(ts, config.level_id, side, tiers, price, self._halted))
            return
        last = level.last_trigger
        if last is not None and ts - last < config.cool_down_ms:
            left = config.cool_down_ms - (ts - last)
            out.append(
                IgnoredCrossing(ts, config.level_id, side, tiers, price, IGNORED_COOLDOWN, left)
            )
            return
        if self._sentiment.lean == (-1 if side == LONG else 1):
            value = self._sentiment.value()
            out.append(
                IgnoredCrossing(
                    ts, config.level_id, side, tiers, price, IGNORED_SENTIMENT, None, value
                )
            )
            return
        target = config.base_size * _target_multiple(state.fired | new)
        size = round(target - state.filled, SIZE_DECIMALS)
        needed = size > config.base_size * _SIZE_EPSILON
        blocked = self._risk_block(level, side, size, price) if needed else None
        if blocked is not None:
            out.append(IgnoredCrossing(ts, config.level_id, side, tiers, price, blocked))
            return
        state.fired |= new
        level.last_trigger = ts
        self._changed.add(config.level_id)
        if not needed:
            out.append(TierFire(ts, config.level_id, side, tiers, price, 0.0))
            return
        action = "add" if state.filled > 0 else "open"
        out.append(TierFire(ts, config.level_id, side, tiers, price, size))
        out.append(
            OrderIntent(
                ts, config.level_id, side, action, tiers, size, price, REASON_TIER, state.cycle
            )
        )
        state.filled = target
        if self.free_margin is not None and config.leverage:
            self.free_margin -= size * price / config.leverage  # until the account says again
        held = self.position[side]
        self.entry[side] = (self.entry[side] * held + price * size) / (held + size)
        self.position[side] = round(held + size, SIZE_DECIMALS)
