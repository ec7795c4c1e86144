"""Engine throughput: ticks per second for 1, 100 and 1,000 levels on one symbol.

Replays the recorded Binance USD-M BTCUSDT trades of 2024-08-08 (21,313 trades) end to end,
repeated with shifted timestamps to about a million ticks, through one SymbolEngine with
sentiment on. Levels are spread evenly over the price range of the capture (plus 1% each side),
so quiet ticks and crossings both occur as they would for a trader's real levels. The floor is
a bare Python loop over the same tick list in the same run: compare ratios, not absolute
figures, on a shared machine.

Run: `make bench` (or `.venv/bin/python bench/engine.py [--repeat N] [--runs N]`).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trading.engine import LevelConfig, SentimentConfig, SymbolEngine, Tick, Tiers  # noqa: E402

DATA = (
    ROOT.parent
    / "shared"
    / "data"
    / "trades"
    / "binance_usdm_BTCUSDT_trades_2024-08-08T2354_hftbacktest.csv"
)
TIERS = Tiers("0.005", "0.003", "0.0015")


def load_ticks(repeat: int) -> list[tuple[int, float, float]]:
    with DATA.open(newline="") as f:
        rows = [
            Tick.trade(int(r["timestamp"]), float(r["price"]), r["side"], float(r["amount"]))
            for r in csv.DictReader(f)
            if r["type"] == "MARKET"
        ]
    span = rows[-1].ts - rows[0].ts + 1
    return [(ts + i * span, price, qty) for i in range(repeat) for ts, price, qty in rows]


def spread_levels(n: int, low: float, high: float) -> list[LevelConfig]:
    low, high = low * 0.99, high * 1.01
    step = (high - low) / (n + 1)
    return [LevelConfig(i, round(low + step * (i + 1), 1), 0.01, 1000) for i in range(n)]


def floor_rate(ticks: list[tuple[int, float, float]]) -> float:
    start = time.perf_counter()
    moved = 0
    last = 0.0
    for _ts, price, _qty in ticks:
        if price != last:
            moved += 1
        last = price
    return len(ticks) / (time.perf_counter() - start)


def engine_rate(
    ticks: list[tuple[int, float, float]], levels: list[LevelConfig]
) -> tuple[float, int]:
    engine = SymbolEngine(TIERS, levels, SentimentConfig(enabled=True, window_s=60, threshold=0.6))
    start = time.perf_counter()
    events = engine.run(ticks)
    return len(ticks) / (time.perf_counter() - start), len(events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=47, help="times the capture is replayed")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure; the median is shown")
    args = parser.parse_args()

    ticks = load_ticks(args.repeat)
    prices = [t[1] for t in ticks]
    low, high = min(prices), max(prices)
    print(f"{len(ticks):,} ticks from {DATA.name}, sentiment on, median of {args.runs} runs")
    floor = statistics.median(floor_rate(ticks) for _ in range(args.runs))
    print(f"{'bare Python loop (floor)':<28}{floor:>14,.0f} ticks/s")
    for n in (1, 100, 1000):
        levels = spread_levels(n, low, high)
        runs = [engine_rate(ticks, levels) for _ in range(args.runs)]
        rate = statistics.median(r for r, _ in runs)
        events = runs[0][1]
        print(
            f"{f'engine, {n:,} level' + ('s' if n > 1 else ''):<28}{rate:>14,.0f} ticks/s"
            f"   floor/engine {floor / rate:5.1f}x   events {events:,}"
        )


if __name__ == "__main__":
    main()
