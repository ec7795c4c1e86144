"""One backtest, start to end: what `manage.py backtest` and the dashboard's jobs both run.

Data files are read as ticks, fed to a `Backtest` of the scenario, and summed up in the
report's figures. Candles turn the sentiment filter off (they carry no taker side). Progress is
the share of the files' bytes on disk read so far, told to a callback at most every
`PROGRESS_EVERY_S` seconds (a terminal bar, or a job row in the database), and 1.0 at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from trading.backtest.funding import read_funding
from trading.backtest.readers import ReadStats, open_ticks
from trading.backtest.runner import Backtest
from trading.backtest.scenario import Scenario
from trading.engine import SentimentConfig

PROGRESS_EVERY_S: Final = 0.25

ProgressCallback = Callable[[float], None]


@dataclass(frozen=True)
class Replay:
    """A finished replay: the backtest (orders, ledger, curve), its summary and what was read."""

    backtest: Backtest
    summary: dict[str, Any]
    stats: ReadStats


def replay(
    scenario: Scenario,
    paths: Sequence[str | Path],
    *,
    fee_rate: float = 0.0,
    slippage_bps: float = 0.0,
    funding_paths: Sequence[str | Path] = (),
    on_progress: ProgressCallback | None = None,
    progress_every_s: float = PROGRESS_EVERY_S,
) -> Replay:
    """Replay the data files, in the order given, through the scenario with simulated fills.

    The summary has the keys of `backtest --json`: `Backtest.summary()` with the rows skipped,
    the ticks per second, and `candles`. `on_progress(share)` is called with a share of the
    bytes read that only grows, at most every `progress_every_s` seconds, and with 1.0 once
    the last tick is in. `funding_paths` are funding-rate files (`backtest.funding`), read
    whole before the first tick. Raises DataFileError for a file that cannot be replayed, up
    front (missing, unknown format, trades mixed with candles, any fault in a funding file) or
    at its first bad line.
    """
    funding = read_funding(funding_paths, scenario.symbol) if funding_paths else None
    stream = open_ticks(paths)
    stats = stream.stats
    sentiment = scenario.sentiment
    if stats.candles:
        sentiment = SentimentConfig(False, sentiment.window_s, sentiment.threshold)
    backtest = Backtest(
        scenario,
        fee_rate=fee_rate,
        slippage_bps=slippage_bps,
        sentiment=sentiment,
        funding=funding,
    )
    progress = _Progress(on_progress, stats, progress_every_s)
    started = time.perf_counter()
    with stream:
        for batch in stream:
            backtest.feed(batch.ts, batch.price, batch.qty)
            progress.update()
    seconds = time.perf_counter() - started
    progress.finish()
    summary = backtest.summary(skipped_rows=stats.skipped_rows, seconds=seconds)
    summary["candles"] = stats.candles
    return Replay(backtest, summary, stats)


class _Progress:
    """Tells a callback the share of bytes read: growing, throttled, and 1.0 at the end."""

    def __init__(self, callback: ProgressCallback | None, stats: ReadStats, every_s: float):
        self._callback = callback
        self._stats = stats
        self._every_s = every_s
        self._told = 0.0
        self._told_at = time.monotonic()

    def update(self) -> None:
        if self._callback is None:
            return
        now = time.monotonic()
        if now - self._told_at < self._every_s:
            return
        total = self._stats.total_bytes
        share = min(self._stats.bytes_read / total, 1.0) if total else 1.0
        if share > self._told:
            self._told, self._told_at = share, now
            self._callback(share)

    def finish(self) -> None:
        if self._callback is not None and self._told < 1.0:
            self._told = 1.0
            self._callback(1.0)
