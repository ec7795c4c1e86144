"""What levelbot's reliability drills share: the exchange simulator and runbot as processes, the
bot's JSON log, and the comparison of the exchange's orders with the bot's database.

    sim = start_simulator(DATA, speed=10)                 # manage.py exchange_sim, its own process
    db = prepare_database(folder / "bot.sqlite3", levels_scenario("bybit", leverage=20))
    bot = start_bot(db, sim, log=folder / "bot.log")      # runbot --live --feed live on it
    wait_until_up(bot, folder / "bot.log")
    sim.control("delay_next_orders", n=1, seconds=2)      # any of the simulator's faults
    ...
    counts = compare(sim, db)                             # duplicates, fills missing, ...
    report("crash", summary)                              # printed, and var/drills/crash.json

Everything talks to 127.0.0.1 only. `compare` also takes a `SimulatorThread`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Protocol

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.engine import DATA  # noqa: E402
from bench.runbot import levels_scenario  # noqa: E402
from tests.runtime.conftest import BotDatabase  # noqa: E402

__all__ = [
    "DATA",
    "OUTPUT",
    "ROOT",
    "BotDatabase",
    "Simulator",
    "bot_env",
    "bot_settings",
    "compare",
    "failures",
    "levels_scenario",
    "orders_in_flight",
    "pending",
    "prepare_database",
    "read_events",
    "report",
    "request_close",
    "start_bot",
    "start_simulator",
    "stop_bot",
    "wait_for",
    "wait_until_up",
]

OUTPUT = ROOT / "var" / "drills"  # git-ignored, as all of var/
RUNBOT = ("runbot", "--live", "--feed", "live", "--exchange", "bybit")
UP_EVENT = "symbol started"  # logged once a symbol's recovery is done and it trades
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy for 127.0.0.1
# An entry's client order id after the installation prefix: level, side, tiers, cycle
# (trading/runtime/clientid.py).
ENTRY_BODY = re.compile(r"E(\d+)([LS])(\d)(\d+)")
# What compare() counts that must all be 0 after a drill.
MUST_BE_ZERO = (
    "duplicates",
    "fills_missing",
    "tiers_fired_twice",
    "unsettled",
    "unknown_fills",
    "fills_mismatched",
    "positions_mismatched",
)


# The simulator -----------------------------------------------------------------------------


@dataclass
class Simulator:
    """`manage.py exchange_sim` running as a process of its own, and its HTTP controls."""

    process: subprocess.Popen[str]
    rest_url: str
    ws_url: str

    def control(self, fault: str, **args: Any) -> Any:
        """Run one of the simulator's controls (`POST /sim/control`), e.g.
        `control("delay_next_orders", n=1, seconds=2)`; returns its result."""
        body = json.dumps({"fault": fault, **args}).encode()
        request = urllib.request.Request(
            f"{self.rest_url}/sim/control",
            data=body,
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with LOCAL.open(request, timeout=10) as answer:
                reply = json.load(answer)
        except urllib.error.HTTPError as e:
            reply = json.load(e)
        if not reply.get("ok"):
            raise ValueError(f"The simulator refused {fault}: {reply.get('error')}")
        return reply.get("result")

    def state(self) -> dict[str, Any]:
        """Price, orders, positions, stops and request counts (`GET /sim/state`)."""
        with LOCAL.open(f"{self.rest_url}/sim/state", timeout=10) as answer:
            state: dict[str, Any] = json.load(answer)
        return state

    def orders(self) -> list[dict[str, Any]]:
        """Every order the exchange accepted, oldest first (`SimulatorThread.orders`' shape)."""
        orders: list[dict[str, Any]] = self.state()["orders"]
        return orders

    def positions(self) -> dict[str, dict[str, float]]:
        positions: dict[str, dict[str, float]] = self.state()["positions"]
        return positions

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, then SIGKILL if it has not gone within `timeout`; its exit code."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        return self.process.returncode

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_simulator(
    trades: Path | None,
    speed: float,
    *,
    balance: float = 10_000_000,
    args: Iterable[str] = (),
    log: Path | None = None,
    env: dict[str, str] | None = None,
) -> Simulator:
    """Start `manage.py exchange_sim` replaying `trades` (read in place) at `speed` times real
    time (flat price without a file), with `args` added; its stderr goes to `log` if given.
    Returns once it listens."""
    command = [sys.executable, "manage.py", "exchange_sim", "--balance", str(balance)]
    if trades is not None:
        command += ["--trades", str(trades), "--speed", f"{speed:g}"]
    # The file stays open in the simulator when it is closed here.
    with log.open("w+") if log is not None else tempfile.TemporaryFile("w+") as errors:
        process = subprocess.Popen(
            [*command, *args],
            cwd=ROOT,
            env=env if env is not None else _environment(),
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        assert process.stdout is not None
        words = process.stdout.readline().split()  # REST http://127.0.0.1:P WS ws://127.0.0.1:P
        if len(words) != 4 or words[0] != "REST":
            process.kill()
            process.wait()
            errors.seek(0)
            said = errors.read()[-2000:]
            raise RuntimeError(f"The exchange simulator did not start:\n{said}")
    return Simulator(process, words[1], words[3])


# The bot's database ------------------------------------------------------------------------


def _environment() -> dict[str, str]:
    """This process's environment, less what would point a child at another database or mode."""
    return {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "LEVELBOT_DEMO"}}


def bot_settings(db: BotDatabase, **fields: object) -> None:
    """Set fields of the bot settings row (`levels_reload_ms=500`, ...)."""
    assignments = "; ".join(f"s.{name} = {value!r}" for name, value in fields.items())
    code = (
        f"from trading.models import BotSettings; s = BotSettings.load(); {assignments}; s.save()"
    )
    done = db.manage("shell", "-c", code)
    if done.returncode != 0:
        raise RuntimeError(f"Could not set the bot settings {fields}:\n{done.stderr}")


def prepare_database(path: Path, scenario: dict[str, object], **settings: object) -> BotDatabase:
    """A fresh SQLite database at `path` (any old one removed), migrated, holding `scenario`'s
    tiers and levels (as `levels_scenario` builds them), with bot `settings` set."""
    for old in path.parent.glob(f"{path.name}*"):
        old.unlink()
    db = BotDatabase(path)
    migrated = db.manage("migrate", "--noinput")
    if migrated.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{migrated.stderr}")
    db.setup(scenario)
    if settings:
        bot_settings(db, **settings)
    return db


def request_close(db: BotDatabase, exchange: str, symbol: str, side: str) -> None:
    """Ask the running bot to close a side now, as the dashboard's close button does (the
    bot carries out pending close requests within a second)."""
    db.rows(
        "INSERT OR IGNORE INTO trading_closerequest"  # one pending per side at most
        " (exchange, symbol, side, status, requested_by, detail, created_at)"
        " VALUES (?, ?, ?, 'pending', 'drill', '', strftime('%Y-%m-%d %H:%M:%f', 'now'))",
        exchange,
        symbol,
        side,
    )


def pending(db: BotDatabase) -> list[str]:
    """Client ids of the orders written as intents whose outcome is not recorded (yet)."""
    rows = db.rows("SELECT client_order_id FROM trading_trade WHERE status IN ('intent', 'sent')")
    return [row["client_order_id"] for row in rows]


# runbot ------------------------------------------------------------------------------------


class Exchange(Protocol):
    """What the bot and `compare` need of a simulator: a `Simulator` or a `SimulatorThread`."""

    @property
    def rest_url(self) -> str: ...

    @property
    def ws_url(self) -> str: ...

    def orders(self) -> list[dict[str, Any]]: ...

    def positions(self) -> dict[str, dict[str, float]]: ...


def bot_env(db: BotDatabase, sim: Exchange, **extra: str) -> dict[str, str]:
    """runbot's environment: `db`'s, Bybit keys, the simulator's URLs, and `extra`."""
    env = db.env
    env.update(
        LEVELBOT_BYBIT_API_KEY="k",
        LEVELBOT_BYBIT_SECRET="s",
        LEVELBOT_BYBIT_REST_URL=sim.rest_url,
        LEVELBOT_BYBIT_WS_URL=sim.ws_url,
        PYTHONUNBUFFERED="1",  # every log line on disk as it is written, a SIGKILL or not
        **extra,
    )
    return env


def start_bot(
    db: BotDatabase,
    sim: Exchange,
    *args: str,
    log: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.Popen[str]:
    """`manage.py runbot --live --feed live --exchange bybit` on `db`, trading on `sim`, with
    `args` added and `env` added to `bot_env`. Its JSON log goes to `log` (stderr beside it, as
    `.err`), or to pipes when no `log` is given."""
    stdout: IO[str] | int = subprocess.PIPE
    stderr: IO[str] | int = subprocess.PIPE
    if log is not None:
        stdout, stderr = log.open("w"), log.with_suffix(".err").open("w")
    try:
        return subprocess.Popen(
            [sys.executable, "manage.py", *RUNBOT, *args],
            cwd=ROOT,
            env=bot_env(db, sim, **(env or {})),
            stdout=stdout,
            stderr=stderr,
            text=True,
        )
    finally:
        for stream in (stdout, stderr):
            if not isinstance(stream, int):
                stream.close()  # the child has its own copy


def read_events(log: Path) -> list[dict[str, Any]]:
    """The bot's JSON log lines written so far; a line cut short by a kill is left out."""
    try:
        text = log.read_text()
    except FileNotFoundError:
        return []
    events = []
    for line in text.splitlines(keepends=True):
        if line.startswith("{") and line.endswith("\n"):
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
    return events


def wait_for(
    condition: Callable[[], object], what: str, timeout: float = 15, every: float = 0.05
) -> float:
    """Poll `condition` until it is true; the monotonic time it was. Raises TimeoutError naming
    `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")


def wait_until_up(bot: subprocess.Popen[str], log: Path, timeout: float = 30) -> float:
    """Wait until the bot has logged "symbol started" (recovery done, trading); the monotonic
    time it was seen. Raises RuntimeError, with the bot's stderr, if it exits first."""

    def up() -> bool:
        if bot.poll() is not None:
            said = log.with_suffix(".err")
            tail = said.read_text()[-3000:] if said.exists() else ""
            raise RuntimeError(f"runbot exited with {bot.returncode} before it was up:\n{tail}")
        return any(event["event"] == UP_EVENT for event in read_events(log))

    return wait_for(up, f"runbot's {UP_EVENT!r} in {log}", timeout)


def stop_bot(bot: subprocess.Popen[str], timeout: float = 30) -> tuple[int, float]:
    """SIGTERM the bot and wait for it: (exit code, seconds it took). Killed if it hangs past
    `timeout` (exit code -9)."""
    started = time.monotonic()
    if bot.poll() is None:
        bot.send_signal(signal.SIGTERM)
    try:
        bot.wait(timeout)
    except subprocess.TimeoutExpired:
        bot.kill()
        bot.wait()
    return bot.returncode, time.monotonic() - started


def orders_in_flight(sim: Exchange, db: BotDatabase) -> list[str]:
    """Client ids of orders the exchange has taken while the bot's database still holds them
    as unsettled intents: sent, and their answer not recorded."""
    waiting = set(pending(db))
    if not waiting:
        return []
    return [o["orderLinkId"] for o in sim.orders() if o["orderLinkId"] in waiting]


# The exchange against the database ---------------------------------------------------------


def compare(sim: Exchange, db: BotDatabase) -> dict[str, int]:
    """The bot's orders on the exchange against its database, once the bot has stopped:

    - `orders`, `fills`: the bot's orders on the exchange, and those filled;
    - `duplicates`: a second exchange order under one client id, or a second intent for one
      tier firing (the same level, side, cycle and tiers under another id);
    - `fills_missing`: exchange fills the database does not hold as filled;
    - `tiers_fired_twice`: a tier of a level-side-cycle in more than one order intent;
    - `unsettled`: intents whose outcome is not recorded;
    - `unknown_fills`: fills recorded that the exchange never made;
    - `fills_mismatched`: fills recorded with another size or price than the exchange's;
    - `positions_mismatched`: sides whose levels' filled sizes do not add up to the
      exchange's position.
    """
    orders = [o for o in sim.orders() if o["createType"] == "CreateByUser"]  # not a liquidation
    on_exchange = Counter(o["orderLinkId"] for o in orders)
    exchange_fills = {o["orderLinkId"]: o for o in orders if o["qty"] > 0}
    trades = [dict(row) for row in db.rows("SELECT * FROM trading_trade ORDER BY id")]
    recorded = {t["client_order_id"]: t for t in trades if t["status"] == "filled"}
    (installation,) = db.rows("SELECT order_prefix FROM trading_installation")
    prefix = installation["order_prefix"]

    firings: Counter[tuple[object, ...]] = Counter()
    fired: dict[tuple[object, ...], list[int]] = defaultdict(list)
    for trade in trades:
        body = ENTRY_BODY.fullmatch(trade["client_order_id"].removeprefix(prefix))
        if trade["action"] == "close" or body is None:
            continue
        level, side, cycle = body.group(1), body.group(2), body.group(4)
        tiers = tuple(json.loads(trade["tiers"]))
        firings[(level, side, cycle, tiers)] += 1
        fired[(level, side, cycle)] += tiers

    mismatched = 0
    for cid, order in exchange_fills.items():
        trade = recorded.get(cid)
        if trade is None:
            continue
        same_size = Decimal(str(trade["size"])) == Decimal(str(order["qty"]))
        price = trade["price"]
        same_price = price is not None and abs(float(price) - order["price"]) < 1e-6
        mismatched += not (same_size and same_price)

    held = sim.positions()
    positions_mismatched = 0
    for side in ("LONG", "SHORT"):
        states = db.rows("SELECT filled_size FROM trading_tierstate WHERE side = ?", side)
        levels_hold = sum((Decimal(str(r["filled_size"])) for r in states), Decimal(0))
        size = Decimal(str(held.get(side, {}).get("size", 0.0)))
        positions_mismatched += abs(levels_hold - size) > Decimal("1e-9")

    return {
        "orders": len(orders),
        "fills": len(exchange_fills),
        "duplicates": sum(n - 1 for n in on_exchange.values())
        + sum(n - 1 for n in firings.values()),
        "fills_missing": len(set(exchange_fills) - set(recorded)),
        "tiers_fired_twice": sum(len(t) - len(set(t)) for t in fired.values()),
        "unsettled": sum(t["status"] in ("intent", "sent") for t in trades),
        "unknown_fills": len(set(recorded) - set(exchange_fills)),
        "fills_mismatched": mismatched,
        "positions_mismatched": positions_mismatched,
    }


def failures(counts: dict[str, int]) -> dict[str, int]:
    """The counts of `compare` that are not 0 and must be."""
    return {name: counts[name] for name in MUST_BE_ZERO if counts.get(name)}


def report(name: str, summary: dict[str, Any], out: Path | None = None) -> Path:
    """Print the drill's JSON summary and write it to `out` (default var/drills/<name>.json)."""
    path = out if out is not None else OUTPUT / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(summary, indent=2)
    path.write_text(text + "\n")
    print(text)
    return path
