"""The replay feed paces a file on a thread of its own, as an exchange on a socket would."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from trading.feeds.replay import ReplayFeed


def trades_file(tmp_path: Path, rows: list[tuple[int, float, float]]) -> Path:
    path = tmp_path / "trades.csv"
    lines = ["timestamp,price,amount,side"]
    lines += [f"{ts},{price},{abs(qty)},{'buy' if qty > 0 else 'sell'}" for ts, price, qty in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


ROWS = [(1_000 + 20 * i, 100.0 + i, 1.0 if i % 2 else -1.0) for i in range(30)]


def test_every_tick_comes_in_order_at_its_due_time(tmp_path: Path) -> None:
    feed = ReplayFeed(trades_file(tmp_path, ROWS), speed=2)  # a tick every 10 ms

    async def take() -> list[tuple[float, float, list[tuple[int, float, float]]]]:
        got = []
        start = time.perf_counter()
        async for batch in feed.batches():
            got.append((feed.received_at - start, time.perf_counter() - start, batch))
        return got

    got = asyncio.run(take())
    assert [tick for *_, batch in got for tick in batch] == ROWS
    for received, taken, batch in got:
        due = (batch[0][0] - ROWS[0][0]) / 1000 / 2
        assert abs(received - due) < 0.005  # the tick's due time, not the bot's
        assert taken >= received


def test_a_feed_stopped_midway_stops_reading(tmp_path: Path) -> None:
    far = [(1_000, 100.0, 1.0), (3_600_000, 101.0, 1.0)]  # the second an hour on
    feed = ReplayFeed(trades_file(tmp_path, far), speed=1)

    async def first_then_stop() -> tuple[list[tuple[int, float, float]], float]:
        batches = feed.batches()
        first = await anext(batches)
        started = time.perf_counter()
        await batches.aclose()
        return first, time.perf_counter() - started

    first, stopping_s = asyncio.run(first_then_stop())
    assert first == [far[0]]
    assert stopping_s < 1.0  # the pacer's wait for the next tick ends at once
