"""Data-file reading speed: rows per second from file to `(ts, price, qty)` ticks.

Builds its files in a temporary folder from the recorded Binance USD-M BTCUSDT trades of
2024-08-08 (21,313 trades), repeated with shifted timestamps to about 2 million rows: the
canonical CSV plain and gzip-compressed, and the same trades as a header-less Binance `trades`
file. Each case streams every file through `open_ticks` and walks every tick tuple, as
`SymbolEngine.run` would. The floor is Python's csv module with int() and float() building the
same tuples, in the same run: compare ratios, not absolute figures, on a shared machine.

Run: `.venv/bin/python bench/readers.py [--rows N] [--runs N] [--chunk-rows N]`.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.engine import DATA  # noqa: E402
from trading.backtest.readers import open_ticks  # noqa: E402


def build(folder: Path, rows: int) -> dict[str, Path]:
    """The capture repeated to `rows` rows, with timestamps, clocks and ids shifted each time."""
    with DATA.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        capture = list(reader)
    span = int(capture[-1][0]) - int(capture[0][0]) + 1
    ids = int(capture[-1][2]) - int(capture[0][2]) + 1
    canonical, binance = folder / "trades.csv", folder / "BTCUSDT-trades.csv"
    with canonical.open("w") as out, binance.open("w") as bout:
        out.write(",".join(header) + "\n")
        written = 0
        repeat = 0
        while written < rows:
            shift, id_shift = repeat * span, repeat * ids
            part = capture[: rows - written]
            out.writelines(
                f"{int(ts) + shift},{int(local) + shift * 1_000_000},{int(tid) + id_shift},"
                f"{price},{amount},{side},{kind}\n"
                for ts, local, tid, price, amount, side, kind in part
            )
            bout.writelines(
                f"{int(tid) + id_shift},{price},{amount},"
                f"{float(price) * float(amount):.4f},{int(ts) + shift},"
                f"{'true' if side == 'sell' else 'false'}\n"
                for ts, _local, tid, price, amount, side, _kind in part
            )
            written += len(part)
            repeat += 1
    compressed = folder / "trades.csv.gz"
    with canonical.open("rb") as src, gzip.open(compressed, "wb", compresslevel=6) as dst:
        while block := src.read(1 << 20):
            dst.write(block)
    return {"canonical": canonical, "canonical_gz": compressed, "binance": binance}


def floor(path: Path) -> int:
    """Python's csv module, int() and float(): the same tuples, the way one would write it."""
    count = 0
    with path.open(newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for row in reader:
            if row[6] == "MARKET":
                amount = float(row[4])
                tick = (int(row[0]), float(row[3]), amount if row[5] == "buy" else -amount)
                count += tick[0] > 0
    return count


def reader(path: Path, chunk_rows: int) -> int:
    count = 0
    for batch in open_ticks([path], chunk_rows=chunk_rows):
        for _tick in batch:
            count += 1
    return count


def arrays(path: Path, chunk_rows: int) -> int:
    """Batches as numpy arrays only: the cost before tuples are made."""
    return sum(len(batch) for batch in open_ticks([path], chunk_rows=chunk_rows))


def rate(run: Callable[[], int], rows: int, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        got = run()
        times.append(time.perf_counter() - start)
        assert got == rows, f"read {got:,} rows, expected {rows:,}"
    return rows / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000, help="rows in each built file")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure; the median is shown")
    parser.add_argument("--chunk-rows", type=int, default=65536, help="open_ticks chunk_rows")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="levelbot-bench-") as tmp:
        files = build(Path(tmp), args.rows)
        sizes = ", ".join(
            f"{path.name} {path.stat().st_size / 1e6:,.1f} MB" for path in files.values()
        )
        print(f"{args.rows:,} rows from {DATA.name} ({sizes}); median of {args.runs} runs")
        chunk = args.chunk_rows
        cases: list[tuple[str, Callable[[], int]]] = [
            ("csv module + float() (floor)", lambda: floor(files["canonical"])),
            ("open_ticks, canonical CSV", lambda: reader(files["canonical"], chunk)),
            ("open_ticks, canonical .csv.gz", lambda: reader(files["canonical_gz"], chunk)),
            ("open_ticks, Binance no header", lambda: reader(files["binance"], chunk)),
            ("  arrays only, canonical CSV", lambda: arrays(files["canonical"], chunk)),
        ]
        base = 0.0
        for name, run in cases:
            figure = rate(run, args.rows, args.runs)
            base = base or figure
            print(f"{name:<32}{figure:>14,.0f} rows/s   {figure / base:5.1f}x floor")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:,.0f} MB")


if __name__ == "__main__":
    main()
