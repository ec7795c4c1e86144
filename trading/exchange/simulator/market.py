"""The simulated market of one symbol: the last price, the quote around it, and the replay.

The price is either flat (settable) or driven by a recorded trades file, replayed through the
backtest's reader at `speed` times real time (0: as fast as the event loop allows). Every tick
moves the last price; the best bid and ask straddle it by the spread, rounded outwards to the
tick size, so a buy always pays at least the last price and a sell gets at most it. Market data
carries the file's own timestamps; with a flat price, the wall clock's.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from trading.backtest.readers import TickBatch, open_ticks
from trading.exchange.simulator.instruments import Instrument

DEFAULT_SPREAD = 0.0001  # 0.01 % of the price between the best bid and the best ask


FUNDING_INTERVAL_MS = 8 * 3600 * 1000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class Tick:
    """One replayed trade: qty > 0 a buyer took, < 0 a seller did, 0 the file does not say."""

    ts: int
    price: float
    qty: float


@dataclass(frozen=True, slots=True)
class Quote:
    bid: float
    ask: float
    last: float
    ts: int


class MarketState:
    """Last price, quote and running 24 h-style statistics of the simulated symbol, and its
    funding: a rate settled every `funding_interval_ms`, at whole multiples of it (wall clock,
    as Bybit's 00:00, 08:00 and 16:00 UTC)."""

    def __init__(
        self,
        instrument: Instrument,
        price: float,
        *,
        spread: float,
        ts: int,
        funding_rate: float = 0.0,
        funding_interval_ms: int = FUNDING_INTERVAL_MS,
    ) -> None:
        self.instrument = instrument
        self.funding_rate = funding_rate
        self.funding_interval_ms = funding_interval_ms
        self.spread = spread
        self.tick = float(instrument.tick_size)
        self.last = price
        self.open = price
        self.high = price
        self.low = price
        self.volume = 0.0
        self.turnover = 0.0
        self.ts = ts
        self.direction = "ZeroPlusTick"
        self.seq = 0

    def next_funding_ms(self, now: int) -> int:
        """The first funding time after `now` (ms)."""
        interval = self.funding_interval_ms
        return (now // interval + 1) * interval

    def quote(self) -> Quote:
        half = self.last * self.spread / 2
        bid = math.floor((self.last - half) / self.tick + 1e-9) * self.tick
        ask = math.ceil((self.last + half) / self.tick - 1e-9) * self.tick
        if ask - bid < self.tick / 2:  # a zero spread still leaves one tick between them
            ask = bid + self.tick
        return Quote(bid, ask, self.last, self.ts)

    def trade(self, tick: Tick) -> None:
        """Move the market to a trade's price and time."""
        if tick.price > self.last:
            self.direction = "PlusTick"
        elif tick.price < self.last:
            self.direction = "MinusTick"
        else:
            self.direction = "ZeroPlusTick" if self.direction == "PlusTick" else "ZeroMinusTick"
        self.last = tick.price
        self.ts = tick.ts
        self.high = max(self.high, tick.price)
        self.low = min(self.low, tick.price)
        self.volume += abs(tick.qty)
        self.turnover += abs(tick.qty) * tick.price
        self.seq += 1

    def set_price(self, price: float) -> None:
        """A flat market moved by hand: stamped with the wall clock."""
        self.trade(Tick(now_ms(), price, 0.0))


def first_tick(path: Path) -> Tick:
    """The first tick of a data file (raises DataFileError for a bad or empty file)."""
    with open_ticks([path]) as stream:
        for batch in stream:
            for ts, price, qty in batch:
                return Tick(ts, price, qty)
    raise ValueError(f"{path} holds no ticks: give a file with at least one trade.")


async def replay(path: Path, speed: float, on_tick: Callable[[Tick], Awaitable[None]]) -> None:
    """Feed every tick of `path` to `on_tick`, paced at `speed` times the file's own time.

    Batches are read in a worker thread so that a large file never blocks the event loop.
    """
    loop = asyncio.get_running_loop()
    with open_ticks([path]) as stream:
        batches: Iterator[TickBatch] = iter(stream)
        start_file: int | None = None
        start_wall = loop.time()
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            for ts, price, qty in batch:
                if start_file is None:
                    start_file = ts
                if speed > 0:
                    due = start_wall + (ts - start_file) / 1000 / speed
                    delay = due - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                else:
                    await asyncio.sleep(0)  # as fast as possible, yet let requests in
                await on_tick(Tick(ts, price, qty))
