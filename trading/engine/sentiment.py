"""Rule 8: taker trade-flow sentiment over a sliding event-time window.

`S = (buy - sell) / (buy + sell)` over trades with `ts` in `(now - window, now]`. Volumes are
kept as integers (base amounts in units of 1e-8) and the threshold as a fraction, so that a
flow exactly at the threshold is "not beyond it" whatever floats would have said: 0.8 bought
against 0.2 sold is S = 0.6, not 0.6000000000000001.
"""

from __future__ import annotations

from collections import deque
from fractions import Fraction

from trading.engine.types import SentimentConfig

# Base amounts are counted in 1e-8 units: exact for every amount an exchange quotes.
UNITS_PER_BASE = 100_000_000


class SentimentWindow:
    """Running buy and sell volume over the window, evicted from the left as time moves."""

    __slots__ = ("_den", "_num", "_trades", "buy", "enabled", "lean", "sell", "window_ms")

    def __init__(self, config: SentimentConfig) -> None:
        self._trades: deque[tuple[int, int]] = deque()
        self.configure(config)
        self.buy = 0
        self.sell = 0
        # +1 while buyers dominate beyond the threshold, -1 for sellers, else 0 (or disabled).
        self.lean = 0

    def configure(self, config: SentimentConfig) -> None:
        self.enabled = config.enabled
        self.window_ms = round(config.window_s * 1000)
        threshold = Fraction(repr(float(config.threshold)))
        self._num = threshold.numerator
        self._den = threshold.denominator
        if not self.enabled:
            self.lean = 0

    def update(self, ts: int, qty: float) -> None:
        """Add a trade's signed taker amount at `ts`, drop trades that left the window and
        recompute `lean`. Quotes (qty 0) still move the window: time passes for them too."""
        trades = self._trades
        buy, sell = self.buy, self.sell
        if qty:
            units = round(qty * UNITS_PER_BASE)
            if units > 0:
                buy += units
            else:
                sell -= units
            trades.append((ts, units))
        cutoff = ts - self.window_ms
        while trades and trades[0][0] <= cutoff:
            units = trades.popleft()[1]
            if units > 0:
                buy -= units
            else:
                sell += units
        self.buy, self.sell = buy, sell
        total = buy + sell
        lead = self._den * (buy - sell)
        if not self.enabled or not total:
            self.lean = 0
        elif lead > self._num * total:
            self.lean = 1
        elif lead < -self._num * total:
            self.lean = -1
        else:
            self.lean = 0

    def value(self) -> float:
        """S itself, for reports and the dashboard (0 with no volume)."""
        total = self.buy + self.sell
        return (self.buy - self.sell) / total if total else 0.0
