"""A seeded synthetic market around a symbol's own levels, so a new install trades in a minute.

The price swings around one level at a time along a slow wave that reaches 1.6 times the
symbol's tier 1 on either side (period 60 s), so every tier is crossed both ways each minute,
with random-walk noise and a taker flow that leans with the move (buyers on the way up), strong
enough at times for the sentiment filter and exit to act. After each wave it moves on to the
next level. Event time is the wall clock. No network, no keys.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence

from trading.feeds.base import Ticks

PERIOD_MS = 60_000
REACH = 1.6  # the wave's amplitude in tier-1 distances


class SyntheticWalk:
    """The price and flow model, free of time and I/O: `advance(now_ms)` gives the new ticks."""

    def __init__(
        self,
        level_prices: Sequence[float],
        tier1_pct: float,
        *,
        seed: int,
        start_ms: int,
        step_ms: int = 250,
    ) -> None:
        if not level_prices:
            raise ValueError("a synthetic feed needs at least one level to move around.")
        self.levels = sorted(level_prices)
        self.tier1_pct = tier1_pct
        self.step_ms = step_ms
        self._rng = random.Random(seed)
        self._start = start_ms
        self._ts = start_ms
        self._noise = 0.0
        self._last = self._anchor(start_ms)

    def retarget(self, level_prices: Sequence[float], tier1_pct: float) -> None:
        if level_prices:
            self.levels = sorted(level_prices)
            self.tier1_pct = tier1_pct

    def _anchor(self, ts: int) -> float:
        wave, phase = divmod(ts - self._start, PERIOD_MS)
        level = self.levels[int(wave) % len(self.levels)]
        swing = REACH * self.tier1_pct * math.cos(2 * math.pi * phase / PERIOD_MS)
        return level * (1 + swing)

    def advance(self, now_ms: int) -> Ticks:
        ticks: Ticks = []
        rng = self._rng
        while self._ts + self.step_ms <= now_ms:
            self._ts += self.step_ms
            # Mean-reverting noise of about a tenth of tier 1, so paths wiggle across boundaries.
            self._noise = 0.9 * self._noise + rng.gauss(0, 0.04 * self.tier1_pct)
            price = self._anchor(self._ts) * (1 + self._noise)
            move = price - self._last
            self._last = price
            lean = math.tanh(move / (self.tier1_pct * price * 0.02 + 1e-12))
            buy = rng.random() < 0.5 + 0.4 * lean
            amount = round(rng.lognormvariate(0, 1), 3) or 0.001
            ticks.append((self._ts, round(price, 2), amount if buy else -amount))
        return ticks


class SyntheticFeed:
    can_stall = False
    reconnects = 0
    last_error = ""

    def __init__(
        self,
        level_prices: Sequence[float],
        tier1_pct: float,
        *,
        seed: int = 1,
        step_ms: int = 250,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.description = f"synthetic (seed {seed})"
        self.clock = clock
        self.received_at = time.perf_counter()
        self.walk = SyntheticWalk(
            level_prices, tier1_pct, seed=seed, start_ms=int(clock() * 1000), step_ms=step_ms
        )

    async def batches(self) -> AsyncIterator[Ticks]:
        while True:
            ticks = self.walk.advance(int(self.clock() * 1000))
            if ticks:
                self.received_at = time.perf_counter()
                yield ticks
            await asyncio.sleep(self.walk.step_ms / 1000)
