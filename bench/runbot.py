"""runbot's budgets: peak memory and tick-to-order latency with 100 levels on one symbol.

Sets up a fresh SQLite database in a temporary folder with 100 levels spread over the price
range of the recorded Binance USD-M BTCUSDT trades of 2024-08-08 (tiers 0.5/0.3/0.15%,
sentiment on), then runs `manage.py runbot` on the paper exchange three times: 30 s on the
synthetic feed, and over a replay of that capture (read row by row in Python: no pyarrow or
numpy in the bot) at 20x real time (ticks arrive a few at a time, as live) and as fast as
possible.
Peak RSS comes from the operating system (wait4), the latency from the bot's own "symbol
stopped" log line: from a tick's arrival at the feed to each order reaching the exchange
adapter, with the 99th percentiles of two parts (up to the decision, and the intents'
journalling: `trading/runtime/journal.py`). With about 90 orders a run, a run's p99 is its slowest
order, so each case runs `--runs` times (3 by default) and the medians are shown, and so are
the percentiles of every order of every run pooled (each order's own log line gives its
latency).

Run: `make bench`, or `.venv/bin/python bench/runbot.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.backtest import HIGH, LEVELS, LOW  # noqa: E402
from bench.engine import DATA, spread_levels  # noqa: E402


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr}")


def run_bot(env: dict[str, str], *args: str) -> dict[str, object]:
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "manage.py", "runbot", "--exchange", "binanceusdm", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # the log lines are JSON; anything else is an error to show
        text=True,
    )
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"runbot {' '.join(args)} exited with {status}:\n{out[-4000:]}")
    seconds = time.perf_counter() - started
    return {**bot_report(out), "peak_mb": usage.ru_maxrss / 1024, "seconds": seconds}


def bot_report(out: str) -> dict[str, object]:
    """The bot's "symbol stopped" line, and each order's tick-to-order latency from its own
    line (`orders_ms`), so that runs can be pooled."""
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    stopped = next(line for line in lines if line.get("event") == "symbol stopped")
    orders_ms = [line["tick_to_order_ms"] for line in lines if "tick_to_order_ms" in line]
    return {**stopped, "orders_ms": orders_ms}


def pooled(runs: list[dict[str, object]]) -> str:
    """Every order of every run together: a run of some 90 orders has its slowest order for
    its p99, while the pooled p99 is the slowest 1% of all of them."""
    every = sorted(ms for run in runs for ms in run["orders_ms"])  # type: ignore[attr-defined]
    if not every:
        return "no orders"

    def pick(q: float) -> float:
        return float(every[min(len(every) - 1, int(q * len(every)))])

    over = sum(ms > 5 for ms in every)
    return (
        f"pooled over {len(every)} orders: p50 {pick(0.5):.2f} p95 {pick(0.95):.2f}"
        f" p99 {pick(0.99):.2f} ms, {over} over 5 ms"
    )


def median(runs: list[dict[str, object]], key: str) -> float:
    return statistics.median(float(run[key]) for run in runs)  # type: ignore[arg-type]


CASES = (
    ("synthetic feed, 30 s", ["--run-for", "30"]),
    ("replay at 20x real time", [f"--feed=replay:{DATA}@20"]),
    ("replay as fast as possible", [f"--feed=replay:{DATA}@0"]),
)


def levels_scenario(exchange: str, **level_fields: object) -> dict[str, object]:
    """The benchmark's scenario: LEVELS levels spread over the capture's price range, tiers
    0.5/0.3/0.15%, sentiment on; `level_fields` added to every level."""
    return {
        "exchange": exchange,
        "symbol": "BTC/USDT:USDT",
        "tiers": {"tier1_pct": 0.005, "tier2_pct": 0.003, "tier3_pct": 0.0015},
        "sentiment": {"enabled": True, "window_s": 60, "threshold": 0.6},
        "levels": [
            {
                "id": str(c.level_id),
                "level_price": float(c.level_price),
                "base_size": c.base_size,
                "cool_down_ms": c.cool_down_ms,
                **level_fields,
            }
            for c in spread_levels(LEVELS, LOW, HIGH)
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each case; medians shown")
    runs_of_each = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if k != "LEVELBOT_DEMO"}
        env["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
        env["LEVELBOT_JOURNAL_DIR"] = f"{folder}/journal"
        scenario = levels_scenario("binanceusdm")
        path = Path(folder) / "scenario.json"
        path.write_text(json.dumps(scenario))
        manage(env, "migrate", "--noinput")
        manage(env, "import_scenario", str(path))
        runs: dict[str, list[dict[str, object]]] = {name: [] for name, _ in CASES}
        for _ in range(runs_of_each):  # the cases in turn, so that a noisy minute hits all
            for name, args in CASES:
                manage(env, "flush", "--noinput")
                manage(env, "import_scenario", str(path))
                runs[name].append(run_bot(env, *args))
    print(
        f"runbot, {LEVELS} levels on one symbol, paper exchange; replays of {DATA.name}; "
        f"medians of {runs_of_each} run(s)"
    )
    for name, each in runs.items():
        p99s = ", ".join(str(run["latency_p99_ms"]) for run in each)
        print(
            f"{name:<28} ticks {median(each, 'ticks'):,.0f}  orders {median(each, 'orders'):,.0f}"
            f"  tick-to-order p50 {median(each, 'latency_p50_ms'):.2f} ms"
            f"  p99 {median(each, 'latency_p99_ms'):.2f} ms"
            f" (parts' p99: to the decision {median(each, 'decision_p99_ms'):.2f},"
            f" journal {median(each, 'journal_p99_ms'):.2f})"
            f"  peak RSS {median(each, 'peak_mb'):.0f} MB  wall {median(each, 'seconds'):.1f} s"
            f"  (p99 of each run: {p99s}; {pooled(each)})"
        )


if __name__ == "__main__":
    main()
