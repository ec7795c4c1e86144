"""Real prices through ccxt.pro: quotes for the price, trades for the taker flow.

Two watchers share one queue: `watch_ticker` gives the best bid and ask, and each quote is a
tick at the mid price (DESIGN rule notation: `P = (bid+ask)/2` where a quote is known);
`watch_trades` gives the taker trades, which move the sentiment window and are ticks only
while no quote is known yet. A trade that is not a tick travels as `(ts, TRADE_ONLY, qty)`.

ccxt.pro does not reconnect by itself: when a socket drops, the waiting call raises and the
next call connects again. Each watcher loops with exponential backoff and jitter, counts its
reconnects, and calls `on_reconnect` (the runner resyncs positions over REST then). Silence
without an error (a stalled socket ccxt notices only after 36-54 s) is the runner's staleness
watchdog's to catch. Event time is the exchange's timestamp, never earlier than the last one.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog

from trading.engine import TRADE_ONLY
from trading.feeds.base import Ticks

log = structlog.get_logger("levelbot.feed")

BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 30.0


def backoff_delay(attempt: int, *, rng: random.Random | None = None) -> float:
    """Seconds before reconnect attempt `attempt` (0-based): doubling from 0.1 s up to 30 s,
    with full jitter, so that many bots never reconnect in step."""
    ceiling = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**attempt)
    return (rng or random).uniform(ceiling / 2, ceiling)


def _positive(value: Any) -> float | None:
    """A price or an amount as a float: a finite number above 0, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if 0 < number < math.inf else None


def _event_time(value: Any) -> int | None:
    """An exchange timestamp in ms: a finite number of 0 or more, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not 0 <= value < math.inf:
        return None
    return int(value)


def quote_tick(ticker: Any) -> tuple[int, float, float, float] | None:
    """(ts, mid, bid, ask) from a ccxt ticker, or None when it has no usable two-sided quote:
    a side or the time missing, a price not a finite number above 0, or the ask below the bid."""
    if not isinstance(ticker, dict):
        return None
    bid, ask = _positive(ticker.get("bid")), _positive(ticker.get("ask"))
    ts = _event_time(ticker.get("timestamp"))
    if bid is None or ask is None or ts is None or ask < bid:
        return None
    return ts, (bid + ask) / 2, bid, ask


def awaiting_quote(ticker: Any) -> bool:
    """A ticker that has no bid or no ask yet: no quote to take, and nothing wrong."""
    return isinstance(ticker, dict) and (ticker.get("bid") is None or ticker.get("ask") is None)


def trade_flow(trade: Any) -> tuple[int, float, float] | None:
    """(ts, price, signed taker amount) from a ccxt trade: buys positive, sells negative; None
    for a trade without a side, a price and an amount above 0, and a time."""
    if not isinstance(trade, dict):
        return None
    side = trade.get("side")
    price, amount = _positive(trade.get("price")), _positive(trade.get("amount"))
    ts = _event_time(trade.get("timestamp"))
    if side not in ("buy", "sell") or price is None or amount is None or ts is None:
        return None
    return ts, price, amount if side == "buy" else -amount


class LiveFeed:
    can_stall = True

    def __init__(
        self,
        client: Any,
        symbol: str,
        *,
        on_quote: Callable[[str, float, float], None] | None = None,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.symbol = symbol
        self.description = f"live:{client.id}"
        self.on_quote = on_quote
        self.on_reconnect = on_reconnect
        self.reconnects = 0
        self.dropped = 0  # malformed messages skipped
        self.last_error = ""
        self._queue: asyncio.Queue[tuple[int, float, float]] = asyncio.Queue()
        self._quoted = False
        self._last_ts = 0
        self._oldest = self.received_at = time.perf_counter()

    def _put(self, ts: int, price: float, qty: float) -> None:
        ts = max(ts, self._last_ts)  # event time never runs backwards between the two streams
        self._last_ts = ts
        if self._queue.empty():
            self._oldest = time.perf_counter()
        self._queue.put_nowait((ts, price, qty))

    def _drop(self, stream: str, message: Any) -> None:
        # A malformed message is the exchange's or ccxt's slip, not a dropped socket: it is
        # logged and skipped, with no backoff and no resync.
        self.dropped += 1
        log.warning(
            "feed message dropped",
            symbol=self.symbol,
            stream=stream,
            message=repr(message)[:200],
        )

    async def _quotes(self) -> None:
        ticker = await self.client.watch_ticker(self.symbol)
        quote = quote_tick(ticker)
        if quote is None:
            if not awaiting_quote(ticker):
                self._drop("quotes", ticker)
            return
        ts, mid, bid, ask = quote
        self._quoted = True
        if self.on_quote is not None:
            self.on_quote(self.symbol, bid, ask)
        self._put(ts, mid, 0.0)

    async def _trades(self) -> None:
        trades = await self.client.watch_trades(self.symbol)
        for trade in trades if isinstance(trades, list) else [trades]:
            flow = trade_flow(trade)
            if flow is None:
                self._drop("trades", trade)
                continue
            ts, price, qty = flow
            self._put(ts, TRADE_ONLY if self._quoted else price, qty)

    async def _watch(self, step: Callable[[], Awaitable[None]], name: str) -> None:
        attempt = 0
        while True:
            try:
                await step()
                if attempt:
                    attempt = 0
                    self.reconnects += 1
                    log.info("feed reconnected", symbol=self.symbol, stream=name)
                    if self.on_reconnect is not None:
                        await self.on_reconnect()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # ccxt raises NetworkError and others on a dropped socket
                self.last_error = f"{type(e).__name__}: {e}"
                delay = backoff_delay(attempt)
                attempt += 1
                log.warning(
                    "feed error",
                    symbol=self.symbol,
                    stream=name,
                    error=self.last_error,
                    retry_in_s=round(delay, 2),
                )
                await asyncio.sleep(delay)

    async def batches(self) -> AsyncIterator[Ticks]:
        watchers = [
            asyncio.create_task(self._watch(self._quotes, "quotes")),
            asyncio.create_task(self._watch(self._trades, "trades")),
        ]
        try:
            while True:
                batch = [await self._queue.get()]
                self.received_at = self._oldest
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                yield batch
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)
