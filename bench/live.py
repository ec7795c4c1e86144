"""runbot --live on the local Bybit simulator: peak memory and tick-to-order latency.

The budget: the live bot, ccxt.pro included, within 100 MB. `manage.py exchange_sim` replays
the recorded Binance USD-M BTCUSDT trades of 2024-08-08 at 10x as Bybit's v5 public stream,
and runbot trades 100 levels spread over that capture's range through ccxt's real bybit class
(REST orders, websocket ticker and trades), with the bot's one-exchange import of ccxt. Peak
RSS comes from the operating system (wait4), the latency from the bot's own "symbol stopped"
log line, as in bench/runbot.py. The simulator is a process of its own, not counted.

Run: `make bench`, or `.venv/bin/python bench/live.py [--runs N] [--seconds S]`.
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

from bench.backtest import LEVELS  # noqa: E402
from bench.engine import DATA  # noqa: E402
from bench.runbot import bot_report, levels_scenario, pooled  # noqa: E402

SIMULATOR = (sys.executable, "manage.py", "exchange_sim")
RUNBOT = (sys.executable, "manage.py", "runbot", "--live", "--feed", "live")


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


def start_simulator(env: dict[str, str]) -> tuple[subprocess.Popen[str], str, str]:
    sim = subprocess.Popen(
        [*SIMULATOR, "--trades", str(DATA), "--speed", "10", "--balance", "10000000"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert sim.stdout is not None
    words = sim.stdout.readline().split()  # REST http://127.0.0.1:P WS ws://127.0.0.1:P
    return sim, words[1], words[3]


def run_bot(env: dict[str, str], seconds: float) -> dict[str, object]:
    sim, rest_url, ws_url = start_simulator(env)
    try:
        bot_env = {
            **env,
            "LEVELBOT_BYBIT_API_KEY": "k",
            "LEVELBOT_BYBIT_SECRET": "s",
            "LEVELBOT_BYBIT_REST_URL": rest_url,
            "LEVELBOT_BYBIT_WS_URL": ws_url,
        }
        started = time.perf_counter()
        child = subprocess.Popen(
            [*RUNBOT, "--exchange", "bybit", "--run-for", str(seconds)],
            cwd=ROOT,
            env=bot_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert child.stdout is not None
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        assert status == 0, f"runbot exited with {status}"
    finally:
        sim.terminate()
        sim.wait(10)
    seconds = time.perf_counter() - started
    return {**bot_report(out), "peak_mb": usage.ru_maxrss / 1024, "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs; medians shown")
    parser.add_argument("--seconds", type=float, default=30, help="each run's length")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        env = {k: v for k, v in os.environ.items() if k != "LEVELBOT_DEMO"}
        env["DATABASE_URL"] = f"sqlite:///{folder}/bench.sqlite3"
        env["LEVELBOT_JOURNAL_DIR"] = f"{folder}/journal"
        scenario = levels_scenario("bybit", leverage=20)
        path = Path(folder) / "scenario.json"
        path.write_text(json.dumps(scenario))
        manage(env, "migrate", "--noinput")
        runs = []
        for _ in range(options.runs):
            manage(env, "flush", "--noinput")
            manage(env, "import_scenario", str(path))
            runs.append(run_bot(env, options.seconds))

    def med(key: str) -> float:
        return statistics.median(float(run[key]) for run in runs)  # type: ignore[arg-type]

    p99s = ", ".join(str(run["latency_p99_ms"]) for run in runs)
    print(
        f"runbot --live on the Bybit simulator, {LEVELS} levels, {options.seconds:g} s a run, "
        f"medians of {options.runs}: ticks {med('ticks'):,.0f}  orders {med('orders'):,.0f}  "
        f"tick-to-order p50 {med('latency_p50_ms'):.2f} ms  p99 {med('latency_p99_ms'):.2f} ms  "
        f"(parts' p99: to the decision {med('decision_p99_ms'):.2f}, "
        f"journal {med('journal_p99_ms'):.2f})  "
        f"peak RSS {med('peak_mb'):.0f} MB  (p99 of each run: {p99s}; {pooled(runs)})"
    )


if __name__ == "__main__":
    main()
