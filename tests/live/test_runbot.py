"""runbot as a process: with REDIS_URL it publishes through a real Redis; without it, it loads
nothing of Redis (the bot's memory budget is 100 MB)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer

from tests.runtime.conftest import ROOT, BotDatabase
from tests.shared_data import GOLDEN, GOLDEN_SCENARIOS
from trading.runtime.publish import STATUS_GROUP, TRADES_GROUP, price_group

REDIS_MODULES = {"redis", "channels_redis"}
SYNTHETIC = {
    "exchange": "bybit",
    "symbol": "ETH/USDT:USDT",
    "tiers": {"tier1_pct": 0.006, "tier2_pct": 0.004, "tier3_pct": 0.002},
    "levels": [{"id": "a", "level_price": 2650, "base_size": 0.05, "cool_down_ms": 1000}],
}
# 30 ticks over 160 s of trading, with orders on both sides: about 4 s at 40 times real time.
EDGES = "handmade_edges"


@pytest.fixture
def bot_db(tmp_path: Path) -> BotDatabase:
    database = BotDatabase(tmp_path / "bot.sqlite3")
    migrated = database.manage("migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr
    return database


def runbot(db: BotDatabase, *args: str, redis_url: str | None) -> subprocess.Popen[str]:
    """runbot, reporting every module it imports on stderr (`python -X importtime`)."""
    env = {k: v for k, v in db.env.items() if k != "REDIS_URL"}
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return subprocess.Popen(
        [sys.executable, "-X", "importtime", "manage.py", "runbot", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def imported(stderr: str) -> set[str]:
    """The modules of `-X importtime` lines: `import time: self | cumulative | name`."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


def packages(modules: set[str]) -> set[str]:
    return {module.split(".")[0] for module in modules}


def test_runbot_without_redis_imports_no_redis_client(bot_db: BotDatabase) -> None:
    bot_db.setup(SYNTHETIC)
    bot = runbot(bot_db, "--run-for", "3", redis_url=None)
    _, err = bot.communicate(timeout=90)
    assert bot.returncode == 0, err[-2000:]
    modules = imported(err)
    assert "trading.runtime.publish" in modules  # the bot did load its publisher
    assert packages(modules) & REDIS_MODULES == set()


@pytest.mark.needs("redis-server")
def test_runbot_with_redis_publishes_trades_status_and_prices_through_it(
    bot_db: BotDatabase, redis_url: str
) -> None:
    scenario = json.loads((GOLDEN / f"{EDGES}.scenario.json").read_text())
    exchange, symbol = scenario["exchange"], scenario["symbol"]
    bot_db.setup(scenario)
    groups = (TRADES_GROUP, STATUS_GROUP, price_group(exchange, symbol))

    async def listen() -> tuple[list[dict[str, Any]], list[int], str, int]:
        layer = RedisChannelLayer(hosts=[redis_url])
        channel = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, channel)
        bot = runbot(
            bot_db,
            "--feed",
            f"replay:{GOLDEN_SCENARIOS[EDGES]}@40",
            "--exchange",
            exchange,
            "--symbols",
            symbol,
            redis_url=redis_url,
        )
        finished = asyncio.ensure_future(asyncio.to_thread(bot.communicate, timeout=90))
        messages: list[dict[str, Any]] = []
        settled_then: list[int] = []  # trades with an outcome when each trades message came
        while True:
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=0.5)
            except TimeoutError:
                if finished.done():
                    break
                continue
            messages.append(message)
            if message["group"] == TRADES_GROUP:
                rows = bot_db.rows("SELECT count(*) FROM trading_trade WHERE status = 'filled'")
                settled_then.append(rows[0][0])
        _, err = await finished
        await layer.flush()
        return messages, settled_then, err, bot.returncode

    messages, settled_then, err, returncode = asyncio.run(listen())
    assert returncode == 0, err[-2000:]
    assert {message["group"] for message in messages} == set(groups)
    trades = [m for m in messages if m["group"] == TRADES_GROUP]
    assert all(m["exchange"] == exchange and m["symbol"] == symbol for m in trades)
    # Announced once recorded: the first announcement finds its orders' outcomes written.
    assert settled_then[0] >= trades[0]["orders"] >= 1
    (status, *_) = [m for m in messages if m["group"] == STATUS_GROUP]
    assert status["symbols"][0]["exchange"] == exchange
    assert "channels_redis" in packages(imported(err))
