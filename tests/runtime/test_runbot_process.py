"""runbot as a trader runs it: a real process, a real database, real recorded trades."""

from __future__ import annotations

import json
import re
import signal
import time
from collections import defaultdict

import pytest

from tests.runtime.conftest import BotDatabase, log_events
from tests.shared_data import GOLDEN, GOLDEN_SCENARIOS

ETH = "ethusdt_2024-08-08"
ENTRY_ID = re.compile(r"[a-z0-9]{6}E(\d+)([LS])(\d)(\d+)")
BTC = "btcusdt_2024-07-19"


def scenario(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((GOLDEN / f"{name}.scenario.json").read_text())
    return data


def replay_args(name: str, speed: float) -> list[str]:
    data = scenario(name)
    return [
        "--feed",
        f"replay:{GOLDEN_SCENARIOS[name]}@{speed:g}",
        "--exchange",
        str(data["exchange"]),
        "--symbols",
        str(data["symbol"]),
    ]


def trades(db: BotDatabase) -> list[dict[str, object]]:
    return [
        dict(row)
        for row in db.rows(
            "SELECT level_id, side, action, tiers, size, price, status, client_order_id,"
            " event_ts_ms, reason FROM trading_trade ORDER BY id"
        )
    ]


@pytest.mark.parametrize("name", [BTC, ETH])
def test_replay_records_exactly_the_backtests_orders(bot_db, name):
    ids = bot_db.setup(scenario(name))
    bot = bot_db.runbot(*replay_args(name, 0), "--run-for", "120")
    out, err = bot.communicate(timeout=180)
    assert bot.returncode == 0, err
    want = [json.loads(line) for line in (GOLDEN / f"{name}.orders.jsonl").read_text().splitlines()]
    got = trades(bot_db)
    assert [
        (
            t["event_ts_ms"],
            t["level_id"],
            t["side"],
            t["action"],
            json.loads(t["tiers"]),
            float(t["size"]),
            float(t["price"]),
            t["reason"],
            t["status"],
        )
        for t in got
    ] == [
        (
            o["ts"],
            ids.get(o["level"]),
            o["side"],
            o["action"],
            o["tiers"],
            pytest.approx(o["size"]),
            o["price"],
            o["reason"],
            "filled",
        )
        for o in want
    ]
    assert any(e["event"] == "feed ended" for e in log_events(out))


def test_kill_9_and_restart_leave_no_duplicate_and_no_missing_fill(bot_db):
    bot_db.setup(scenario(ETH))
    args = replay_args(ETH, 60)  # the 6-minute capture in about 6 s
    first = bot_db.runbot(*args)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(trades(bot_db)) < 4:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    before = trades(bot_db)
    assert len(before) >= 4
    second = bot_db.runbot(*args, "--run-for", "60")
    _, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    after = trades(bot_db)
    fills = {r["client_order_id"]: r for r in bot_db.rows("SELECT * FROM trading_paperfill")}
    ids = [t["client_order_id"] for t in after]
    assert len(ids) == len(set(ids))  # no duplicate order
    assert {t["status"] for t in after} <= {"filled", "rejected"}  # nothing left pending
    assert {i for t in after if t["status"] == "filled" for i in [t["client_order_id"]]} == set(
        fills
    )
    fired = defaultdict(list)
    for t in after:
        if t["action"] != "close":
            level, side, _tiers, cycle = ENTRY_ID.fullmatch(t["client_order_id"]).groups()
            fired[(level, side, cycle)] += json.loads(t["tiers"])
    assert all(len(tiers) == len(set(tiers)) for tiers in fired.values())  # no tier twice
    # every order recorded before the kill is still there, under the same id
    assert [t["client_order_id"] for t in after[: len(before)]] == [
        t["client_order_id"] for t in before
    ]


def test_sigterm_stops_cleanly_with_status_zero(bot_db):
    bot_db.setup(scenario(ETH))
    bot = bot_db.runbot(*replay_args(ETH, 20))
    time.sleep(4)
    bot.send_signal(signal.SIGTERM)
    out, err = bot.communicate(timeout=15)
    assert bot.returncode == 0, err
    events = [e["event"] for e in log_events(out)]
    assert "stopping" in events and events[-1] == "bot stopped"
    (session,) = bot_db.rows("SELECT stopped_at FROM trading_botsession")
    assert session["stopped_at"] is not None
    assert {t["status"] for t in trades(bot_db)} <= {"filled"}


def test_synthetic_feed_trades_within_a_minute_on_a_fresh_install(bot_db):
    bot_db.setup(
        {
            "exchange": "bybit",
            "symbol": "ETH/USDT:USDT",
            "tiers": {"tier1_pct": 0.006, "tier2_pct": 0.004, "tier3_pct": 0.002},
            "levels": [{"id": "a", "level_price": 2650, "base_size": 0.05, "cool_down_ms": 1000}],
        }
    )
    bot = bot_db.runbot("--run-for", "25")
    _, err = bot.communicate(timeout=90)
    assert bot.returncode == 0, err
    filled = [t for t in trades(bot_db) if t["status"] == "filled"]
    assert filled, "no order in 25 s of the synthetic feed"
    (status,) = bot_db.rows("SELECT state, last_price FROM trading_feedstatus")
    assert status["state"] == "stopped" and status["last_price"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--feed", "replay:/nonexistent.csv@0"], "no such file to replay"),
        (["--feed", "carrier-pigeon"], "Unknown feed"),
        (["--feed", "replay:x.csv@fast"], "is not a number"),
        (["--live"], "add --feed live"),
        (["--live", "--feed", "live", "--exchange", "bybit"], "LEVELBOT_BYBIT_API_KEY"),
        (["--feed", "live", "--exchange", "kraken"], "does not trade on 'kraken'"),
        (["--run-for", "-1"], "positive number of seconds"),
    ],
)
def test_bad_options_are_clear_errors(bot_db, args, message):
    result = bot_db.manage("runbot", *args)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_a_database_missing_migrations_is_a_clear_error_before_anything_starts(bot_db):
    rolled_back = bot_db.manage("migrate", "trading", "zero", "--noinput")
    assert rolled_back.returncode == 0, rolled_back.stderr
    result = bot_db.manage("runbot", "--run-for", "5")
    assert result.returncode == 1
    assert "migration(s) not applied (trading.0001_initial, " in result.stderr
    assert "python manage.py migrate" in result.stderr and "Traceback" not in result.stderr


def test_a_second_bot_on_the_same_symbol_trades_nothing_and_says_why(bot_db):
    bot_db.setup(scenario(ETH))
    first = bot_db.runbot(*replay_args(ETH, 20))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not trades(bot_db):
        time.sleep(0.05)
    assert trades(bot_db), "the first bot never traded"
    second = bot_db.runbot(*replay_args(ETH, 20), "--run-for", "3")
    out, err = second.communicate(timeout=60)
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=30)
    assert second.returncode == 0, err
    (refused,) = [e for e in log_events(out) if e["event"] == "symbol not started"]
    assert "Another bot is trading this symbol" in str(refused["why"])
    assert not any(e["event"] == "symbol started" for e in log_events(out))
    ids = [t["client_order_id"] for t in trades(bot_db)]
    assert len(ids) == len(set(ids))
