"""Pacing of an account's private calls: a token bucket that refills while idle.

ccxt's own throttler is off (it makes every order wait 50-100 ms, even after a long idle). This
bucket lets a burst go at once, up to `burst` calls, and then paces calls at `rate` a second:
an order after an idle minute waits for nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# Orders per second and burst, under each exchange's published limits for one account:
# Bybit 10 orders/s per symbol (v5 trade endpoints), Binance USD-M 300 orders per 10 s, OKX 60
# orders per 2 s per instrument.
LIMITS: dict[str, tuple[float, int]] = {
    "bybit": (10.0, 10),
    "binanceusdm": (25.0, 25),
    "okx": (25.0, 25),
}
# The other private calls (order lookups, positions, balance, settings), limited apart: Bybit
# 50/s for its position and order queries, Binance USD-M 2,400 weight a minute (lookups weigh
# 1-5), OKX 20 per 2 s for its account endpoints.
QUERY_LIMITS: dict[str, tuple[float, int]] = {
    "bybit": (40.0, 40),
    "binanceusdm": (20.0, 20),
    "okx": (10.0, 10),
}


class TokenBucket:
    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs a positive rate and a burst of at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._stamp = clock()
        self._lock = asyncio.Lock()

    @classmethod
    def for_exchange(cls, exchange: str, *, queries: bool = False) -> TokenBucket:
        """The bucket of an exchange's orders, or of its other private calls."""
        rate, burst = (QUERY_LIMITS if queries else LIMITS).get(exchange, (5.0, 5))
        return cls(rate, burst)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def wait_time(self) -> float:
        """Seconds until a call may go (0 when a token is there)."""
        self._refill()
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    async def acquire(self) -> float:
        """Take a token, waiting for one if need be; returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            while (wait := self.wait_time()) > 0:
                waited += wait
                await asyncio.sleep(wait)
            self._tokens -= 1
        return waited

    def drain(self, seconds: float) -> None:
        """After the exchange said "too many requests": no call for `seconds`."""
        self._refill()
        self._tokens = min(self._tokens, 0.0) - seconds * self.rate
