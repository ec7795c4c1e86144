"""The dashboard under 50 polling clients while runbot trades into the same SQLite database.

Sets up a fresh SQLite database in a temporary folder (migrated, the golden ETHUSDT scenario of
2024-08-08 imported with its sentiment settings, a staff user), static files collected into that
folder, and serves the app with `daphne -b 127.0.0.1` (DEBUG off) on a free port. Then, per run:

1. runbot replays the scenario's trades at 10x real time (about 35 s) with no client: the bot's
   baseline;
2. one client polls the pages' partials for a few seconds: the page-latency floor;
3. the database is reset, 50 clients log in once (one session cookie, got through the login form
   with its CSRF token) and each polls every partial the dashboard polls, as htmx does
   (`HX-Request: true`), every 0.5 s instead of the pages' 2-3 s, for a fixed time; runbot
   replays the same trades again, starting 2 s after the clients.

Reported: requests, page latency (p50/p95/p99, overall and per partial), errors (any status but
200, any failed request; "database is locked" in the daphne and bot logs), and the bot's
tick-to-order latency from its own "symbol stopped" log line with and without the clients.
Only 127.0.0.1 is used; every loop is bounded in count and time; every process started here is
stopped on the way out.

Run: `make bench`, or `.venv/bin/python bench/web_load.py [--clients N] [--duration S] [--runs N]`.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.shared_data import GOLDEN, GOLDEN_SCENARIOS  # noqa: E402

HOST = "127.0.0.1"
NAME = "ethusdt_2024-08-08"
EXCHANGE, SYMBOL, MARKET = "binanceusdm", "ETH/USDT:USDT", "ETHUSDT"
SPEED = 10  # the 343 s capture in about 34 s
USERNAME, PASSWORD = "bench", "bench-load-pass"
BIN = Path(sys.executable).parent
LOCKED = "database is locked"
# Bounds on everything that waits.
START_S = 30.0  # daphne listening
BOT_S = 120.0  # one bot run, start to exit (the replay itself lasts about 35 s)
REQUEST_S = 30.0  # one request
STOP_S = 15.0  # a process to exit after SIGTERM
WARM_UP_S = 2.0  # clients polling before the bot starts
FLOOR_S = 5.0  # the one-client floor
INTERVAL_S = 0.5  # each client's round of polls: the pages' 2-3 s, compressed

SETTINGS = """\
from levelbot.settings import *  # noqa: F403

STATIC_ROOT = {static!r}
"""


def partials(level_ids: dict[str, int]) -> list[str]:
    """What the pages poll with htmx (dashboard/urls.py, templates/dashboard/*.html): the home
    page's bot line, status, trades, positions, the symbol's levels table, a level's events."""
    events = [f"/levels/{EXCHANGE}/{MARKET}/{pk}/events" for pk in sorted(level_ids.values())[:1]]
    return [
        "/",
        "/status",
        "/trades",
        "/positions",
        f"/levels/{EXCHANGE}/{MARKET}/table",
        *events,
    ]


def pick(samples: list[float], q: float) -> float:
    """The runner's own percentile (trading/runtime/runner.py): the sample at rank q*n."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class Site:
    """The temporary folder: database, static files, settings, logs, and the commands on them."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "web_load_settings.py").write_text(SETTINGS.format(static=str(folder / "static")))
        drop = {
            "DATABASE_URL",
            "DJANGO_SETTINGS_MODULE",
            "DEBUG",
            "LEVELBOT_DEMO",
            "LEVELBOT_HTTPS",
            "REDIS_URL",  # no live push: the pages poll, which is the load measured here
            "ALLOWED_HOSTS",
            "CSRF_TRUSTED_ORIGINS",
        }
        self.env = {k: v for k, v in os.environ.items() if k not in drop}
        self.env |= {
            "DATABASE_URL": f"sqlite:///{folder / 'web.sqlite3'}",
            "DJANGO_SETTINGS_MODULE": "web_load_settings",
            "PYTHONPATH": os.pathsep.join([str(folder), str(ROOT)]),
            "LOG_LEVEL": "INFO",
        }

    def manage(self, *args: str, env: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode:
            raise SystemExit(f"manage.py {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def reset(self) -> dict[str, int]:
        """An empty database holding the scenario and the staff user; {scenario id: level pk}."""
        self.manage("flush", "--noinput")
        out = self.manage(
            "import_scenario", str(GOLDEN / f"{NAME}.scenario.json"), "--sentiment", "--json"
        )
        env = self.env | {"DJANGO_SUPERUSER_PASSWORD": PASSWORD}
        self.manage("createsuperuser", "--noinput", "--username", USERNAME, "--email", "", env=env)
        ids: dict[str, int] = json.loads(out.strip().splitlines()[-1])
        return ids


class Processes:
    """Every child started here, stopped (SIGTERM, then SIGKILL) by `stop_all`."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        self.children.append(child)
        return child

    def stop_all(self) -> None:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in self.children:
            try:
                child.wait(timeout=STOP_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=STOP_S)


def wait_listening(port: int, daphne: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if daphne.poll() is not None:
            raise SystemExit(f"daphne exited with {daphne.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"daphne did not listen on {HOST}:{port} within {START_S:.0f} s")


def cookies_of(response: http.client.HTTPResponse) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def log_in(port: int) -> str:
    """The session cookie of the staff user, got once through the login form and its CSRF."""
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_S)
    try:
        conn.request("GET", "/accounts/login/")
        page = conn.getresponse()
        html = page.read().decode()
        assert page.status == 200, f"login page: {page.status}"
        csrf_cookie = cookies_of(page)["csrftoken"]
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert match, "no CSRF token in the login form"
        form = urlencode(
            {
                "csrfmiddlewaretoken": match.group(1),
                "username": USERNAME,
                "password": PASSWORD,
                "next": "/",
            }
        )
        conn.request(
            "POST",
            "/accounts/login/",
            body=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Cookie": f"csrftoken={csrf_cookie}",
            },
        )
        done = conn.getresponse()
        done.read()
        assert done.status == 302, f"login refused: {done.status}"
        return cookies_of(done)["sessionid"]
    finally:
        conn.close()


@dataclass
class Load:
    """The requests of all clients: (path, status, milliseconds); status 0: the request failed."""

    samples: list[tuple[str, int, float]] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, rows: list[tuple[str, int, float]], failures: Counter[str]) -> None:
        with self.lock:
            self.samples += rows
            self.failures += failures


def client(
    port: int, session: str, paths: list[str], interval: float, until: float, seed: int, load: Load
) -> None:
    """Poll every path in turn, every `interval` seconds, until the monotonic time `until`. A
    round that takes longer than the interval is followed by the next at once, not by a burst."""
    headers = {"Cookie": f"sessionid={session}", "HX-Request": "true"}
    rows: list[tuple[str, int, float]] = []
    failures: Counter[str] = Counter()
    conn: http.client.HTTPConnection | None = None
    next_round = time.monotonic() + random.Random(seed).uniform(0, interval)
    try:
        while next_round < until:
            time.sleep(max(0.0, next_round - time.monotonic()))
            next_round = max(next_round + interval, time.monotonic())
            for path in paths:
                if time.monotonic() >= until:
                    break
                start = time.perf_counter()
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_S)
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    if response.will_close:
                        conn.close()
                        conn = None
                except (OSError, http.client.HTTPException) as e:
                    status = 0
                    failures[type(e).__name__] += 1
                    if conn is not None:
                        conn.close()
                        conn = None
                rows.append((path, status, (time.perf_counter() - start) * 1000))
    finally:
        if conn is not None:
            conn.close()
        load.add(rows, failures)


def poll(port: int, session: str, paths: list[str], clients: int, seconds: float) -> Load:
    """`clients` threads polling for `seconds`; returns once all have finished (bounded)."""
    load = Load()
    until = time.monotonic() + seconds
    threads = [
        threading.Thread(
            target=client, args=(port, session, paths, INTERVAL_S, until, i, load), daemon=True
        )
        for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(0.0, until - time.monotonic()) + REQUEST_S + 5)
    return load


def check_partials(port: int, session: str, paths: list[str]) -> None:
    """Each partial answers 200 with its own block, not a login page or a whole page."""
    conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_S)
    try:
        for path in paths:
            conn.request(
                "GET", path, headers={"Cookie": f"sessionid={session}", "HX-Request": "true"}
            )
            response = conn.getresponse()
            body = response.read().decode()
            assert response.status == 200, f"{path}: {response.status}"
            assert "<html" not in body.lower(), f"{path}: a whole page, not the partial"
    finally:
        conn.close()


def run_bot(
    site: Site, processes: Processes, log: Path, load: tuple[int, str, list[str], int, float] | None
) -> tuple[dict[str, object], Load | None]:
    """One replay through runbot; with `load`, the clients poll from WARM_UP_S before it."""
    args = [
        sys.executable,
        "manage.py",
        "runbot",
        "--feed",
        f"replay:{GOLDEN_SCENARIOS[NAME]}@{SPEED}",
        "--exchange",
        EXCHANGE,
        "--symbols",
        SYMBOL,
        "--run-for",
        str(BOT_S),
    ]
    result: dict[str, Load] = {}
    poller = None
    seconds = 0.0
    if load is not None:
        port, session, paths, clients, seconds = load

        def clients_poll() -> None:
            result["load"] = poll(port, session, paths, clients, seconds)

        poller = threading.Thread(target=clients_poll, daemon=True)
        poller.start()
        time.sleep(WARM_UP_S)
    bot = processes.start(args, site.env, log)
    try:
        status = bot.wait(timeout=BOT_S + 30)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"runbot still running after {BOT_S + 30:.0f} s: {log}") from None
    if poller is not None:
        poller.join(timeout=seconds + REQUEST_S + 10)
    if status != 0:
        raise SystemExit(f"runbot exited with {status}:\n{log.read_text()[-3000:]}")
    stopped = next(
        json.loads(line)
        for line in reversed(log.read_text().splitlines())
        if line.startswith("{") and '"symbol stopped"' in line
    )
    return stopped, result.get("load")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of polling per run")
    parser.add_argument("--runs", type=int, default=3, help="runs of each case; medians shown")
    args = parser.parse_args()
    assert 1 <= args.clients <= 200 and 1 <= args.duration <= 120 and 1 <= args.runs <= 10

    quiet: list[dict[str, object]] = []
    loaded: list[dict[str, object]] = []
    floor, heavy = Load(), Load()
    with tempfile.TemporaryDirectory(prefix="levelbot-web-load-") as tmp:
        site = Site(Path(tmp))
        site.manage("migrate", "--noinput")
        site.manage("collectstatic", "--noinput")
        port = free_port()
        processes = Processes()
        daphne_log = site.folder / "daphne.log"
        try:
            daphne = processes.start(
                [str(BIN / "daphne"), "-b", HOST, "-p", str(port), "levelbot.asgi:application"],
                site.env,
                daphne_log,
            )
            wait_listening(port, daphne, daphne_log)
            for run in range(args.runs):
                level_ids = site.reset()
                paths = partials(level_ids)
                stopped, _ = run_bot(site, processes, site.folder / f"bot-quiet-{run}.log", None)
                quiet.append(stopped)
                session = log_in(port)
                check_partials(port, session, paths)
                one = poll(port, session, paths, 1, FLOOR_S)
                floor.add(one.samples, one.failures)

                paths = partials(site.reset())
                session = log_in(port)
                check_partials(port, session, paths)
                stopped, load = run_bot(
                    site,
                    processes,
                    site.folder / f"bot-loaded-{run}.log",
                    (port, session, paths, args.clients, args.duration),
                )
                loaded.append(stopped)
                assert load is not None
                heavy.add(load.samples, load.failures)
        finally:
            processes.stop_all()
        logs = {path.name: path.read_text() for path in sorted(site.folder.glob("*.log"))}

    report(args, paths, quiet, loaded, floor, heavy, logs)


def report(
    args: argparse.Namespace,
    paths: list[str],
    quiet: list[dict[str, object]],
    loaded: list[dict[str, object]],
    floor: Load,
    heavy: Load,
    logs: dict[str, str],
) -> None:
    locked = {name: text.count(LOCKED) for name, text in logs.items()}
    daphne = logs.get("daphne.log", "")
    server_errors = daphne.count("Internal Server Error") + daphne.count("Traceback")
    statuses = Counter(status for _, status, _ in heavy.samples)
    bad = sum(n for status, n in statuses.items() if status != 200)
    seconds = args.duration * args.runs
    print(
        f"dashboard under load: {args.clients} clients, each polling {len(paths)} partials "
        f"every {INTERVAL_S} s for {args.duration:.0f} s, daphne on {HOST}, SQLite WAL;"
        f" runbot replaying {NAME} at {SPEED}x into the same database;"
        f" {args.runs} run(s) of each case"
    )
    offered = args.clients * len(paths) / INTERVAL_S
    print(
        f"requests {len(heavy.samples):,} ({len(heavy.samples) / seconds:,.0f}/s served, "
        f"{offered:,.0f}/s offered)  "
        f"not 200: {bad} {dict(sorted((s, n) for s, n in statuses.items() if s != 200))}  "
        f"failed: {dict(heavy.failures)}  "
        f"'{LOCKED}': {sum(locked.values())}  daphne error lines: {server_errors}"
    )
    print()
    print(f"{'page latency, ms':<42}{'requests':>9}{'p50':>9}{'p95':>9}{'p99':>9}")

    def row(label: str, samples: list[float]) -> None:
        if not samples:
            print(f"{label:<42}{0:>9}")
            return
        print(
            f"{label:<42}{len(samples):>9,}{pick(samples, 0.5):>9.1f}"
            f"{pick(samples, 0.95):>9.1f}{pick(samples, 0.99):>9.1f}"
        )

    row("1 client, no bot (floor), all partials", [ms for _, _, ms in floor.samples])
    row(f"{args.clients} clients + bot, all partials", [ms for _, _, ms in heavy.samples])
    for path in paths:
        row(f"  {path}", [ms for p, _, ms in heavy.samples if p == path])
    print()
    print(f"{'runbot tick-to-order, ms (median of runs)':<42}{'orders':>9}{'p50':>9}{'p99':>9}")
    for label, runs in (("no clients", quiet), (f"{args.clients} clients polling", loaded)):
        p50 = statistics.median(float(r["latency_p50_ms"]) for r in runs)  # type: ignore[arg-type]
        p99 = statistics.median(float(r["latency_p99_ms"]) for r in runs)  # type: ignore[arg-type]
        orders = "/".join(str(r["orders"]) for r in runs)
        each = ", ".join(f"{r['latency_p99_ms']}" for r in runs)
        print(f"{label:<42}{orders:>9}{p50:>9.2f}{p99:>9.2f}   p99 of each run: {each}")


if __name__ == "__main__":
    main()
