"""The replay feed paces a file on a thread of its own, as an exchange on a socket would."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.runtime.conftest import ROOT
from tests.shared_data import TRADES
from trading.backtest.readers import open_ticks
from trading.feeds.replay import AHEAD, BATCH, ReplayFeed


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


LONG = [(1_000 + 5 * i, 100.0 + i % 50, 1.0 if i % 3 else -1.0) for i in range(2 * AHEAD + 100)]


def every_batch(feed: ReplayFeed) -> list[list[tuple[int, float, float]]]:
    async def take() -> list[list[tuple[int, float, float]]]:
        return [batch async for batch in feed.batches()]

    return asyncio.run(take())


def test_a_long_file_at_a_speed_comes_whole_and_in_order(tmp_path: Path) -> None:
    # more ticks than are read ahead: the pacer reads on as it hands them over
    batches = every_batch(ReplayFeed(trades_file(tmp_path, LONG), speed=200))  # 0.2 s
    assert [tick for batch in batches for tick in batch] == LONG
    assert len(batches) > 1


def test_as_fast_as_possible_the_file_comes_in_batches(tmp_path: Path) -> None:
    batches = every_batch(ReplayFeed(trades_file(tmp_path, LONG), speed=0))
    assert [tick for batch in batches for tick in batch] == LONG
    assert len(batches) > 1
    assert all(len(batch) == BATCH for batch in batches[:-1])


def test_a_replay_loads_neither_pyarrow_nor_numpy() -> None:
    # pyarrow and numpy would cost the bot some 45 MB; the replay reads with the csv module.
    path = TRADES / "binance_usdm_ETHUSDT_trades_2024-08-08T2354_hftbacktest.csv"
    probe = (
        "import asyncio, django, json, sys; django.setup()\n"
        "import trading.runtime.bot\n"
        "from pathlib import Path\n"
        "from trading.feeds.replay import ReplayFeed\n"
        "async def read():\n"
        "    feed = ReplayFeed(Path(sys.argv[1]), speed=0)\n"
        "    return [t async for b in feed.batches() for t in b]\n"
        "ticks = asyncio.run(read())\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'pyarrow', 'numpy'})\n"
        "print(json.dumps({'ticks': len(ticks), 'last': ticks[-1], 'loaded': loaded}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(path)],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "levelbot.settings"},
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout)
    expected = [tick for batch in open_ticks([path]) for tick in batch]
    assert (report["ticks"], tuple(report["last"])) == (len(expected), expected[-1])
    assert report["loaded"] == []
