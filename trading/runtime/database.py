"""The bot's database threads: one for the order path, one for everything else.

Each is one thread with its own connection. The order path (`orders`: intents, already in the
symbol's journal, outcomes, tier state) never queues behind the bot's housekeeping (`house`:
reloads, status, heartbeats, the daily loss tally, funding), which can take 10-15 ms a call.
A call reaches its thread once the event loop's turn is done, with every other call made in
that turn: the thread then wakes once for a batch, after its orders have gone out, instead of
taking the interpreter from the loop while they are being sent. On the order path's thread, the
bot's own records go strictly in the order they were asked, so that the database takes every
write of tier state in the order the engine made it; the paper account's work (`later=True`),
which writes no tier state, waits behind them, so that a burst of paper fills does not hold up
the next intent.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from django.db import Error, close_old_connections

T = TypeVar("T")

Job = tuple[int, int, Future[Any], Callable[[], Any]]


class DatabaseThread:
    def __init__(self, name: str) -> None:
        self.name = f"levelbot-{name}"
        self.jobs: queue.PriorityQueue[Job] = queue.PriorityQueue()
        self.order = itertools.count()  # first come, first served within a priority
        self.thread: threading.Thread | None = None
        self.starting = threading.Lock()
        self.deferred: list[Job] = []  # calls made in this turn of the event loop

    def submit(
        self, fn: Callable[..., T], *args: Any, later: bool = False, **kwargs: Any
    ) -> asyncio.Future[T]:
        """Hand the call over once the event loop's turn is done; the future gives its result.
        Calls run in the order they were made, except that one made `later` waits until no
        other is queued."""
        future: Future[T] = Future()
        call = functools.partial(fn, *args, **kwargs)
        if not self.deferred:
            asyncio.get_running_loop().call_soon(self._hand_over)
        self.deferred.append((1 if later else 0, next(self.order), future, call))
        if self.thread is None:
            self._start()
        return asyncio.wrap_future(future)

    def _hand_over(self) -> None:
        deferred, self.deferred = self.deferred, []
        for job in deferred:
            self.jobs.put(job)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.submit(fn, *args, **kwargs)

    def _start(self) -> None:
        with self.starting:
            if self.thread is None:
                self.thread = threading.Thread(target=self._work, name=self.name, daemon=True)
                self.thread.start()

    def _work(self) -> None:
        while True:
            _, _, future, call = self.jobs.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as e:
                if isinstance(e, Error):
                    # A connection the database dropped is closed here and opened afresh by
                    # the next call, as Django does between requests.
                    close_old_connections()
                future.set_exception(e)
            else:
                future.set_result(result)


orders = DatabaseThread("orders")
house = DatabaseThread("house")
checkpoints = DatabaseThread("checkpoints")  # SQLite's WAL checkpoint waits on its fsync here
