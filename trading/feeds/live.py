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


def quote_tick(ticker: dict[str, Any]) -> tuple[int, float, float, float] | None:
    """(ts, mid, bid, ask) from a ccxt ticker, or None when it has no two-sided quote."""
    bid, ask, ts = ticker.get("bid"), ticker.get("ask"), ticker.get("timestamp")
    if not bid or not ask or ts is None or bid <= 0 or ask < bid:
        return None
    return int(ts), (bid + ask) / 2, float(bid), float(ask)


def trade_flow(trade: dict[str, Any]) -> tuple[int, float, float] | None:
    """(ts, price, signed taker amount) from a ccxt trade: buys positive, sells negative."""
    side, amount, price, ts = (trade.get(k) for k in ("side", "amount", "price", "timestamp"))
    if side not in ("buy", "sell") or not amount or not price or ts is None:
        return None
    return int(ts), float(price), float(amount) if side == "buy" else -float(amount)


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

    async def _quotes(self) -> None:
        ticker = await self.client.watch_ticker(self.symbol)
        quote = quote_tick(ticker)
        if quote is None:
            return
        ts, mid, bid, ask = quote
        self._quoted = True
        if self.on_quote is not None:
            self.on_quote(self.symbol, bid, ask)
        self._put(ts, mid, 0.0)

    async def _trades(self) -> None:
        for trade in await self.client.watch_trades(self.symbol):
            flow = trade_flow(trade)
            if flow is None:
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
