"""Crash drill: runbot trading live on the exchange simulator, killed with SIGKILL again and again.

`manage.py exchange_sim` replays a recorded trades file (read in place; by default the Binance
USD-M BTCUSDT trades of 2024-08-08) as Bybit's market, in a process of its own, while
`runbot --live --feed live` trades the benchmark's 100 levels spread over that capture's range
(bench/runbot.py) on it, through ccxt's real bybit class, on one SQLite database. The bot is
killed with SIGKILL `--kills` times and restarted on the same database each time, once the
previous one is back up (its "symbol started" line: recovery done, trading). Half the kills
(`--aimed`) are aimed between an order's send and the record of its answer: the simulator is
told to answer the next order late (`delay_next_orders`), and the kill falls while the order is
on the exchange and its intent still unsettled in the database; the others fall at a random
moment of the bot's first seconds. Some (`--held`, a fifth by default) are aimed between an
order's send and the database's record of its intent: the drill holds the database's write
lock, as a long write by another process would, until an order reaches the exchange that the
database does not hold, and the kill falls then; the next start must record it from the
symbol's order journal. Kill moments come from `--seed`. The replay is paced to last about as
long as the drill, so the market moves under every kill.

After the last kill the bot is started once more, left to settle, and stopped with SIGTERM.
Then the simulator's orders and fills are compared with the database (drills/harness.py:
`compare`): duplicates (two exchange orders for one client order id, or two intents for one
tier firing), fills missing (an exchange fill not recorded as filled), tiers fired twice (a
tier of a level-side-cycle in more than one intent), and the other checks of `compare` (nothing
unsettled, no fill the exchange did not make, sizes, prices and positions as the exchange has
them). Each must be 0, and the last stop must exit 0; the script exits 1 otherwise.

Run: `make drills`, or `.venv/bin/python drills/crash.py [--kills N] [--seed N] [--speed X]`;
the summary is printed as JSON and written to var/drills/crash.json, the bots' logs and the
database kept in var/drills/crash/.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import statistics
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
    pending,
    prepare_database,
    read_events,
    report,
    request_close,
    start_bot,
    start_simulator,
    stop_bot,
    wait_for,
    wait_until_up,
)
from trading.backtest.readers import open_ticks  # noqa: E402

KILLS = 50
CYCLE_S = 4.0  # about what one kill and restart takes: the replay is paced to last the drill
RANDOM_WITHIN_S = 3.0  # a random kill falls this long after the bot is up, at most
ANSWER_DELAY_S = 1.5  # how late the simulator answers the order an aimed kill waits for
MARKET_WAIT_S = 2.0  # how long an aimed kill waits for the market's next order
CLOSE_WAIT_S = 5.0  # ... and then for a close it asked for; it falls then regardless
SYMBOL = "BTC/USDT:USDT"  # levels_scenario's
SETTLE_S = 3.0  # how long the last bot trades before it is stopped


def aim_at(rng: random.Random, aimed: float, held: float) -> str | None:
    """What the next kill aims at: an answer (`aimed` of the kills), the journal (`held`), or
    nothing."""
    draw = rng.random()
    return "answer" if draw < aimed else "journal" if draw < aimed + held else None


def capture_seconds(trades: Path) -> float:
    """From the first trade of a recorded file to its last, in the file's own time."""
    first = last = None
    with open_ticks([trades]) as stream:
        for batch in stream:
            for ts, _price, _qty in batch:
                first = ts if first is None else first
                last = ts
    if first is None or last is None:
        raise SystemExit(f"{trades} holds no trades: give a recorded trades file.")
    return (last - first) / 1000


def aim(rng: random.Random, *, sim: Any, db: Any) -> str | None:
    """Wait until an order is on its way (its answer delayed by the simulator): the next one
    the market brings, else a close of a held side asked for as the dashboard asks. What the
    kill is aimed at, or None when no order went out in time."""

    def flying() -> list[str]:
        return orders_in_flight(sim, db)

    try:
        wait_for(flying, "an order on its way", MARKET_WAIT_S, 0.02)
        return "order"
    except TimeoutError:
        pass
    held = [side for side, p in sim.positions().items() if p["size"] > 0]
    if not held:
        return None
    request_close(db, "bybit", SYMBOL, rng.choice(sorted(held)))
    try:
        wait_for(flying, "the close on its way", CLOSE_WAIT_S, 0.02)
        return "close"
    except TimeoutError:
        return None


def hold_database(db: Any) -> sqlite3.Connection:
    """The database's write lock, taken as a long write by another process would take it: the
    bot's writes wait for it (for up to 20 s), its orders do not."""
    held = sqlite3.connect(db.path, timeout=20, isolation_level=None)
    held.execute("BEGIN IMMEDIATE")
    return held


def unrecorded(sim: Any, held: sqlite3.Connection) -> list[str]:
    """Client ids of the orders on the exchange that the database holds no intent for."""
    recorded = {cid for (cid,) in held.execute("SELECT client_order_id FROM trading_trade")}
    return [o["orderLinkId"] for o in sim.orders() if o["orderLinkId"] not in recorded]


def kill_once(
    n: int, rng: random.Random, *, sim: Any, db: Any, folder: Path, aim_at: str | None
) -> dict[str, Any]:
    """Start the bot, wait until it is up, kill it: between send and record of the answer
    (`aim_at="answer"`), between send and the database's record of the intent ("journal"),
    or at random (None); what happened."""
    log = folder / f"bot-{n:03}.log"
    started = time.monotonic()
    bot = start_bot(db, sim, log=log)
    up = wait_until_up(bot, log, timeout=60)
    aimed_at = None
    held = None
    if aim_at == "answer":
        sim.control("delay_next_orders", n=1, seconds=ANSWER_DELAY_S)
        aimed_at = aim(rng, sim=sim, db=db)
        if aimed_at is not None:
            time.sleep(rng.uniform(0, ANSWER_DELAY_S * 0.8))
    elif aim_at == "journal":
        held = hold_database(db)
        try:
            wait_for(lambda: unrecorded(sim, held), "an order the database lacks", MARKET_WAIT_S)
            aimed_at = "journal"
        except TimeoutError:
            pass
    else:
        time.sleep(rng.uniform(0, RANDOM_WITHIN_S))
    killed_after = time.monotonic() - up
    bot.kill()
    bot.wait()
    journalled = []
    if held is not None:
        journalled = unrecorded(sim, held)
        held.rollback()
        held.close()
    if aim_at == "answer":
        sim.control("delay_next_orders", n=0, seconds=0)
    unsettled = set(pending(db))
    on_exchange = {o["orderLinkId"] for o in sim.orders()} & unsettled
    return {
        "kill": n,
        "aimed_at": aimed_at,
        # Orders out whose intents only the journal held: the next start must record them.
        "journalled": sorted(journalled),
        "up_s": round(up - started, 2),
        "killed_after_s": round(killed_after, 2),
        # Intents on the exchange with no answer recorded: killed between send and record.
        "in_flight": sorted(on_exchange),
        # Intents the exchange never saw: killed between the decision and the send.
        "unsent": sorted(unsettled - on_exchange),
    }


def run(
    *,
    kills: int = KILLS,
    seed: int = 1,
    aimed: float = 0.5,
    held: float = 0.2,
    speed: float | None = None,
    trades: Path = DATA,
    folder: Path = OUTPUT / "crash",
) -> dict[str, Any]:
    """The drill; returns its summary (`ok` says whether every check passed)."""
    began = time.monotonic()
    rng = random.Random(seed)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    span_s = capture_seconds(trades)
    if speed is None:
        speed = max(1.0, round(span_s / (kills * CYCLE_S), 2))
    db = prepare_database(folder / "bot.sqlite3", levels_scenario("bybit", leverage=20))
    with start_simulator(trades, speed, log=folder / "simulator.err") as sim:
        done = [
            kill_once(n, rng, sim=sim, db=db, folder=folder, aim_at=aim_at(rng, aimed, held))
            for n in range(1, kills + 1)
        ]
        log = folder / "bot-final.log"
        final = start_bot(db, sim, log=log)
        wait_until_up(final, log, timeout=60)
        time.sleep(SETTLE_S)
        exit_code, _ = stop_bot(final)
        counts = compare(sim, db)
    events = [e for path in sorted(folder.glob("bot-*.log")) for e in read_events(path)]
    ups = [k["up_s"] for k in done]
    summary = {
        "drill": "crash",
        "kills": len(done),
        "kills_aimed": sum(k["aimed_at"] is not None for k in done),
        "kills_aimed_at_closes": sum(k["aimed_at"] == "close" for k in done),
        "kills_before_the_database": sum(bool(k["journalled"]) for k in done),
        "kills_in_flight": sum(bool(k["in_flight"]) for k in done),
        "kills_before_send": sum(bool(k["unsent"]) for k in done),
        "orders": counts["orders"],
        "fills": counts["fills"],
        "duplicates": counts["duplicates"],
        "fills_missing": counts["fills_missing"],
        "tiers_fired_twice": counts["tiers_fired_twice"],
        "checks": counts,
        "orders_recovered": sum(e["event"] == "order recovered" for e in events),
        # Batches killed after their orders went out and before the database held their
        # intents: the next start recorded them from the symbol's journal.
        "batches_from_journal": sum(
            e.get("recorded_now", 0) for e in events if e["event"] == "journal read"
        ),
        "error_lines": sum(e.get("level") in ("error", "critical") for e in events),
        "final_exit_code": exit_code,
        "restart_to_up_s": {"median": round(statistics.median(ups), 2), "max": max(ups)}
        if ups
        else None,
        "seconds": round(time.monotonic() - began, 1),
        "seed": seed,
        "speed": speed,
        "trades": trades.name,
        "replay_s": round(span_s / speed, 1) if speed else 0,
        "kill_log": done,
    }
    summary["failures"] = failures(counts) | ({"final_exit_code": exit_code} if exit_code else {})
    if summary["batches_from_journal"] < summary["kills_before_the_database"]:
        # Each such kill left at least one batch that only the journal held.
        summary["failures"]["batches_from_journal"] = summary["batches_from_journal"]
    summary["ok"] = not summary["failures"]
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=KILLS, help=f"kills (default {KILLS})")
    parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
    parser.add_argument(
        "--aimed", type=float, default=0.5, help="share of kills aimed between send and record"
    )
    parser.add_argument(
        "--held",
        type=float,
        default=0.2,
        help="share of kills aimed between send and the database's record of the intent",
    )
    parser.add_argument(
        "--speed", type=float, help="replay speed (default: the capture lasts the drill)"
    )
    parser.add_argument("--trades", type=Path, default=DATA, help="recorded trades file")
    parser.add_argument("--out", type=Path, help="summary file (default var/drills/crash.json)")
    options = parser.parse_args()
    if options.kills < 1 or not 0 <= options.aimed <= 1 or not 0 <= options.held <= 1:
        parser.error("--kills must be 1 or more, and --aimed and --held between 0 and 1.")
    if options.aimed + options.held > 1:
        parser.error("--aimed and --held are shares of the kills: together at most 1.")
    summary = run(
        kills=options.kills,
        seed=options.seed,
        aimed=options.aimed,
        held=options.held,
        speed=options.speed,
        trades=options.trades,
    )
    report("crash", summary, options.out)
    if not summary["ok"]:
        raise SystemExit(f"crash drill failed: {summary['failures']}")


if __name__ == "__main__":
    main()
