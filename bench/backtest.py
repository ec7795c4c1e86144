"""Backtest throughput end to end: file to report, parsing included, with 100 levels.

Builds a canonical trades CSV in a temporary folder from the recorded Binance USD-M BTCUSDT
trades of 2024-08-08, repeated with shifted timestamps (2 million rows by default), and replays
it through `open_ticks` and `Backtest` with 100 levels spread over the capture's price range
and sentiment on: the work `manage.py backtest` does, without Django's start-up. The end-to-end
run happens in a child process so that its peak memory is its own. Beside it, in the same run:
the engine alone over the same ticks already in memory, and a bare Python loop over them (the
floor). Compare ratios, not absolute figures, on a shared machine.

Run: `make bench`, or `.venv/bin/python bench/backtest.py [--rows N] [--runs N]`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine import TIERS, floor_rate, spread_levels  # noqa: E402
from bench.readers import build  # noqa: E402
from trading.backtest.readers import open_ticks  # noqa: E402
from trading.backtest.runner import Backtest  # noqa: E402
from trading.backtest.scenario import Scenario  # noqa: E402
from trading.engine import SentimentConfig, SymbolEngine  # noqa: E402

LEVELS = 100
# The capture's price range (61,590 to 61,840): levels spread over it as in bench/engine.py.
LOW, HIGH = 61_590.0, 61_840.0
SENTIMENT = SentimentConfig(enabled=True, window_s=60, threshold=0.6)


def scenario() -> Scenario:
    levels = tuple(spread_levels(LEVELS, LOW, HIGH))
    return Scenario("binanceusdm", "BTC/USDT:USDT", TIERS, SENTIMENT, levels)


def end_to_end(path: Path) -> dict[str, float]:
    """One replay from the file, as the command runs it; its rate and this process's peak RSS."""
    start = time.perf_counter()
    backtest = Backtest(scenario())
    with open_ticks([path]) as stream:
        for batch in stream:
            backtest.feed(batch.ts, batch.price, batch.qty)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "rate": backtest.result.ticks / seconds,
        "orders": len(backtest.result.orders),
        "peak_mb": peak_mb,
    }


def engine_only(ticks: list[tuple[int, float, float]]) -> float:
    engine = SymbolEngine(TIERS, spread_levels(LEVELS, LOW, HIGH), SENTIMENT)
    start = time.perf_counter()
    engine.run(ticks)
    return len(ticks) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs per figure; medians shown")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(end_to_end(args.child)))
        return

    with tempfile.TemporaryDirectory() as folder:
        path = build(Path(folder), args.rows)["canonical"]
        size_mb = path.stat().st_size / 1e6
        runs = []
        for _ in range(args.runs):
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(path)],
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(child.stdout))
        ticks = [t for batch in open_ticks([path]) for t in batch]
        floor = statistics.median(floor_rate(ticks) for _ in range(args.runs))
        engine = statistics.median(engine_only(ticks) for _ in range(args.runs))

    rate = statistics.median(r["rate"] for r in runs)
    peak = max(r["peak_mb"] for r in runs)
    print(
        f"{len(ticks):,} ticks, canonical CSV of {size_mb:,.0f} MB, {LEVELS} levels, "
        f"sentiment on, median of {args.runs} runs"
    )
    print(f"{'bare Python loop (floor)':<34}{floor:>14,.0f} ticks/s")
    print(
        f"{'engine alone, ticks in memory':<34}{engine:>14,.0f} ticks/s   "
        f"floor/engine {floor / engine:5.1f}x"
    )
    print(
        f"{'backtest end to end, from file':<34}{rate:>14,.0f} ticks/s   "
        f"floor/backtest {floor / rate:5.1f}x   peak RSS {peak:,.0f} MB   "
        f"orders {runs[0]['orders']:,}"
    )


if __name__ == "__main__":
    main()
