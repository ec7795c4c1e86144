"""Fault drill: each fault the exchange simulator can play, against runbot --live, timed.

For each fault, `--runs` times (3 by default): a fresh SQLite database holding the benchmark's
100 levels spread over the recorded Binance USD-M BTCUSDT trades of 2024-08-08 (bench/runbot.py;
heartbeat timeout 1 s, levels reloaded every 10 min unless the fault needs a reload), the Bybit
v5 simulator replaying that file in place at 10x (in this process, `SimulatorThread`, so that a
fault is played the moment it is asked for), and `runbot --live --feed live --exchange
bybit` on it through ccxt's real bybit class (REST timeout 500 ms). After the bot's first fill
the fault is played; the bot's JSON log says when it noticed and when trading went on:

- `ws_drop`, every websocket closed by the server: detected at "feed error", recovered at
  "feed reconnected" of each stream that failed (its first message again);
- `ws_stall`, 2.5 s of silence, no pongs either: "feed stale", then "feed recovered" (the next
  tick);
- `late_answer`, an order filled at once but answered after 1.5 s: "order answer lost" (the
  lookup by id begins), then the order found by its id and recorded filled;
- `rate_limit`, the next 2 private requests refused (10006): "rate limited" (the backoff), then
  the refused order filled on a retry;
- `insufficient_balance`, the next order refused (110007): "order rejected", recorded, then the
  next order filled;
- `below_minimum`, every level's size set under the market's minimum in the database (as a
  script could; the form refuses it): "order rejected" for the minimum, recorded; the sizes are
  put back at once, then the next order filled;
- `position_closed`, a held side closed on the exchange: "position closed outside the bot" (the
  side reset), then the next order filled;
- `position_closed_then_entry`, the same close, the bot's first look after it refused (rate
  limit), and an entry on that side filled before its next look (on a flat market moved by
  hand, the golden levels of 2024-07-19; the replay cannot time it): "position closed outside
  the bot" (the exchange holds less than the bot counts), then the levels' sizes on the side
  adding up to the exchange's position again.

Times are seconds from the fault's injection; for the faults that wait for the bot's next
request (late answer, rate limit, refusals) from that request, the faulted order's send (its
log line's time less its latency), and the wait from arming to it is shown apart. After each run
the bot is stopped with SIGTERM and the simulator's orders are compared with the database
(drills/harness.py's `compare`): duplicate orders, fills missing and tiers fired twice must be 0,
as must the other counts `failures` names. Exits 1 when any is not, when a detection or a
recovery never came, or when the bot did not exit 0. Only 127.0.0.1 is used.

Run: `make drills`, or `.venv/bin/python drills/faults.py [--runs N] [--faults NAME ...]`; the
summary is printed as JSON and written to var/drills/faults.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drills.harness import (  # noqa: E402
    DATA,
    BotDatabase,
    compare,
    failures,
    levels_scenario,
    prepare_database,
    read_events,
    report,
    start_bot,
    stop_bot,
    wait_for,
    wait_until_up,
)
from tests.shared_data import GOLDEN  # noqa: E402
from trading.exchange.simulator import SimulatorThread  # noqa: E402

SPEED = 10  # the 343 s capture in about 34 s
BALANCE = 10_000_000.0
MARKET = "BTCUSDT"
REST_TIMEOUT_MS = 500
STALL_S = 2.5
LATE_S = 1.5
RATE_LIMITED = 2
TOO_SMALL = "0.0001"  # BTCUSDT's minimum order is 0.001
RUN_FOR_S = 90  # the bot's own bound; a run stops it long before
FIRST_FILL_S = 20.0
WITHIN_S = 15.0  # each of: the fault hit, detected, recovered
SETTLE_S = 1.0  # after the recovery, before the bot is stopped
HEADLINE = ("duplicates", "fills_missing", "tiers_fired_twice")


def when(event: dict[str, Any]) -> float:
    """An event's wall-clock time, from its ISO timestamp."""
    return datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00")).timestamp()


def sent_at(event: dict[str, Any]) -> float:
    """When an "order <status>" event's order was handed to the exchange adapter."""
    return when(event) - float(event.get("latency_ms") or 0) / 1000


def first(events: list[dict[str, Any]], name: str, after: float, **fields: Any):
    """The first event called `name` at or after `after` whose fields include `fields`."""
    for event in events:
        if (
            event["event"] == name
            and when(event) >= after
            and all(event.get(k) == v for k, v in fields.items())
        ):
            return event
    return None


def next_fill(events: list[dict[str, Any]], after: float) -> dict[str, Any] | None:
    """The first order filled that was sent at or after `after`: trading going on."""
    for event in events:
        if event["event"] == "order filled" and sent_at(event) >= after:
            return event
    return None


def outcome(events: list[dict[str, Any]], cid: str, after: float) -> dict[str, Any] | None:
    """The logged outcome of the order `cid`: "order filled" or "order rejected"."""
    for event in events:
        if (
            event.get("client_order_id") == cid
            and when(event) >= after
            and event["event"] in ("order filled", "order rejected")
        ):
            return event
    return None


@dataclass
class Run:
    """One fault played once: what the drill knows while it watches the bot's log."""

    db: BotDatabase
    sim: SimulatorThread
    log: Path
    armed: float = 0.0  # wall-clock time of the injection
    hit: float | None = None  # when the fault met the bot (the injection, or the faulted order)
    detected: float | None = None
    recovered: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)


# Each fault: how it is played, and how its log events are read. A reader fills in `hit`,
# `detected` and `recovered` as the events come.


def arm_drop(run: Run) -> None:
    run.sim.drop_websockets()


def read_drop(run: Run, events: list[dict[str, Any]]) -> None:
    run.hit = run.armed
    errors = [e for e in events if e["event"] == "feed error" and when(e) >= run.armed]
    if not errors:
        return
    run.detected = when(errors[0])
    back = []
    for stream in sorted({e["stream"] for e in errors}):
        since = min(when(e) for e in errors if e["stream"] == stream)
        again = first(events, "feed reconnected", since, stream=stream)
        if again is None:
            return
        back.append(when(again))
    run.notes["streams"] = sorted({e["stream"] for e in errors})
    run.recovered = max(back)


def arm_stall(run: Run) -> None:
    run.sim.stall_websockets(STALL_S)
    run.notes["silent_s"] = STALL_S


def read_stall(run: Run, events: list[dict[str, Any]]) -> None:
    run.hit = run.armed
    stale = first(events, "feed stale", run.armed)
    if stale is None:
        return
    run.detected = when(stale)
    back = first(events, "feed recovered", run.detected)
    if back is not None:
        run.recovered = when(back)


def arm_late(run: Run) -> None:
    run.sim.delay_next_orders(1, LATE_S)


def read_late(run: Run, events: list[dict[str, Any]]) -> None:
    lost = first(events, "order answer lost", run.armed)
    if lost is None:
        return
    run.detected = when(lost)
    settled = outcome(events, lost["client_order_id"], run.detected)
    if settled is not None:
        run.hit = sent_at(settled)
        run.recovered = when(settled)
        run.notes["found_by_id"] = settled["event"]


def arm_rate_limit(run: Run) -> None:
    run.sim.rate_limit_next(RATE_LIMITED)


def read_rate_limit(run: Run, events: list[dict[str, Any]]) -> None:
    limited = first(events, "rate limited", run.armed)
    if limited is None:
        return
    run.detected = when(limited)
    settled = outcome(events, limited["client_order_id"], run.detected)
    if settled is not None:
        run.hit = sent_at(settled)
        run.recovered = when(settled) if settled["event"] == "order filled" else None
        run.notes["retried_to"] = settled["event"]


def arm_insufficient(run: Run) -> None:
    run.sim.insufficient_balance_next(1)


def read_refusal(run: Run, events: list[dict[str, Any]], words: str) -> dict[str, Any] | None:
    for event in events:
        if (
            event["event"] == "order rejected"
            and when(event) >= run.armed
            and words in str(event.get("error"))
        ):
            run.hit, run.detected = sent_at(event), when(event)
            run.notes["error"] = event.get("error")
            return event
    return None


def refusal_recorded(run: Run, refused: dict[str, Any]) -> bool:
    """Whether the refused order is in the database as rejected. The log line comes as the
    answer does, the record a moment later: until then the run is not over."""
    run.notes["recorded"] = bool(
        run.db.rows(
            "SELECT 1 FROM trading_trade WHERE client_order_id = ? AND status = 'rejected'",
            refused["client_order_id"],
        )
    )
    return bool(run.notes["recorded"])


def read_insufficient(run: Run, events: list[dict[str, Any]]) -> None:
    refused = read_refusal(run, events, "110007")
    if refused is None or run.detected is None or not refusal_recorded(run, refused):
        return
    following = next_fill(events, run.detected)
    if following is not None:
        run.recovered = when(following)


def arm_below_minimum(run: Run) -> None:
    sizes = {
        r["id"]: r["base_size"] for r in run.db.rows("SELECT id, base_size FROM trading_level")
    }
    run.notes["sizes"] = sizes
    write(run.db, "UPDATE trading_level SET base_size = ?", TOO_SMALL)


def read_below_minimum(run: Run, events: list[dict[str, Any]]) -> None:
    refused = read_refusal(run, events, "below the minimum")
    if refused is None or run.detected is None:
        return
    if "fixed" not in run.notes:  # the trader puts the sizes back
        for pk, size in run.notes.pop("sizes").items():
            write(run.db, "UPDATE trading_level SET base_size = ? WHERE id = ?", size, pk)
        run.notes["fixed"] = time.time()
    if not refusal_recorded(run, refused):
        return
    following = next_fill(events, run.notes["fixed"])
    if following is not None:
        run.recovered = when(following)
        run.notes["recover_after_fix_s"] = gap(run.notes["fixed"], run.recovered)


def arm_close(run: Run) -> None:
    held = run.sim.positions()
    side = next(s for s in ("LONG", "SHORT") if held.get(s, {}).get("size", 0) > 0)
    run.sim.close_position(MARKET, side)
    run.notes["side"] = side


def read_close(run: Run, events: list[dict[str, Any]]) -> None:
    run.hit = run.armed
    reset = first(events, "position closed outside the bot", run.armed, side=run.notes["side"])
    if reset is None:
        return
    run.detected = when(reset)
    following = next_fill(events, run.detected)
    if following is not None:
        run.recovered = when(following)


def replay_to_first_fill(run: Run) -> None:
    run.sim.start_replay()
    wait_for(lambda: filled(run.db), "the bot's first fill", FIRST_FILL_S)


def replay_to_a_side(run: Run) -> None:
    replay_to_first_fill(run)
    wait_for(lambda: any(p["size"] > 0 for p in run.sim.positions().values()), "a side held")


# The close behind the bot's back, then an entry on that side before the bot has looked: the
# bot's first look after the close is refused (a rate limit; a network blip does the same),
# and the price walks into another level's tier. A flat market moved by hand (the golden
# BTCUSDT levels of 2024-07-19, `near` at 63870.3 and `far` at 63948.6): up into `near`'s
# first tier, a LONG held; the LONG closed on the exchange; then up into `far`'s first tier.
FLAT_START, NEAR_TIER1, FAR_TIER1 = 63_700.0, 63_825.0, 63_900.0


def walk_into_a_long(run: Run) -> None:
    run.sim.set_price(FLAT_START + 60)
    time.sleep(0.5)
    run.sim.set_price(NEAR_TIER1)
    wait_for(lambda: filled(run.db), "the bot's first fill", FIRST_FILL_S)
    time.sleep(1.0)  # the fill's position updates all in


def arm_close_then_entry(run: Run) -> None:
    run.sim.rate_limit_next(1)
    run.sim.close_position(MARKET, "LONG")
    run.notes["side"] = "LONG"

    def refused() -> bool:
        return first(read_events(run.log), "position resync failed", run.armed) is not None

    try:
        wait_for(refused, "the bot's refused look at its positions", 5)
    except TimeoutError:
        run.notes["first_look_refused"] = False  # the drill could not set the fault up
    else:
        run.notes["first_look_refused"] = True
    run.sim.set_price(FAR_TIER1)


def read_close_then_entry(run: Run, events: list[dict[str, Any]]) -> None:
    """Detected when the bot finds the exchange holding less of the LONG side than it counts;
    recovered once the levels' LONG sizes add up to what the exchange holds again (`near`,
    whose fill went with the close, reset; `far`, entered since, keeping its tier)."""
    run.hit = run.armed
    reset = first(events, "position closed outside the bot", run.armed, side="LONG")
    if reset is not None:
        run.detected = when(reset)
        run.notes["bot_counts"] = reset.get("held")
    held = run.sim.positions().get("LONG", {}).get("size", 0.0)
    rows = run.db.rows("SELECT filled_size FROM trading_tierstate WHERE side = 'LONG'")
    levels_hold = sum(Decimal(str(r["filled_size"])) for r in rows)
    if run.detected is not None and abs(levels_hold - Decimal(str(held))) < Decimal("1e-9"):
        run.recovered = time.time()
    run.notes["levels_hold"], run.notes["exchange_holds"] = float(levels_hold), held


@dataclass(frozen=True)
class Fault:
    arm: Callable[[Run], None]
    read: Callable[[Run, list[dict[str, Any]]], None]
    start: Callable[[Run], None] = replay_to_first_fill
    reload_ms: int = 600_000  # no reload within a run: the fault alone brings the news
    flat: bool = False  # the hand-moved flat market, not the replay
    within_s: float = WITHIN_S  # the longest wait for each step


FAULTS: dict[str, Fault] = {
    "ws_drop": Fault(arm_drop, read_drop),
    "ws_stall": Fault(arm_stall, read_stall),
    "late_answer": Fault(arm_late, read_late),
    "rate_limit": Fault(arm_rate_limit, read_rate_limit),
    "insufficient_balance": Fault(arm_insufficient, read_insufficient),
    "below_minimum": Fault(arm_below_minimum, read_below_minimum, reload_ms=500),
    "position_closed": Fault(arm_close, read_close, replay_to_a_side),
    "position_closed_then_entry": Fault(
        arm_close_then_entry, read_close_then_entry, walk_into_a_long, flat=True, within_s=5
    ),
}


def write(db: BotDatabase, sql: str, *params: object) -> None:
    with sqlite3.connect(db.path, timeout=20) as connection:
        connection.execute(sql, params)


def copy_database(template: Path, path: Path) -> BotDatabase:
    """A copy of the prepared database, WAL and all, without migrating again."""
    for old in path.parent.glob(f"{path.name}*"):
        old.unlink()
    with sqlite3.connect(template) as source, sqlite3.connect(path) as target:
        source.backup(target)
    return BotDatabase(path)


def filled(db: BotDatabase) -> bool:
    return bool(db.rows("SELECT 1 FROM trading_trade WHERE status = 'filled' LIMIT 1"))


def play(name: str, fault: Fault, template: Path, folder: Path) -> dict[str, Any]:
    """One run of one fault: the bot up, the market going, the fault after the first fill,
    watched until recovered (or `within_s` past each step), the bot stopped, and compared."""
    db = copy_database(template, folder / "bot.sqlite3")
    write(db, "UPDATE trading_botsettings SET levels_reload_ms = ?", fault.reload_ms)
    log = folder / "bot.log"
    result: dict[str, Any] = {}
    market: dict[str, Any] = (
        {"price": FLAT_START}
        if fault.flat
        else {"trades": DATA, "speed": SPEED, "replay_paused": True}
    )
    with SimulatorThread(balance=BALANCE, **market) as sim:
        run = Run(db, sim, log)
        env = {"LEVELBOT_REST_TIMEOUT_MS": str(REST_TIMEOUT_MS)}
        bot = start_bot(db, sim, "--run-for", str(RUN_FOR_S), log=log, env=env)
        try:
            wait_until_up(bot, log)
            fault.start(run)
            run.armed = time.time()
            fault.arm(run)
            watch(run, fault)
            time.sleep(SETTLE_S)
        finally:
            exit_code, stop_s = stop_bot(bot)
        counts = compare(sim, db)
    result = {
        "hit_after_s": gap(run.armed, run.hit),
        "detect_s": gap(run.hit, run.detected),
        "recover_s": gap(run.hit, run.recovered),
        "zeros": {key: counts[key] for key in HEADLINE},
        "broken": failures(counts),
        "orders": counts["orders"],
        "bot_exit": exit_code,
        "bot_stop_s": round(stop_s, 2),
        **{k: v for k, v in run.notes.items() if k not in ("sizes", "fixed")},
    }
    if result["broken"] or result["recover_s"] is None or exit_code != 0:
        kept = folder.parent / f"{name}-{int(run.armed)}"
        kept.mkdir(exist_ok=True)
        for path in folder.iterdir():
            path.rename(kept / path.name)
        result["kept"] = str(kept)
    return result


def watch(run: Run, fault: Fault) -> None:
    """Read the bot's log until the fault is recovered from, or a step takes over `within_s`."""
    step_since = run.armed
    step = (None, None, None)
    while True:
        fault.read(run, [e for e in read_events(run.log) if "timestamp" in e])
        now = (run.hit, run.detected, run.recovered)
        if run.recovered is not None:
            return
        if now != step:
            step, step_since = now, time.time()
        if time.time() - step_since > fault.within_s:
            return
        time.sleep(0.1)


def gap(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 3)


def spread(values: list[float | None]) -> dict[str, float | None]:
    known = [v for v in values if v is not None]
    if not known or len(known) != len(values):
        return {"median": None, "max": None}
    return {"median": round(statistics.median(known), 3), "max": round(max(known), 3)}


def prepare_templates(folder: Path, faults: list[Fault]) -> dict[bool, Path]:
    """The databases each run starts from, by market: the replay's 100 levels (feed stale after
    1 s of silence), or the golden levels on the flat market (which is silent between moves)."""
    templates = {}
    if any(not f.flat for f in faults):
        templates[False] = folder / "replay.sqlite3"
        scenario = levels_scenario("bybit", leverage=20)
        prepare_database(templates[False], scenario, heartbeat_timeout_s=1)
    if any(f.flat for f in faults):
        templates[True] = folder / "flat.sqlite3"
        scenario = json.loads((GOLDEN / "btcusdt_2024-07-19.scenario.json").read_text())
        prepare_database(templates[True], {**scenario, "exchange": "bybit"}, heartbeat_timeout_s=60)
    return templates


def drill(names: list[str], runs: int) -> dict[str, Any]:
    """Every fault in `names`, `runs` times each, in one temporary folder."""
    with tempfile.TemporaryDirectory(prefix="levelbot-fault-drill-") as tmp:
        folder = Path(tmp)
        templates = prepare_templates(folder, [FAULTS[name] for name in names])
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        for _ in range(runs):  # the faults in turn, so that a noisy minute hits all
            for name in names:
                each = folder / "run"
                each.mkdir()
                fault = FAULTS[name]
                results[name].append(play(name, fault, templates[fault.flat], each))
                if each.exists():
                    shutil.rmtree(each)
        failed = [r for rs in results.values() for r in rs if "kept" in r]
        if failed:  # the logs and database of a failed run outlive the temporary folder
            saved = ROOT / "var" / "drills" / "faults-failed"
            saved.mkdir(parents=True, exist_ok=True)
            for r in failed:
                kept = saved / Path(r["kept"]).name
                shutil.rmtree(kept, ignore_errors=True)
                Path(r["kept"]).rename(kept)
                r["kept"] = str(kept.relative_to(ROOT))
    faults = {}
    for name, each in results.items():
        broken: dict[str, int] = {}
        for r in each:
            for key, n in r["broken"].items():
                broken[key] = broken.get(key, 0) + n
        faults[name] = {
            "detect_s": spread([r["detect_s"] for r in each]),
            "recover_s": spread([r["recover_s"] for r in each]),
            "zeros": {key: sum(r["zeros"][key] for r in each) for key in HEADLINE},
            "broken": broken,
            "ok": not broken
            and all(r["recover_s"] is not None and not r["bot_exit"] for r in each),
            "runs": each,
        }
    return {
        "drill": "faults",
        "setup": (
            f"runbot --live on the Bybit simulator replaying {DATA.name} at {SPEED}x, "
            f"{len(levels_scenario('bybit')['levels'])} levels, REST timeout {REST_TIMEOUT_MS} ms, "
            "heartbeat 1 s; times in seconds from the fault meeting the bot"
        ),
        "runs": runs,
        "faults": faults,
        "ok": all(f["ok"] for f in faults.values()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each fault")
    parser.add_argument("--faults", nargs="+", choices=sorted(FAULTS), default=list(FAULTS))
    parser.add_argument("--out", type=Path, help="default var/drills/faults.json")
    args = parser.parse_args()
    if not 1 <= args.runs <= 20:
        parser.error("--runs 1..20")
    summary = drill(args.faults, args.runs)
    report("faults", summary, args.out)
    sys.exit(0 if summary["ok"] else 1)


if __name__ == "__main__":
    main()
