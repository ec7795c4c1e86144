"""The dashboard in a real browser while the real bot trades a golden replay into its database.

`manage.py runbot` runs as a process of its own, as a trader runs it, on the very SQLite file
the test server reads (tests run on a file, not in memory: see levelbot/settings.py). Its log
is kept beside the screenshots in `var/test-artifacts/`.

The replay of the ETHUSDT capture at 30x real time lasts about 12 s and its first order comes
0.07 s in, so the trades page is opened, in a window of its own, before the bot starts: the
order it shows can only have come with a poll. The bot stops by itself at the replay's end;
SIGTERM comes well before that.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from tests.browser.conftest import NOT_RELOADED, Browser, artifact_path
from tests.shared_data import GOLDEN, GOLDEN_SCENARIOS
from trading.models import BotSession, Trade

pytestmark = [
    pytest.mark.needs("chromium", "chromium-driver"),
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
NAME = "ethusdt_2024-08-08"
RUNBOT = (
    "runbot",
    "--feed",
    f"replay:{GOLDEN_SCENARIOS[NAME]}@30",
    "--exchange",
    "binanceusdm",
    "--symbols",
    "ETH/USDT:USDT",
    "--run-for",
    "40",
)
# The bot starts in a second or two; on a busy machine in more. Every wait is bounded.
BOT_START_S = 20.0
TRADE_POLL_S = 3
BOT_EXIT_S = 20.0

FEED_ROW = "#status tr.feed"
TRADE_ROWS = "#trades-table tbody tr"


def sqlite_file() -> Path:
    """The test database's file, which the bot must share with the test server."""
    assert connection.vendor == "sqlite"
    path = Path(connection.settings_dict["NAME"])
    assert path.is_file(), f"the test database is not a file: {path}"
    return path


def bot_env(database: Path) -> dict[str, str]:
    drop = {"DATABASE_URL", "LEVELBOT_DEMO", "REDIS_URL"}  # the pages poll: no live push
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["DATABASE_URL"] = f"sqlite:///{database}"
    env["LEVELBOT_JOURNAL_DIR"] = str(settings.JOURNAL_DIR)  # this test's own
    env["LOG_LEVEL"] = "INFO"
    return env


def log_events(log: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def golden_levels(transactional_db: None) -> dict[str, int]:
    """The golden scenario's tiers, levels and sentiment settings; {scenario id: level pk}."""
    out = io.StringIO()
    scenario = GOLDEN / f"{NAME}.scenario.json"
    call_command("import_scenario", str(scenario), "--sentiment", "--json", stdout=out)
    ids: dict[str, int] = json.loads(out.getvalue().strip().splitlines()[-1])
    return ids


@pytest.fixture
def second_window(signed_in: Browser) -> Iterator[str]:
    """A second browser window, beside the first, which stays current; closed afterwards."""
    first = signed_in.driver.current_window_handle
    signed_in.driver.switch_to.new_window("window")
    second = signed_in.driver.current_window_handle
    signed_in.driver.switch_to.window(first)
    yield second
    if second in signed_in.driver.window_handles:
        signed_in.driver.switch_to.window(second)
        signed_in.driver.close()
    signed_in.driver.switch_to.window(first)


def feed_live_and_bot_running(browser: Browser) -> bool:
    feed = browser.text(FEED_ROW)
    session = browser.text("#status .session")
    return (
        "ETH/USDT:USDT" in feed
        and browser.texts(f"{FEED_ROW} .badge.feed-live") == ["live"]
        and "not in this session" not in feed
        and browser.texts("#status .session .badge.bot-alive") == ["running"]
        and "No bot session" not in session
    )


def test_bot_trading_a_replay_shows_live_on_status_and_its_fills_on_trades(
    signed_in: Browser, golden_levels: dict[str, int], second_window: str
) -> None:
    database = sqlite_file()
    log = artifact_path("runbot_live-runbot.log")
    # The trades page first, before any trade exists: whatever order it shows came by a poll.
    trades_window = signed_in.driver.current_window_handle
    signed_in.open("/trades")
    assert signed_in.texts(TRADE_ROWS) == ["No trades yet."]
    signed_in.mark_page()

    signed_in.driver.switch_to.window(second_window)
    signed_in.open("/status")
    assert "no bot session has been recorded yet" in signed_in.text("#status .banner.bot-down")
    signed_in.mark_page()

    with log.open("w") as out:
        bot = subprocess.Popen(
            [sys.executable, "manage.py", *RUNBOT],
            cwd=ROOT,
            env=bot_env(database),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        signed_in.wait_for(
            lambda: feed_live_and_bot_running(signed_in),
            "the status page to show the feed live and the bot running",
            timeout=BOT_START_S,
        )
        assert signed_in.page_mark() == NOT_RELOADED
        assert signed_in.texts("#status .banner.bot-down") == []
        (session,) = BotSession.objects.all()
        assert session.pid == bot.pid
        assert f"replay:{GOLDEN_SCENARIOS[NAME]}@30" in signed_in.text(FEED_ROW)
        signed_in.screenshot("runbot_live-status")

        signed_in.driver.switch_to.window(trades_window)
        signed_in.wait_for(
            lambda: "filled" in signed_in.text(TRADE_ROWS),
            "a filled trade of the bot at the next poll of the trades page",
            timeout=2 * TRADE_POLL_S + 2,
        )
        assert signed_in.page_mark() == NOT_RELOADED
        signed_in.screenshot("runbot_live-trades")

        # The replay's first order, as the golden file has it, shown from the bot's own record.
        first = Trade.objects.order_by("id").first()
        assert first is not None
        assert (
            first.level_id,
            first.side,
            first.action,
            first.size,
            first.price,
            first.status,
        ) == (golden_levels["e2"], "LONG", "open", Decimal("0.1"), Decimal("2681.76"), "filled")
        shown = {row.split()[-1]: row for row in signed_in.texts(TRADE_ROWS)}
        assert first.client_order_id in shown
        for text in ("binanceusdm", "ETH/USDT:USDT", "LONG", "open", "2681.76", "filled"):
            assert text in shown[first.client_order_id]

        assert bot.poll() is None, "the bot stopped before SIGTERM: the replay ran out first"
        bot.send_signal(signal.SIGTERM)
        assert bot.wait(timeout=BOT_EXIT_S) == 0, log.read_text()[-3000:]
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait(timeout=BOT_EXIT_S)

    events = log_events(log)
    assert {"event": "stopping", "signal": "SIGTERM"} in [
        {k: e.get(k) for k in ("event", "signal")} for e in events
    ]
    assert events[-1]["event"] == "bot stopped"
    session.refresh_from_db()
    assert session.stopped_at is not None
