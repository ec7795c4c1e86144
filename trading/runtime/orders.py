"""A symbol's orders between the written intent and the exchange's answer.

Orders go out without holding up the ticks behind them: each waits for its intent's write and
then for its answer while the engine goes on with the next batch, whose orders may go out too.
No order goes out before its intent is written. What the exchange must see
in order is kept so, per position side (hedge mode keeps the two sides apart): a close goes
out once every order before it on its side is answered, and an entry waits for a close before
it on its side; entries beside each other go out at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from trading.engine import OrderIntent
from trading.exchange.base import FILLED, Exchange, OrderRequest, OrderResult
from trading.runtime.gcpause import collections_deferred

Sent = asyncio.Task[OrderResult | None]


class OrderFlow:
    def __init__(
        self,
        exchange: Exchange,
        exchange_id: str,
        symbol: str,
        *,
        log: Any,
        on_error: Callable[[str], None],
    ) -> None:
        self.exchange = exchange
        self.exchange_id = exchange_id
        self.symbol = symbol
        self.log = log
        self.on_error = on_error  # an order's refusal or failure, in words
        self.in_flight: dict[str, set[Sent]] = {}  # side -> its orders not answered yet
        self.closing: dict[str, Sent] = {}  # side -> its last close, which entries wait for
        self.round_trip_ms: float | None = None  # the last order's, from sending to its answer
        # Milliseconds from a tick's arrival to each of its orders reaching the exchange.
        self.latencies_ms: deque[float] = deque(maxlen=10_000)

    def send(
        self, order: OrderIntent, cid: str, arrived: float, written: asyncio.Future[Any]
    ) -> Sent:
        """Start sending an order once `written` (its intent's write) is done; the task gives
        its result, or None when the answer never came (the intent then stays for recovery)
        or the intent could not be written (the order never goes out). No garbage collection
        comes in between the decision and the answer (a full one takes 40-80 ms)."""
        flying = self.in_flight.setdefault(order.side, set())
        if order.action == "close":
            before = list(flying)
        else:
            close = self.closing.get(order.side)
            before = [close] if close is not None and not close.done() else []
        collections_deferred.__enter__()
        task = asyncio.create_task(self._send(order, cid, arrived, written, before))
        task.add_done_callback(collections_deferred.resume_after)
        flying.add(task)
        task.add_done_callback(flying.discard)
        if order.action == "close":
            self.closing[order.side] = task
        return task

    async def _send(
        self,
        order: OrderIntent,
        cid: str,
        arrived: float,
        written: asyncio.Future[Any],
        before: list[Sent],
    ) -> OrderResult | None:
        try:
            await asyncio.shield(written)
        except Exception:
            return None  # the intent was not written: the order does not go out
        if before:
            await asyncio.wait(before)
        request = OrderRequest(
            self.exchange_id, self.symbol, order.side, order.action, order.size, order.price, cid
        )
        self.latencies_ms.append((time.perf_counter() - arrived) * 1000)
        started = time.perf_counter()
        try:
            result = await self.exchange.place_order(request)
        except Exception as e:  # an adapter that broke its promise not to raise
            error = f"{type(e).__name__}: {e}"
            self.log.error("order failed", client_order_id=cid, error=error)
            self.on_error(error)
            return None
        took_ms = self.round_trip_ms = (time.perf_counter() - started) * 1000
        self.log.info(
            "order " + result.status,
            client_order_id=cid,
            side=order.side,
            action=order.action,
            size=order.size,
            price=result.price,
            level_id=order.level_id,
            reason=order.reason,
            latency_ms=round(took_ms, 2),
            error=result.error or None,
        )
        if result.status != FILLED:
            self.on_error(result.error)
        return result

    def latency_summary(self) -> dict[str, float | int | None]:
        """Tick-to-order latency: a tick's arrival to each of its orders reaching the exchange."""
        samples = sorted(self.latencies_ms)
        if not samples:
            return {"orders": 0, "latency_p50_ms": None, "latency_p99_ms": None}

        def pick(q: float) -> float:
            return round(samples[min(len(samples) - 1, int(q * len(samples)))], 3)

        return {"orders": len(samples), "latency_p50_ms": pick(0.5), "latency_p99_ms": pick(0.99)}
