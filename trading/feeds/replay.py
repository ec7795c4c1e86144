"""Replay a recorded file at a multiple of real time, event time taken from the file.

At speed 0 the file streams as fast as the bot takes it, batch by batch; otherwise each tick
is released when its time comes, `(ts - first_ts) / speed` after the start. Either way the
engine sees the file's own timestamps, so a replay gives exactly the backtest's orders.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

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
        with self._stream as stream:
            if self.speed == 0:
                for batch in stream:
                    self.received_at = time.perf_counter()
                    yield list(batch)
                    await asyncio.sleep(0)
                return
            # A tick comes in at its due time: a batch that waited for the bot counts that wait.
            start_wall = time.perf_counter()
            first_ts: int | None = None
            pending: Ticks = []
            for batch in stream:
                for tick in batch:
                    if first_ts is None:
                        first_ts = tick[0]
                    due = start_wall + (tick[0] - first_ts) / 1000 / self.speed
                    wait = due - time.perf_counter()
                    if wait > 0:
                        if pending:
                            yield pending
                            pending = []
                        await asyncio.sleep(wait)
                    if not pending:
                        self.received_at = min(due, time.perf_counter())
                    pending.append(tick)
            if pending:
                yield pending
