"""A live account's private streams: its positions and its orders.

ccxt.pro does not reconnect by itself: a dropped socket makes the waiting `watch_*` call raise,
and the next call connects again. `follow` loops so, with backoff and jitter, for any stream.
The order stream settles orders as soon as it tells their fill, which comes about as fast as
the order's own REST answer and saves the look-up that answer would otherwise need (Bybit's
answer to an order carries its id only). REST stays the fallback whenever the stream is
silent or down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from trading.exchange.base import OrderResult
from trading.feeds.live import backoff_delay


async def follow(
    watch: Callable[[], Awaitable[list[dict[str, Any]]]],
    on_update: Callable[[list[dict[str, Any]]], Awaitable[None]],
    *,
    name: str,
    log: Any,
    on_state: Callable[[bool], None] | None = None,
) -> None:
    """Call `watch` for ever, handing each update to `on_update`; after an error, wait with
    backoff and jitter and call it again (which reconnects). `on_state` hears whether the
    stream is up: True while a call is out, False from an error until the next call."""
    attempt = 0
    while True:
        if on_state is not None:
            on_state(True)
        try:
            updates = await watch()
            attempt = 0
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a dropped socket: ccxt reconnects on the next call
            if on_state is not None:
                on_state(False)
            delay = backoff_delay(attempt)
            attempt += 1
            text = f"{type(e).__name__}: {e}"
            log.warning(f"{name} error", error=text[:300], retry_in_s=round(delay, 2))
            await asyncio.sleep(delay)
            continue
        if updates:
            await on_update(updates)


class OrderWaiters:
    """Orders sent and not settled yet, by client id, each waiting for the stream's word."""

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[OrderResult]] = {}
        self.live = False  # whether the order stream is up, as far as the bot can tell

    def expect(self, cid: str) -> None:
        """Before the order goes out: its fill may come on the stream before the answer."""
        if cid not in self.waiting:
            self.waiting[cid] = asyncio.get_running_loop().create_future()

    def forget(self, cid: str) -> None:
        self.waiting.pop(cid, None)

    def settle(self, result: OrderResult) -> None:
        waiter = self.waiting.get(result.client_order_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(result)

    def told(self, cid: str) -> OrderResult | None:
        """The stream's word on the order, if it came."""
        waiter = self.waiting.get(cid)
        return waiter.result() if waiter is not None and waiter.done() else None

    async def wait(self, cid: str, timeout_s: float) -> OrderResult | None:
        """The stream's word on the order within `timeout_s`; None at once when the stream is
        down, or when the order was never expected."""
        waiter = self.waiting.get(cid)
        if waiter is None or not (self.live or waiter.done()):
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except TimeoutError:
            return None
