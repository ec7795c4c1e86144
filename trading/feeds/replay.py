"""Replay a recorded file at a multiple of real time, event time taken from the file.

At speed 0 the file streams as fast as the bot takes it, batch by batch; otherwise each tick
is released when its time comes, `(ts - first_ts) / speed` after the start. Either way the
engine sees the file's own timestamps, so a replay gives exactly the backtest's orders.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from trading.backtest.rows import Tick, open_rows
from trading.feeds.base import Ticks

# At speed 0, the ticks read and handed over at a time (some 15 ms of parsing); at a speed,
# the most one hand-over holds when the bot is late.
BATCH = 4096
# At a speed, the ticks read ahead of their due time, and how: SLICE at a time (some 0.25 ms
# of parsing), while the next tick is due more than SLACK_S later.
AHEAD = 4096
SLICE = 64
SLACK_S = 0.002


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
        # Opening reads the file's head: a missing file or unknown format fails here. The
        # pure-Python reader keeps pyarrow and numpy out of the bot's memory.
        self._ticks = open_rows(path)
        self.received_at = time.perf_counter()

    async def batches(self) -> AsyncIterator[Ticks]:
        if self.speed == 0:
            with contextlib.closing(self._ticks) as ticks:
                while batch := list(itertools.islice(ticks, BATCH)):
                    self.received_at = time.perf_counter()
                    yield batch
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
            with contextlib.closing(self._ticks) as ticks:
                ahead = _ReadAhead(ticks)
                ahead.read(AHEAD)
                first_ts = ahead.next_ts()
                if first_ts is None:
                    return
                start_wall = time.perf_counter()

                def due(ts: int) -> float:
                    return start_wall + (ts - first_ts) / 1000 / self.speed

                while (ts := ahead.next_ts()) is not None:
                    if stop.is_set():  # however late the bot is, it stops reading at once
                        return
                    tick_due = due(ts)
                    # Parsing takes the interpreter from the bot's thread, and reading the file
                    # may have to wait for it: it is done while no tick is due, a slice at a
                    # time, handing the interpreter over between slices.
                    while not ahead.full and tick_due - time.perf_counter() > SLACK_S:
                        ahead.read(SLICE)
                        time.sleep(0)
                    wait = tick_due - time.perf_counter()
                    if wait > 0 and stop.wait(wait):
                        return
                    # Every tick due by now goes over in one hand-over, as a socket delivers
                    # what came in one message.
                    now = time.perf_counter()
                    handed = [ahead.pop()]
                    while len(handed) < BATCH and (ts := ahead.next_ts()) is not None:
                        if due(ts) > now:
                            break
                        handed.append(ahead.pop())
                    loop.call_soon_threadsafe(arrivals.put_nowait, (tick_due, handed))
        finally:
            with contextlib.suppress(RuntimeError):  # the loop may be gone: nobody to tell
                loop.call_soon_threadsafe(arrivals.put_nowait, None)


class _ReadAhead:
    """Ticks read from the file ahead of their due time."""

    def __init__(self, ticks: Iterator[Tick]) -> None:
        self._ticks = ticks
        self._ahead: collections.deque[Tick] = collections.deque()
        self._ended = False

    @property
    def full(self) -> bool:
        return self._ended or len(self._ahead) >= AHEAD

    def read(self, count: int) -> None:
        before = len(self._ahead)
        self._ahead.extend(itertools.islice(self._ticks, count))
        self._ended = len(self._ahead) - before < count

    def next_ts(self) -> int | None:
        """The time of the next tick, read now if need be; None after the last one."""
        if not self._ahead and not self._ended:
            self.read(SLICE)
        return self._ahead[0][0] if self._ahead else None

    def pop(self) -> Tick:
        return self._ahead.popleft()
