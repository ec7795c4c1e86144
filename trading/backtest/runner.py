"""Replay ticks through the engine with simulated fills, and account for what it did.

One `SymbolEngine` decides, exactly as it does live; a `Ledger` fills its orders at the tick's
price (moved by slippage, charged a fee). Ticks arrive in batches of numpy arrays so that the
equity curve can be marked to market on every tick without a Python loop: between two fills
the positions are constant, so equity is a straight line in the price.

Funding, where rates are given, is accounting the engine never sees: a funding time is settled
just before the first tick after it, on the sides held then (fills on ticks at or before it
included), valued at the last traded price at or before it. Only funding times from the first
tick up to (not including) the last one's time are within the replay; the others are left out.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from trading.accounting import Ledger
from trading.backtest.funding import FundingRates
from trading.backtest.scenario import Scenario
from trading.engine import (
    LONG,
    SHORT,
    IgnoredCrossing,
    OrderIntent,
    SentimentConfig,
    SymbolEngine,
)

# An equity curve kept for the dashboard holds at most this many points.
EQUITY_POINTS = 2000


@dataclass
class BacktestResult:
    """What a run did: the orders, the summary and the equity curve."""

    orders: list[dict[str, Any]] = field(default_factory=list)
    equity_curve: list[tuple[int, float]] = field(default_factory=list)
    ticks: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    max_exposure: dict[str, float] = field(default_factory=lambda: {LONG: 0.0, SHORT: 0.0})
    max_drawdown: float = 0.0
    last_price: float | None = None
    first_ts: int | None = None
    last_ts: int | None = None
    funding_events: int = 0  # funding times settled within the replay


class Backtest:
    """Feed batches with `feed`, then read `result` and `summary()`."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        fee_rate: float = 0.0,
        slippage_bps: float = 0.0,
        sentiment: SentimentConfig | None = None,
        funding: FundingRates | None = None,
    ) -> None:
        self.scenario = scenario
        self.funding = funding
        self._funding_at = 0  # the next funding time to settle
        self.engine = SymbolEngine(
            scenario.tiers, scenario.levels, sentiment or scenario.sentiment, scenario.risk
        )
        self.ledger = Ledger(fee_rate=fee_rate, slippage_bps=slippage_bps)
        self.result = BacktestResult()
        self._peak = 0.0

    def feed(
        self,
        ts: npt.NDArray[np.int64],
        price: npt.NDArray[np.float64],
        qty: npt.NDArray[np.float64],
    ) -> list[dict[str, Any]]:
        """Run one batch of ticks; return the orders it made (also kept in `result`)."""
        n = len(ts)
        if not n:
            return []
        result = self.result
        if result.first_ts is None:
            self._skip_funding_before(int(ts[0]))
        events = self.engine.run(zip(ts.tolist(), price.tolist(), qty.tolist(), strict=True))
        made: list[dict[str, Any]] = []
        cursor = 0
        for event in events:
            if isinstance(event, IgnoredCrossing):
                result.ignored[event.reason] += 1
                continue
            if not isinstance(event, OrderIntent):
                continue
            at = _tick_index(ts, price, cursor, event.ts, event.price)
            self._advance(ts, price, cursor, at, before=event.ts)
            cursor = at
            made.append(self._fill(event))
        self._advance(ts, price, cursor, n, before=int(ts[-1]))
        if result.first_ts is None:
            result.first_ts = int(ts[0])
        result.last_ts = int(ts[-1])
        result.last_price = float(price[-1])
        result.ticks += n
        result.equity_curve.append((result.last_ts, self.equity(result.last_price)))
        result.orders.extend(made)
        return made

    def equity(self, price: float) -> float:
        a, b = self.ledger.equity_line()
        return a + b * price

    def _fill(self, order: OrderIntent) -> dict[str, Any]:
        fill = self.ledger.fill(order.side, order.action, order.size, order.price)
        if order.action != "close":
            held = self.ledger.positions[order.side].size
            exposure = self.result.max_exposure
            exposure[order.side] = max(exposure[order.side], held)
        self.result.equity_curve.append((order.ts, self.equity(order.price)))
        return {
            "ts": order.ts,
            "level": order.level_id,
            "side": order.side,
            "action": order.action,
            "tiers": list(order.tiers),
            "size": fill.size,
            "price": fill.price,
            "reason": order.reason,
        }

    def _advance(
        self,
        ts: npt.NDArray[np.int64],
        price: npt.NDArray[np.float64],
        start: int,
        stop: int,
        *,
        before: int,
    ) -> None:
        """Mark ticks [start, stop) to market, settling on the way every funding time earlier
        than `before` (ms): each just before the first tick after it."""
        while (due := self._next_funding(before)) is not None:
            at, rate = due
            k = start + int(np.searchsorted(ts[start:stop], at, side="right"))
            self._mark(price, start, k)
            last = float(price[k - 1]) if k else self.result.last_price
            assert last is not None  # funding times before the first tick were skipped
            self.ledger.settle_funding(rate, last)
            self.result.funding_events += 1
            self.result.equity_curve.append((at, self.equity(last)))
            start = k
        self._mark(price, start, stop)

    def _next_funding(self, before: int) -> tuple[int, float] | None:
        """The next funding time and rate if it is earlier than `before`, taken off the list."""
        funding, i = self.funding, self._funding_at
        if funding is None or i >= len(funding.times) or funding.times[i] >= before:
            return None
        self._funding_at = i + 1
        return funding.times[i], funding.rates[i]

    def _skip_funding_before(self, first_ts: int) -> None:
        """Funding times before the replay's first tick: no position, no price, not counted."""
        if self.funding is not None:
            self._funding_at = bisect_left(self.funding.times, first_ts)

    def _mark(self, price: npt.NDArray[np.float64], start: int, stop: int) -> None:
        """Mark ticks [start, stop) to market under the current positions; track drawdown."""
        if start >= stop:
            return
        a, b = self.ledger.equity_line()
        if b == 0:
            self._peak = max(self._peak, a)
            self.result.max_drawdown = max(self.result.max_drawdown, self._peak - a)
            return
        values = a + b * price[start:stop]
        peaks = np.maximum(np.maximum.accumulate(values), self._peak)
        self.result.max_drawdown = max(self.result.max_drawdown, float((peaks - values).max()))
        self._peak = float(peaks[-1])

    def summary(self, *, skipped_rows: int = 0, seconds: float | None = None) -> dict[str, Any]:
        """The report's figures, with the keys `--json` promises."""
        result, ledger = self.result, self.ledger
        last = result.last_price
        unrealized = ledger.unrealized_pnl(last) if last is not None else 0.0
        funding = self.funding
        return {
            "exchange": self.scenario.exchange,
            "symbol": self.scenario.symbol,
            "ticks": result.ticks,
            "skipped_rows": skipped_rows,
            "orders": len(result.orders),
            "volume": ledger.volume,
            "fees": ledger.fees,
            "realized_pnl": ledger.realized_pnl,
            "unrealized_pnl": unrealized,
            "funding": ledger.funding,
            "funding_events": result.funding_events,
            "funding_span": None if funding is None else [funding.first_ts, funding.last_ts],
            "net_pnl": ledger.realized_pnl + unrealized + ledger.funding - ledger.fees,
            "win_rate": ledger.win_rate,
            "round_trips": ledger.round_trips,
            "max_drawdown": result.max_drawdown,
            "max_exposure": dict(result.max_exposure),
            "open_position": {side: p.size for side, p in ledger.positions.items()},
            "ignored": dict(sorted(result.ignored.items())),
            "ticks_per_second": result.ticks / seconds if seconds else None,
            "first_ts": result.first_ts,
            "last_ts": result.last_ts,
        }

    def equity_points(self) -> list[tuple[int, float]]:
        """The equity curve thinned to at most EQUITY_POINTS points, first and last kept."""
        curve = self.result.equity_curve
        if len(curve) <= EQUITY_POINTS:
            return list(curve)
        step = len(curve) / (EQUITY_POINTS - 1)
        picked = [curve[int(i * step)] for i in range(EQUITY_POINTS - 1)]
        return [*picked, curve[-1]]


def _tick_index(
    ts: npt.NDArray[np.int64], price: npt.NDArray[np.float64], start: int, at: int, px: float
) -> int:
    """The index of the tick an event came from: the first at or after `start` with its time
    and price (ticks sharing a millisecond are told apart by price; the event's own tick has
    exactly the event's price)."""
    i = start + int(np.searchsorted(ts[start:], at, side="left"))
    while i < len(ts) - 1 and price[i] != px:
        i += 1
    return i
