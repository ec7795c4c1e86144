"""runbot --live against the local Bybit simulator, ccxt's real bybit class in between, and each
fault the simulator can play: no duplicate order, every fill recorded, tier state consistent
with the exchange, and trading resuming within a bounded time once the fault is over.

Each test replays real BTCUSDT trades (2024-07-19, five minutes) at 30x through the simulator
while runbot trades the golden scenario's two levels on it, as a real process on its own SQLite
database. The fault is played after the bot's first fill.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drills import harness
from drills.harness import wait_for
from tests.runtime.conftest import BotDatabase, log_events
from tests.shared_data import GOLDEN, GOLDEN_SCENARIOS
from trading.exchange.simulator import SimulatorThread

SYMBOL = "BTC/USDT:USDT"
TRADES = GOLDEN_SCENARIOS["btcusdt_2024-07-19"]
SPEED = 30  # five minutes of trades in ten seconds
RUN_FOR_S = 14
RECOVER_WITHIN_S = 5.0


@pytest.fixture
def live_db(tmp_path: Path) -> BotDatabase:
    database = BotDatabase(tmp_path / "bot.sqlite3")
    assert database.manage("migrate", "--noinput").returncode == 0
    scenario = json.loads((GOLDEN / "btcusdt_2024-07-19.scenario.json").read_text())
    scenario["exchange"] = "bybit"
    database.setup(scenario)
    # Reload (and so resync positions) twice a second; a feed silent for 1 s is stale.
    harness.bot_settings(database, levels_reload_ms=500, heartbeat_timeout_s=1)
    return database


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    with SimulatorThread(trades=TRADES, speed=SPEED, replay_paused=True) as running:
        yield running


def start_bot(db: BotDatabase, sim: SimulatorThread) -> subprocess.Popen[str]:
    return harness.start_bot(
        db, sim, "--run-for", str(RUN_FOR_S), env={"LEVELBOT_REST_TIMEOUT_MS": "500"}
    )


def filled(db: BotDatabase) -> list[dict]:
    rows = db.rows("SELECT * FROM trading_trade WHERE status = 'filled' ORDER BY id")
    return [dict(r) for r in rows]


def run_with_fault(
    db: BotDatabase, sim: SimulatorThread, fault: Callable[[SimulatorThread], None] | None
) -> tuple[list[dict], str]:
    """Start the bot, start the replay, play the fault after the first fill, wait for the end;
    returns the bot's log events and its stderr."""
    bot = start_bot(db, sim)
    try:
        wait_for(lambda: bool(db.rows("SELECT 1 FROM trading_feedstatus")), "the bot to start")
        sim.start_replay()
        wait_for(lambda: bool(filled(db)), "a first fill")
        if fault is not None:
            fault(sim)
        out, err = bot.communicate(timeout=RUN_FOR_S + 30)
    finally:
        if bot.poll() is None:
            bot.kill()
    assert bot.returncode == 0, err
    return log_events(out), err


def assert_consistent(db: BotDatabase, sim: SimulatorThread) -> None:
    """No duplicate, no lost fill, nothing left unsettled, positions as the exchange holds."""
    counts = harness.compare(sim, db)
    assert counts["orders"] and not harness.failures(counts), counts


def event_times(events: list[dict], name: str) -> list[float]:
    from datetime import datetime

    return [
        datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()
        for e in events
        if e["event"] == name
    ]


def test_live_trading_on_the_simulator_records_every_fill_once(live_db, sim):
    events, _ = run_with_fault(live_db, sim, None)
    assert_consistent(live_db, sim)
    assert len(filled(live_db)) >= 3
    # Every order carried the bot settings' slippage cap, 50 bp: Bybit's 0.5 percent.
    assert {o["slippageTolerance"] for o in sim.orders()} == {("Percent", "0.5")}
    stopped = next(e for e in events if e["event"] == "symbol stopped")
    assert stopped["orders"] == len(sim.orders())


def test_a_dropped_socket_reconnects_and_resyncs(live_db, sim):
    ended: list[float] = []

    def drop(sim: SimulatorThread) -> None:
        sim.drop_websockets()
        ended.append(time.time())

    events, _ = run_with_fault(live_db, sim, drop)
    assert_consistent(live_db, sim)
    reconnected = [t for t in event_times(events, "feed reconnected") if t >= ended[0]]
    assert reconnected and reconnected[0] - ended[0] < RECOVER_WITHIN_S
    (status,) = live_db.rows("SELECT reconnects FROM trading_feedstatus")
    assert status["reconnects"] >= 1


def test_a_silent_stall_makes_the_feed_stale_until_data_flows_again(live_db, sim):
    ended: list[float] = []

    def stall(sim: SimulatorThread) -> None:
        sim.stall_websockets(2.5)
        ended.append(time.time() + 2.5)

    events, _ = run_with_fault(live_db, sim, stall)
    assert_consistent(live_db, sim)
    assert event_times(events, "feed stale"), "a 2.5 s silence against a 1 s heartbeat"
    recovered = [t for t in event_times(events, "feed recovered") if t >= ended[0] - 0.5]
    assert recovered and recovered[0] - ended[0] < RECOVER_WITHIN_S


def test_an_order_answered_after_the_timeout_is_found_by_its_id_not_sent_again(live_db, sim):
    events, _ = run_with_fault(live_db, sim, lambda s: s.delay_next_orders(1, 1.5))
    assert_consistent(live_db, sim)
    lost = [e for e in events if e["event"] == "order answer lost"]
    assert lost, "the delayed order timed out at 500 ms"
    assert lost[0]["client_order_id"] in {o["orderLinkId"] for o in sim.orders()}


def test_rate_limit_answers_back_off_and_the_order_goes_through(live_db, sim):
    events, _ = run_with_fault(live_db, sim, lambda s: s.rate_limit_next(2))
    assert_consistent(live_db, sim)
    # The two refusals fall on the next private calls: an order, or a position resync.
    limited = {e["client_order_id"] for e in events if e["event"] == "rate limited"}
    resyncs = [e for e in events if e["event"] == "position resync failed"]
    assert limited or resyncs
    filled_ids = {t["client_order_id"] for t in filled(live_db)}
    assert limited <= filled_ids  # each order refused for the rate went through on a retry


def test_a_refused_order_is_recorded_with_the_reason_and_not_retried(live_db, sim):
    run_with_fault(live_db, sim, lambda s: s.insufficient_balance_next(1))
    assert_consistent(live_db, sim)
    (refused,) = live_db.rows("SELECT * FROM trading_trade WHERE status = 'rejected'")
    assert "InsufficientFunds" in refused["error"] and "110007" in refused["error"]
    assert refused["client_order_id"] not in {o["orderLinkId"] for o in sim.orders()}
    # The level's timeline says so, with the exchange's reason.
    (event,) = live_db.rows("SELECT * FROM trading_levelevent WHERE kind = 'refused'")
    assert event["level_id"] == refused["level_id"] and "110007" in event["detail"]


def test_a_position_closed_behind_the_bots_back_resets_that_side(live_db, sim):
    # No reload within the run: the private position stream alone brings the news.
    harness.bot_settings(live_db, levels_reload_ms=600000)
    closed: list[str] = []

    def close_held_side(sim: SimulatorThread) -> None:
        held = sim.positions()
        side = next(s for s in ("LONG", "SHORT") if held.get(s, {}).get("size", 0) > 0)
        sim.close_position("BTCUSDT", side)
        closed.append(side)

    events, _ = run_with_fault(live_db, sim, close_held_side)
    outside = [e for e in events if e["event"] == "position closed outside the bot"]
    assert outside and outside[0]["side"] == closed[0]
    assert_consistent(live_db, sim)


def open_one_way_position(sim: SimulatorThread) -> None:
    """A position opened by hand while the account is still in one-way mode."""
    import asyncio

    from trading.exchange.accounts import AccountConfig, make_client

    async def buy() -> None:
        config = AccountConfig(
            "bybit", api_key="k", secret="s", rest_url=sim.rest_url, ws_url=sim.ws_url
        )
        client = make_client(config)
        try:
            await client.load_markets()
            by_hand = {"positionIdx": 0, "clientOrderId": "byhand1"}
            await client.create_order(SYMBOL, "market", "buy", 0.01, None, by_hand)
        finally:
            await client.close()

    asyncio.run(buy())


def test_a_symbol_the_account_cannot_switch_to_hedge_mode_stays_off(live_db, sim):
    sim.start_replay()
    open_one_way_position(sim)
    bot = start_bot(live_db, sim)
    out, err = bot.communicate(timeout=RUN_FOR_S + 30)
    assert bot.returncode == 0, err
    refused = [e for e in log_events(out) if e["event"] == "symbol not started"]
    assert refused and "cannot set hedge mode" in refused[0]["why"]
    assert "110024" in refused[0]["why"]
    (status,) = live_db.rows("SELECT state, last_error FROM trading_feedstatus")
    assert status["state"] == "stopped" and "hedge mode" in status["last_error"]
    assert not live_db.rows("SELECT 1 FROM trading_trade")
    assert len(sim.orders()) == 1  # the one opened by hand: the bot sent nothing


@pytest.fixture
def wide_sim() -> Iterator[SimulatorThread]:
    """A market whose bid-ask spread is 10 bp of the mid price."""
    options = {"trades": TRADES, "speed": SPEED, "replay_paused": True, "spread": 0.001}
    with SimulatorThread(**options) as running:
        yield running


def test_no_entry_while_the_spread_is_wider_than_the_limit(live_db, wide_sim):
    harness.bot_settings(live_db, max_spread_bps=5)
    bot = start_bot(live_db, wide_sim)
    wait_for(lambda: bool(live_db.rows("SELECT 1 FROM trading_feedstatus")), "the bot to start")
    wide_sim.start_replay()
    _, err = bot.communicate(timeout=RUN_FOR_S + 30)
    assert bot.returncode == 0, err
    refused = live_db.rows("SELECT error FROM trading_trade WHERE status = 'rejected'")
    assert refused, "the crossings of the replay were refused"
    assert all("wider than the 5 bps limit" in r["error"] for r in refused)
    assert not filled(live_db) and not wide_sim.orders()


@pytest.fixture
def stop_db(tmp_path: Path) -> BotDatabase:
    """The golden levels with a 1% stop-loss each."""
    database = BotDatabase(tmp_path / "bot.sqlite3")
    assert database.manage("migrate", "--noinput").returncode == 0
    scenario = json.loads((GOLDEN / "btcusdt_2024-07-19.scenario.json").read_text())
    scenario["exchange"] = "bybit"
    for level in scenario["levels"]:
        level["stop_loss_pct"] = "0.01"
    database.setup(scenario)
    return database


def test_a_level_stop_loss_also_rests_on_the_exchange(stop_db, sim):
    bot = start_bot(stop_db, sim)
    try:
        wait_for(lambda: bool(stop_db.rows("SELECT 1 FROM trading_feedstatus")), "the bot")
        sim.start_replay()
        wait_for(lambda: bool(filled(stop_db)), "a first fill")
        side = filled(stop_db)[0]["side"]

        def on_the_exchange() -> bool:
            # 1% from the side's average entry as the exchange holds it, on the 0.1 tick,
            # never tighter than asked.
            stop, held = sim.stops().get(side), sim.positions().get(side, {})
            if stop is None or not held.get("size"):
                return False
            wanted = held["entry_price"] * (0.99 if side == "LONG" else 1.01)
            safe = stop <= wanted + 1e-9 if side == "LONG" else stop >= wanted - 1e-9
            return safe and abs(stop - wanted) <= 0.1 + 1e-6

        wait_for(on_the_exchange, "the stop on the exchange at 1% from the entry", 5)
        out, err = bot.communicate(timeout=RUN_FOR_S + 30)
    finally:
        if bot.poll() is None:
            bot.kill()
    assert bot.returncode == 0, err
    assert not [e for e in log_events(out) if e["event"] == "exchange stop-loss not set"]
