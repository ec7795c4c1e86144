"""The load drill (drills/load.py), small: 20 staff dashboards polling for 10 s while runbot
replays recorded trades at 10x on the paper exchange into the same SQLite database, served by
daphne: every request answered 200, no "database is locked", the bot trading in both phases."""

from __future__ import annotations

from drills import load


def test_dashboards_polling_beside_the_bot_get_no_error_and_change_no_order():
    summary = load.drill(clients=20, seconds=10, interval=2.0)
    assert summary["journal_mode"] == "wal"
    assert summary["requests"] >= 20 * 6, "every client polled every partial at least once"
    assert summary["errors"] == dict.fromkeys(summary["errors"], 0), summary["errors"]
    quiet, loaded = summary["bot_without_load"], summary["bot_under_load"]
    # 10 s cut the 10x replay short (at a time, not a tick): both phases trade, not equally.
    assert quiet["orders"] > 0 and loaded["orders"] > 0
    assert summary["tick_to_order_p99_ms"]["under_load"] is not None
