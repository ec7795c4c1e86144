"""A symbol's orders between the written intent and the exchange's answer.

Orders go out without holding up the ticks behind them: each waits for its answer while the
engine goes on with the next batch, whose orders may go out too. No order goes out before its
intent is in the symbol's journal (`journal.py`). What the exchange must see
in order is kept so, per position side (hedge mode keeps the two sides apart): a close goes
out once every order before it on its side is answered, and an entry waits for a close before
it on its side. A batch's orders that wait for nothing reach the exchange adapter together,
which sends them in one request where the exchange takes several (Bybit's batch order), and
each order's answer is taken as soon as it comes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from trading.engine import OrderIntent
from trading.exchange.base import FILLED, Exchange, OrderRequest, OrderResult
from trading.runtime.gcpause import collections_deferred

Sent = asyncio.Future[OrderResult | None]


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
        self.sending: set[asyncio.Task[None]] = set()  # kept: the loop holds tasks weakly
        self.round_trip_ms: float | None = None  # the last answer's, from sending to it
        # Each order's way from its tick's arrival to the exchange, in milliseconds: the whole
        # (`Latency.total`) and its parts.
        self.latencies_ms: deque[Latency] = deque(maxlen=10_000)

    def send(
        self, orders: Sequence[tuple[OrderIntent, str]], times: tuple[float, float, float]
    ) -> list[Sent]:
        """Start sending a batch's orders, whose intents are journalled; `times` are when
        their tick arrived, when the decision was made and when it was journalled
        (`perf_counter`). The orders that wait for nothing go to the exchange together, in one
        request where it takes several; each of the others goes once those it waits for are
        answered. Each future gives its order's result, or None when the answer never came
        (the intent then stays for recovery). No garbage collection comes in between the
        decision and the answers (a full one takes 40-80 ms)."""
        loop = asyncio.get_running_loop()
        sent: list[Sent] = []
        ready: list[tuple[OrderIntent, str, Sent]] = []
        for order, cid in orders:
            flying = self.in_flight.setdefault(order.side, set())
            if order.action == "close":
                before = list(flying)
            else:
                close = self.closing.get(order.side)
                before = [close] if close is not None and not close.done() else []
            answer: Sent = loop.create_future()
            collections_deferred.hold()
            answer.add_done_callback(collections_deferred.release)
            flying.add(answer)
            answer.add_done_callback(flying.discard)
            if order.action == "close":
                self.closing[order.side] = answer
            if before:
                self._start([(order, cid, answer)], times, before)
            else:
                ready.append((order, cid, answer))
            sent.append(answer)
        if ready:
            self._start(ready, times, [])
        return sent

    def _start(
        self,
        group: list[tuple[OrderIntent, str, Sent]],
        times: tuple[float, float, float],
        before: list[Sent],
    ) -> None:
        task = asyncio.create_task(self._send(group, times, before))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)
        # An answer the task did not give (it was stopped, even before it began) is cancelled.
        task.add_done_callback(lambda _: [answer.cancel() for *_, answer in group])

    async def _send(
        self,
        group: list[tuple[OrderIntent, str, Sent]],
        times: tuple[float, float, float],
        before: list[Sent],
    ) -> None:
        if before:
            await asyncio.wait(before)
        requests = [
            OrderRequest(
                self.exchange_id,
                self.symbol,
                order.side,
                order.action,
                order.size,
                order.price,
                cid,
            )
            for order, cid, _ in group
        ]
        arrived, decided, journalled = times
        latency = Latency(
            (time.perf_counter() - arrived) * 1000,
            (decided - arrived) * 1000,
            (journalled - decided) * 1000,
        )
        self.latencies_ms.extend([latency] * len(group))
        started = time.perf_counter()
        try:
            async with contextlib.aclosing(self.exchange.place_orders(requests)) as answers:
                async for position, outcome in answers:
                    self._answer(group[position], outcome, started, latency)
        except Exception as e:  # an adapter that broke its promise not to raise
            for member in group:
                self._answer(member, e, started, latency)

    def _answer(
        self,
        member: tuple[OrderIntent, str, Sent],
        outcome: OrderResult | Exception,
        started: float,
        latency: Latency,
    ) -> None:
        order, cid, answer = member
        if answer.done():
            return
        took_ms = self.round_trip_ms = (time.perf_counter() - started) * 1000
        try:
            answer.set_result(self._answered(order, cid, outcome, took_ms, latency))
        except Exception as e:
            answer.set_exception(e)

    def _answered(
        self,
        order: OrderIntent,
        cid: str,
        outcome: OrderResult | Exception,
        took_ms: float,
        latency: Latency,
    ) -> OrderResult | None:
        """An order's answer, logged; None when its outcome is unknown."""
        if isinstance(outcome, Exception):
            # OrderOutcomeUnknown, or an adapter that broke its promise not to raise
            error = f"{type(outcome).__name__}: {outcome}"
            self.log.error("order failed", client_order_id=cid, error=error)
            self.on_error(error)
            return None
        self.log.info(
            "order " + outcome.status,
            client_order_id=cid,
            side=order.side,
            action=order.action,
            size=order.size,
            price=outcome.price,
            level_id=order.level_id,
            reason=order.reason,
            latency_ms=round(took_ms, 2),
            tick_to_order_ms=round(latency.total, 3),
            error=outcome.error or None,
        )
        if outcome.status != FILLED:
            self.on_error(outcome.error)
        return outcome

    def latency_summary(self) -> dict[str, float | int | None]:
        """Tick-to-order latency: a tick's arrival to each of its orders reaching the exchange;
        with the 99th percentiles of its parts: up to the decision (the tick waiting for its
        batch's turn, and the engine), and the intents' journalling."""
        if not self.latencies_ms:
            return {"orders": 0, "latency_p50_ms": None, "latency_p99_ms": None}
        samples = self.latencies_ms
        total, to_decision, journal = (
            sorted(getattr(sample, part) for sample in samples) for part in Latency._fields
        )

        def pick(samples: list[float], q: float) -> float:
            return round(samples[min(len(samples) - 1, int(q * len(samples)))], 3)

        return {
            "orders": len(total),
            "latency_p50_ms": pick(total, 0.5),
            "latency_p99_ms": pick(total, 0.99),
            "decision_p99_ms": pick(to_decision, 0.99),
            "journal_p99_ms": pick(journal, 0.99),
        }


class Latency(NamedTuple):
    """One order's way to the exchange, in milliseconds from its tick's arrival."""

    total: float  # to the exchange adapter
    to_decision: float  # to the batch's decision: waiting for its turn, and the engine
    journal: float  # from the decision until its intents were journalled
