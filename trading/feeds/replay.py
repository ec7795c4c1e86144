"""Replay a recorded file at a multiple of real time, event time taken from the file.

At speed 0 the file streams as fast as the bot takes it, batch by batch; otherwise each tick
is released when its time comes, `(ts - first_ts) / speed` after the start. Either way the
engine sees the file's own timestamps, so a replay gives exactly the backtest's orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np

from trading.backtest.readers import open_ticks
from trading.feeds.base import Ticks


def parse_replay_spec(spec: str) -> tuple[Path, float]:
    """`PATH[@SPEED]` -> (path, speed); raises ValueError with a sentence."""
    path, _, speed_text = spec.rpartition("@") if "@" in spec else (spec, "", "1")
    try:
        speed = float(speed_text)
    except ValueError:
        raise ValueError(f"replay speed {speed_text!r} is not a number (PATH@SPEED).") from None
    if not speed >= 0:
        raise ValueError("the replay speed must be 0 (as fast as possible) or more.")
    return Path(path), speed


class ReplayFeed:
    can_stall = False
    reconnects = 0
    last_error = ""

    def __init__(self, path: Path, speed: float) -> None:
        self.path = path
        self.speed = speed
        self.description = f"replay:{path}@{speed:g}"
        # Opening reads each file's head: a missing file or unknown format fails here.
        self._stream = open_ticks([path])
        self.received_at = time.perf_counter()

    async def batches(self) -> AsyncIterator[Ticks]:
        if self.speed == 0:
            with self._stream as stream:
                for batch in stream:
                    self.received_at = time.perf_counter()
                    yield list(batch)
                    await asyncio.sleep(0)
            return
        # The file is read and paced on a thread of its own, as an exchange sends from the
        # other end of a socket: each tick is handed over at its due time (a thread's sleep
        # keeps time to a few microseconds, the event loop's timers to a millisecond), and
        # ticks the bot has not taken yet when more come go to it together, as a live feed's
        # do. A tick's latency starts at its due time: waiting for the bot counts.
        loop = asyncio.get_running_loop()
        arrivals: asyncio.Queue[tuple[float, Ticks] | None] = asyncio.Queue()
        stop = threading.Event()
        pacer = asyncio.ensure_future(asyncio.to_thread(self._pace, loop, arrivals, stop))
        try:
            while (arrival := await arrivals.get()) is not None:
                self.received_at, batch = arrival
                while not arrivals.empty():
                    more = arrivals.get_nowait()
                    if more is None:
                        yield batch
                        return
                    batch += more[1]
                yield batch
        finally:
            stop.set()
            await asyncio.wait([pacer])

    def _pace(
        self,
        loop: asyncio.AbstractEventLoop,
        arrivals: asyncio.Queue[tuple[float, Ticks] | None],
        stop: threading.Event,
    ) -> None:
        try:
            with self._stream as stream:
                start_wall = time.perf_counter()
                first_ts: int | None = None
                for batch in stream:
                    if not len(batch):
                        continue
                    if first_ts is None:
                        first_ts = int(batch.ts[0])
                    # Each tick's due time on this clock; every tick due by now goes over in
                    # one hand-over, as a socket delivers what came in one message.
                    due = start_wall + (batch.ts - first_ts) / 1000 / self.speed
                    start = 0
                    while start < len(due):
                        if stop.is_set():  # however late the bot is, it stops reading at once
                            return
                        wait = float(due[start]) - time.perf_counter()
                        if wait > 0 and stop.wait(wait):
                            return
                        end = int(np.searchsorted(due, time.perf_counter(), side="right"))
                        end = max(end, start + 1)
                        ticks = list(batch[start:end])
                        loop.call_soon_threadsafe(arrivals.put_nowait, (float(due[start]), ticks))
                        start = end
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may be gone: nobody to tell
                loop.call_soon_threadsafe(arrivals.put_nowait, None)
