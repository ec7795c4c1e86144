"""Shutdown drill: SIGTERM while an order is on its way, `--runs` times.

`manage.py exchange_sim` replays a recorded trades file (read in place; by default the Binance
USD-M BTCUSDT trades of 2024-08-08) as Bybit's market, in a process of its own, while
`runbot --live --feed live` trades the benchmark's 100 levels spread over that capture's range
(bench/runbot.py) on it, on one SQLite database. Each run starts the bot, waits until it is up,
tells the simulator to answer the next order late (`--delay`, 2 s by default), waits until an
order is sent (the exchange has it, the database holds its intent unsettled) and sends SIGTERM.
runbot's promise: it finishes the order in hand, records its answer and exits 0. Measured per
run: the exit code (must be 0), the time from the signal to the exit (must be under
`--limit`, 10 s), and the order's record (must be filled, with the exchange's answer, not left
pending). At the end the simulator's orders and fills are compared with the database as in the
crash drill (drills/harness.py: `compare`). The script exits 1 when any run or check fails.

Run: `make drills`, or `.venv/bin/python drills/shutdown.py [--runs N] [--delay S]`; the
summary is printed as JSON and written to var/drills/shutdown.json, the bots' logs and the
database kept in var/drills/shutdown/.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drills.harness import (  # noqa: E402
    DATA,
    OUTPUT,
    compare,
    failures,
    levels_scenario,
    orders_in_flight,
    prepare_database,
    read_events,
    report,
    start_bot,
    start_simulator,
    stop_bot,
    wait_for,
    wait_until_up,
)

RUNS = 5
DELAY_S = 2.0
LIMIT_S = 10.0
SPEED = 5.0  # the capture's 6 minutes in about 70 s: an order every second or so
ORDER_WAIT_S = 20.0  # how long a run waits for an order to go out


def shutdown_once(n: int, *, sim: Any, db: Any, folder: Path, delay: float) -> dict[str, Any]:
    """One run: up, an order on its way with its answer late, SIGTERM; what happened."""
    log = folder / f"bot-{n:02}.log"
    bot = start_bot(db, sim, log=log)
    wait_until_up(bot, log, timeout=60)
    sim.control("delay_next_orders", n=1, seconds=delay)
    try:
        wait_for(lambda: orders_in_flight(sim, db), "an order on its way", ORDER_WAIT_S, 0.02)
        flying = orders_in_flight(sim, db)
    except TimeoutError:
        flying = []  # no order in time: the run still measures a plain stop
    exit_code, took = stop_bot(bot, timeout=60)
    sim.control("delay_next_orders", n=0, seconds=0)
    placeholders = ", ".join("?" * len(flying))
    rows = db.rows(
        f"SELECT client_order_id, status, price FROM trading_trade "
        f"WHERE client_order_id IN ({placeholders})",
        *flying,
    )
    statuses = {r["client_order_id"]: r["status"] for r in rows}
    events = [e["event"] for e in read_events(log)]
    return {
        "run": n,
        "orders_in_flight": flying,
        "exit_code": exit_code,
        "exit_s": round(took, 2),
        "recorded": statuses,
        "answer_recorded": bool(flying) and all(s == "filled" for s in statuses.values()),
        "stopped_cleanly": bool(events) and events[-1] == "bot stopped",
    }


def run(
    *,
    runs: int = RUNS,
    delay: float = DELAY_S,
    limit: float = LIMIT_S,
    speed: float = SPEED,
    trades: Path = DATA,
    folder: Path = OUTPUT / "shutdown",
) -> dict[str, Any]:
    """The drill; returns its summary (`ok` says whether every run and check passed)."""
    began = time.monotonic()
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    db = prepare_database(folder / "bot.sqlite3", levels_scenario("bybit", leverage=20))
    with start_simulator(trades, speed, log=folder / "simulator.err") as sim:
        done = [
            shutdown_once(n, sim=sim, db=db, folder=folder, delay=delay) for n in range(1, runs + 1)
        ]
        counts = compare(sim, db)
    bad_runs = [
        r["run"]
        for r in done
        if r["exit_code"] != 0
        or r["exit_s"] >= limit
        or not r["answer_recorded"]
        or not r["stopped_cleanly"]
    ]
    summary = {
        "drill": "shutdown",
        "runs": len(done),
        "answer_delay_s": delay,
        "exit_codes": [r["exit_code"] for r in done],
        "exit_s": [r["exit_s"] for r in done],
        "max_exit_s": max(r["exit_s"] for r in done),
        "limit_s": limit,
        "answers_recorded": sum(r["answer_recorded"] for r in done),
        "checks": counts,
        "seconds": round(time.monotonic() - began, 1),
        "speed": speed,
        "trades": trades.name,
        "run_log": done,
    }
    summary["failures"] = failures(counts) | ({"runs": bad_runs} if bad_runs else {})
    summary["ok"] = not summary["failures"]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs (default {RUNS})")
    parser.add_argument(
        "--delay", type=float, default=DELAY_S, help=f"answer delay, s (default {DELAY_S:g})"
    )
    parser.add_argument(
        "--limit", type=float, default=LIMIT_S, help=f"longest exit, s (default {LIMIT_S:g})"
    )
    parser.add_argument("--speed", type=float, default=SPEED, help="replay speed")
    parser.add_argument("--trades", type=Path, default=DATA, help="recorded trades file")
    parser.add_argument("--out", type=Path, help="summary file (default var/drills/shutdown.json)")
    options = parser.parse_args()
    if options.runs < 1 or options.delay <= 0:
        parser.error("--runs must be 1 or more, and --delay above 0.")
    summary = run(
        runs=options.runs,
        delay=options.delay,
        limit=options.limit,
        speed=options.speed,
        trades=options.trades,
    )
    report("shutdown", summary, options.out)
    if not summary["ok"]:
        raise SystemExit(f"shutdown drill failed: {summary['failures']}")


if __name__ == "__main__":
    main()
