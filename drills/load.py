"""Load drill: 100 staff dashboards polling while runbot trades a 10x replay into the same SQLite.

Sets up a fresh SQLite database (WAL) in a temporary folder: migrated, the benchmark's 100 levels
spread over the recorded Binance USD-M BTCUSDT trades of 2024-08-08 (bench/runbot.py), a staff
user and one database session per client (the first got through the login form and its CSRF
token). The dashboard is served as in the Procfile, `daphne -b 127.0.0.1` (DEBUG off), on a free
port. runbot trades on the paper exchange with `--feed replay:PATH@10`, deterministic: the same
ticks give the same orders in both phases, so that the only difference between them is the load.

1. quiet: runbot replays the capture with no client (about 35 s): the bot's own baseline; then
   one client polls for 5 s with no bot: the page-latency floor;
2. the database is reset to the same start; `--clients` clients, each with its own session,
   poll what the dashboard's pages poll with htmx (every `hx-trigger="every ..."` in
   templates/dashboard: the home page's bot line, status, trades, positions, the symbol's levels
   table, a level's events; `HX-Request: true`) every `--interval` seconds (the pages' own 2 s)
   for `--seconds`; runbot replays the same trades again, starting 2 s after the clients.

Reported: requests, page latency p50/p95/p99 (overall and per path), errors (any status but
200, any failed request, any "database is locked" or traceback in the bot's or daphne's output,
a bot that does not exit 0) and runbot's tick-to-order p99, from its "symbol stopped" log line,
with and without the clients. Exits 1 when there is any error. The request loop, the client
threads and the helpers come from bench/web_load.py. Only 127.0.0.1 is used.

Run: `make drills`, or `.venv/bin/python drills/load.py [--clients N] [--seconds S]`;
the summary is printed as JSON and written to var/drills/load.json.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import web_load  # noqa: E402
from bench.engine import DATA  # noqa: E402
from bench.runbot import levels_scenario  # noqa: E402

EXCHANGE, SYMBOL, MARKET = "binanceusdm", "BTC/USDT:USDT", "BTCUSDT"
SPEED = 10
OUT = ROOT / "var" / "drills"
ASGI = ("levelbot.asgi:application",)
SERVER_ERRORS = ("Internal Server Error", "Traceback")

SESSIONS = """\
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore

user = get_user_model().objects.get(username={username!r})
keys = []
for _ in range({n}):
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    keys.append(session.session_key)
print(json.dumps(keys))
"""


def polled_paths(level_pk: int) -> list[str]:
    """What the pages poll (templates/dashboard/*.html, `hx-trigger="every 2s"` and `3s`): the
    home page's bot line, status, trades, positions, the symbol's levels table and one level's
    event timeline; the backtest jobs poll only while a backtest runs, so not here."""
    return [
        "/",
        "/status",
        "/trades",
        "/positions",
        f"/levels/{EXCHANGE}/{MARKET}/table",
        f"/levels/{EXCHANGE}/{MARKET}/{level_pk}/events",
    ]


def reset(site: web_load.Site, scenario: Path, clients: int, port: int) -> tuple[list[str], int]:
    """The database back at its start: the scenario, the staff user, one session per client (the
    first through the login form). Returns the session keys and one level's pk."""
    site.manage("flush", "--noinput")
    out = site.manage("import_scenario", str(scenario), "--sentiment", "--json")
    ids: dict[str, int] = json.loads(out.strip().splitlines()[-1])
    env = site.env | {"DJANGO_SUPERUSER_PASSWORD": web_load.PASSWORD}
    site.manage(
        "createsuperuser", "--noinput", "--username", web_load.USERNAME, "--email", "", env=env
    )
    keys = [web_load.log_in(port)]
    if clients > 1:
        script = SESSIONS.format(username=web_load.USERNAME, n=clients - 1)
        keys += json.loads(site.manage("shell", "-c", script).strip().splitlines()[-1])
    return keys, min(ids.values())


def poll(
    port: int, sessions: list[str], paths: list[str], interval: float, seconds: float
) -> web_load.Load:
    """One thread per session running bench/web_load.py's client for `seconds`; bounded."""
    load = web_load.Load()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=web_load.client,
            args=(port, session, paths, interval, until, i, load),
            daemon=True,
        )
        for i, session in enumerate(sessions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, until - time.monotonic()) + web_load.REQUEST_S + 5)
    return load


def run_bot(
    site: web_load.Site, processes: web_load.Processes, log: Path, run_for: float
) -> dict[str, Any]:
    """One replay through runbot on the paper exchange; its "symbol stopped" line and exit."""
    args = [
        sys.executable,
        "manage.py",
        "runbot",
        "--feed",
        f"replay:{DATA}@{SPEED}",
        "--exchange",
        EXCHANGE,
        "--symbols",
        SYMBOL,
        "--run-for",
        f"{run_for:g}",
    ]
    bot = processes.start(args, site.env, log)
    try:
        status = bot.wait(timeout=run_for + 60)
    except subprocess.TimeoutExpired:
        bot.kill()
        status = bot.wait()
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    stopped = next((json.loads(line) for line in reversed(lines) if '"symbol stopped"' in line), {})
    return {"exit": status, **stopped}


def percentiles(samples: list[float]) -> dict[str, float | None]:
    if not samples:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None}
    return {f"p{q}_ms": round(web_load.pick(samples, q / 100), 1) for q in (50, 95, 99)}


def by_path(load: web_load.Load, path: str) -> dict[str, Any]:
    samples = [ms for p, _, ms in load.samples if p == path]
    return {"requests": len(samples), **percentiles(samples)}


def journal_mode(database: Path) -> str:
    with sqlite3.connect(database) as db:
        mode: str = db.execute("PRAGMA journal_mode").fetchone()[0]
        return mode


def drill(clients: int, seconds: float, interval: float) -> dict[str, Any]:
    """Both phases in one temporary folder; returns the summary (errors listed by kind)."""
    run_for = max(1.0, seconds - web_load.WARM_UP_S - 1)
    with tempfile.TemporaryDirectory(prefix="levelbot-load-drill-") as tmp:
        folder = Path(tmp)
        site = web_load.Site(folder)
        scenario = folder / "scenario.json"
        scenario.write_text(json.dumps(levels_scenario(EXCHANGE)))
        site.manage("migrate", "--noinput")
        site.manage("collectstatic", "--noinput")
        port = web_load.free_port()
        processes = web_load.Processes()
        daphne_log = folder / "daphne.log"
        try:
            daphne = processes.start(
                [str(web_load.BIN / "daphne"), "-b", web_load.HOST, "-p", str(port), *ASGI],
                site.env,
                daphne_log,
            )
            web_load.wait_listening(port, daphne, daphne_log)

            sessions, level_pk = reset(site, scenario, 1, port)
            quiet = run_bot(site, processes, folder / "bot-quiet.log", run_for)
            paths = polled_paths(level_pk)
            floor = poll(port, sessions, paths, web_load.INTERVAL_S, web_load.FLOOR_S)

            sessions, level_pk = reset(site, scenario, clients, port)
            paths = polled_paths(level_pk)
            web_load.check_partials(port, sessions[-1], paths)
            result: dict[str, web_load.Load] = {}
            poller = threading.Thread(
                target=lambda: result.update(load=poll(port, sessions, paths, interval, seconds)),
                daemon=True,
            )
            poller.start()
            time.sleep(web_load.WARM_UP_S)
            loaded = run_bot(site, processes, folder / "bot-loaded.log", run_for)
            poller.join(timeout=seconds + web_load.REQUEST_S + 10)
            load = result.get("load", web_load.Load())
            wal = journal_mode(folder / "web.sqlite3")
        finally:
            processes.stop_all()
        logs = {path.name: path.read_text() for path in sorted(folder.glob("*.log"))}
    summary = summarize(clients, seconds, interval, paths, load, quiet, loaded, logs, wal)
    floor_ms = [ms for _, status, ms in floor.samples if status == 200]
    summary["latency_one_client_no_bot"] = {"requests": len(floor_ms), **percentiles(floor_ms)}
    return summary


def summarize(
    clients: int,
    seconds: float,
    interval: float,
    paths: list[str],
    load: web_load.Load,
    quiet: dict[str, Any],
    loaded: dict[str, Any],
    logs: dict[str, str],
    wal: str,
) -> dict[str, Any]:
    statuses = Counter(status for _, status, _ in load.samples)
    server = sum(n for status, n in statuses.items() if status >= 500)
    other = sum(n for status, n in statuses.items() if status not in (0, 200) and status < 500)
    errors = {
        "responses_5xx": server,
        "responses_not_200": other,
        "requests_failed": sum(load.failures.values()),
        "database_is_locked": sum(text.count(web_load.LOCKED) for text in logs.values()),
        "server_error_lines": sum(
            logs.get("daphne.log", "").count(words) for words in SERVER_ERRORS
        ),
        "bot_tracebacks": sum(
            text.count("Traceback") for name, text in logs.items() if name.startswith("bot")
        ),
        "bot_exit_not_0": sum(run.get("exit") != 0 for run in (quiet, loaded)),
        "bot_no_summary": sum("latency_p99_ms" not in run for run in (quiet, loaded)),
    }
    latencies = [ms for _, _, ms in load.samples]

    def bot(run: dict[str, Any]) -> dict[str, Any]:
        keys = ("exit", "ticks", "orders", "latency_p50_ms", "latency_p99_ms")
        return {key: run.get(key) for key in keys}

    return {
        "drill": "load",
        "setup": (
            f"{clients} clients, each its own staff session, polling {len(paths)} htmx partials "
            f"every {interval:g} s for {seconds:g} s; daphne on 127.0.0.1; SQLite {wal}; runbot "
            f"on the paper exchange replaying {DATA.name} at {SPEED}x into the same database"
        ),
        "clients": clients,
        "seconds": seconds,
        "interval_s": interval,
        "journal_mode": wal,
        "requests": len(load.samples),
        "requests_per_s": round(len(load.samples) / seconds, 1),
        "latency": percentiles(latencies),
        "latency_by_path": {path: by_path(load, path) for path in paths},
        "statuses": {str(status): n for status, n in sorted(statuses.items())},
        "failures": dict(load.failures),
        "errors": errors,
        "errors_total": sum(errors.values()),
        "bot_without_load": bot(quiet),
        "bot_under_load": bot(loaded),
        "tick_to_order_p99_ms": {
            "without_load": quiet.get("latency_p99_ms"),
            "under_load": loaded.get("latency_p99_ms"),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between a client's rounds of polls"
    )
    parser.add_argument("--out", type=Path, default=OUT / "load.json")
    args = parser.parse_args()
    if not (1 <= args.clients <= 300 and 5 <= args.seconds <= 600 and args.interval >= 0.1):
        parser.error("--clients 1..300, --seconds 5..600, --interval 0.1 or more")
    summary = drill(args.clients, args.seconds, args.interval)
    text = json.dumps(summary, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    sys.exit(1 if summary["errors_total"] else 0)


if __name__ == "__main__":
    main()
