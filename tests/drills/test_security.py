"""The security drill: every route and socket for staff only, CSRF on every write, no secret in
logs, pages or error reports, a clean deployment check, a brake on password guessing, the
security headers, and the demo login only in demo mode.

The routes are walked from the URLconf, not listed: a route added without protection fails here.
"""

from __future__ import annotations

import asyncio
import os
import re
import runpy
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.conf import LazySettings, settings
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.management import call_command
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from django.views.debug import ExceptionReporter

import levelbot.settings
from dashboard.login import TOO_MANY_MESSAGE, WINDOW_S
from dashboard.middleware import CONTENT_SECURITY_POLICY
from dashboard.routing import websocket_urlpatterns
from tests.dashboard.factories import (
    BacktestRunFactory,
    FeedStatusFactory,
    LevelEventFactory,
    PaperPositionFactory,
)
from tests.factories import (
    BotSessionFactory,
    BotSettingsFactory,
    LevelFactory,
    SymbolTiersFactory,
    TierStateFactory,
    TradeFactory,
)
from tests.runtime.conftest import BotDatabase
from trading.exchange.accounts import AccountConfig
from trading.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERNAME
from trading.models import (
    AccountRisk,
    BacktestJob,
    BacktestRun,
    BotSession,
    BotSettings,
    CloseRequest,
    FeedStatus,
    FundingPayment,
    Installation,
    Level,
    LevelEvent,
    Market,
    PaperFill,
    PaperPosition,
    SymbolRisk,
    SymbolTiers,
    TierState,
    Trade,
)

ROOT = Path(__file__).resolve().parents[2]
METHODS = ("get", "post", "put", "patch", "delete")
WRITES = ("post", "put", "patch", "delete")
LOGIN_PATHS = {"/accounts/login/", "/admin/login/"}


# --- the walk -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    route: str  # as written in the URLconf, prefixes joined: "levels/<str:exchange>"
    name: str  # "dashboard:symbol"; an unnamed route goes by its route
    callback: Callable[..., HttpResponse]


def walk(patterns: list[Any], prefix: str = "", namespace: str = "") -> Iterator[Route]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace) if part)
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        else:
            assert isinstance(entry, URLPattern)
            route = prefix + str(entry.pattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield Route(route, name or route, entry.callback)


ROUTES = list(walk(get_resolver().url_patterns))

# The way in is open to all: the login pages. Logging out takes a POST with the CSRF token
# (tested below with every write) and ends only the session of whoever sends it.
PUBLIC = {"login", "admin:login", "logout", "admin:logout"}
GUARDED = [route for route in ROUTES if route.name not in PUBLIC]

PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>|\(\?P<(\w+)>[^)]*\)")
ADMIN_MODEL = re.compile(r"admin/(\w+)/(\w+)/")


def row_makers() -> dict[type[Model], Callable[[], Model]]:
    """One way to make a real row of every model the admin manages."""
    return {
        Level: LevelFactory,
        SymbolTiers: SymbolTiersFactory,
        TierState: TierStateFactory,
        Trade: TradeFactory,
        BotSession: BotSessionFactory,
        BotSettings: BotSettingsFactory,
        BacktestRun: BacktestRunFactory,
        PaperPosition: PaperPositionFactory,
        FeedStatus: FeedStatusFactory,
        LevelEvent: LevelEventFactory,
        User: lambda: User.objects.create_user("someone", password="x"),
        Group: lambda: Group.objects.create(name="traders"),
        SymbolRisk: lambda: SymbolRisk.objects.create(exchange="bybit", symbol="ETH/USDT:USDT"),
        AccountRisk: lambda: AccountRisk.objects.create(exchange="bybit"),
        Market: lambda: Market.objects.create(
            exchange="bybit", symbol="ETH/USDT:USDT", market_id="ETHUSDT"
        ),
        PaperFill: lambda: PaperFill.objects.create(
            client_order_id="lbfill1",
            exchange="binanceusdm",
            symbol="BTC/USDT:USDT",
            side="LONG",
            action="open",
            size=1,
            price=62000,
        ),
        CloseRequest: lambda: CloseRequest.objects.create(
            exchange="binanceusdm", symbol="BTC/USDT:USDT", side="LONG"
        ),
        Installation: Installation.load,
        BacktestJob: lambda: BacktestJob.objects.create(exchange="bybit", symbol="ETH/USDT:USDT"),
        FundingPayment: lambda: FundingPayment.objects.create(
            exchange="bybit",
            symbol="ETH/USDT:USDT",
            amount=-1,
            paid_at=timezone.now(),
            settlement_id="funding1",
        ),
    }


@pytest.fixture
def rows(db: None) -> dict[type[Model], Model]:
    makers = row_makers()
    missing = [model.__name__ for model in admin.site._registry if model not in makers]
    assert not missing, f"The walk cannot make a row of {missing}: add one to row_makers()."
    return {model: makers[model]() for model in admin.site._registry}


def url(route: Route, rows: dict[type[Model], Model]) -> str:
    """The route with its parameters filled in from real rows; it must resolve to itself."""
    level = rows[Level]
    values = {
        "exchange": level.exchange,
        "symbol": "BTCUSDT",  # the market id of the level's symbol
        "side": "LONG",
        "level_id": level.pk,
        "run_id": rows[BacktestRun].pk,
        "content_type_id": ContentType.objects.get_for_model(Level).pk,
        "app_label": "trading",
        "url": "trading/level",  # the admin's catch-all: the changelist without its slash
    }
    if (match := ADMIN_MODEL.match(route.route)) and PARAMETER.search(route.route):
        model = apps.get_model(*match.groups())
        values["object_id"] = values["id"] = rows[model].pk
    else:
        values["object_id"] = level.pk

    def value(match: re.Match[str]) -> str:
        name = match[1] or match[2]
        assert name in values, f"The walk has no value for <{name}> in {route.route}: add one."
        return str(values[name])

    path = "/" + PARAMETER.sub(value, route.route.replace("^", "").replace("$", ""))
    assert resolve(path).func is route.callback, f"{path} does not reach {route.name}"
    return path


def send(client: Client, method: str, path: str, **kwargs: Any) -> HttpResponse:
    response: HttpResponse = getattr(client, method)(path, **kwargs)
    return response


def refused(response: HttpResponse) -> bool:
    if response.status_code in (401, 403):
        return True
    return response.status_code == 302 and urlsplit(response["Location"]).path in LOGIN_PATHS


def state() -> dict[str, Any]:
    """Every row count of the models the admin manages, and what a write would flip."""
    counts = {model.__name__: model.objects.count() for model in admin.site._registry}
    active = sorted(Level.objects.values_list("pk", "is_active"))
    return {**counts, "active": active, "paused": BotSettings.load().entries_paused}


def staff() -> User:
    """A trader with every right, so that a refusal can only come from the route itself."""
    return User.objects.create_superuser("trader", password="s3cret-pass")


def logged_in(user: User, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


# --- every route and socket is for staff only -----------------------------------------------


@pytest.mark.parametrize("route", GUARDED, ids=lambda route: route.name)
def test_every_route_refuses_visitors_and_users_who_are_not_staff(
    route: Route, rows: dict[type[Model], Model]
) -> None:
    path = url(route, rows)
    viewer = logged_in(User.objects.create_user("viewer", password="x"))
    before = state()
    for who, client in (("visitor", Client()), ("viewer", viewer)):
        answers = {m: send(client, m, path) for m in METHODS}
        answered = {m: r for m, r in answers.items() if r.status_code != 405}
        assert answered, f"{path} answers no method"
        for method, response in answered.items():
            assert refused(response), f"{method.upper()} {path} let a {who} in"
    assert state() == before


@pytest.mark.parametrize(
    "route",
    [route for route in GUARDED if PARAMETER.search(route.route)],
    ids=lambda route: route.name,
)
def test_the_rows_the_walk_fills_in_are_real(route: Route, rows: dict[type[Model], Model]) -> None:
    path = url(route, rows)
    client = logged_in(staff())
    method, response = next(
        (m, r) for m in METHODS if (r := send(client, m, path)).status_code != 405
    )
    # No levelbot model has a page outside the admin, so "view on site" has nowhere to go.
    expected_404 = route.name == "admin:view_on_site"
    assert (response.status_code == 404) == expected_404, f"{method.upper()} {path}"
    assert response.status_code < 500
    # Staff get in; only the admin says no to what a model's admin forbids (deleting a tier state).
    assert not refused(response) or (
        response.status_code == 403 and route.name.startswith("admin:")
    )


def test_the_walk_covers_the_dashboard_the_admin_and_the_logins() -> None:
    names = {route.name for route in ROUTES}
    assert {"dashboard:kill-switch", "dashboard:level-delete", "admin:index"} <= names
    assert names >= PUBLIC
    assert len(GUARDED) == len(ROUTES) - len(PUBLIC)


async def socket_opens(path: str, cookie: str | None) -> bool:
    # The host and origin of the default ALLOWED_HOSTS: the origin check is not what refuses.
    headers = [(b"host", b"127.0.0.1"), (b"origin", b"http://127.0.0.1")]
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    # Imported here, under the test settings: the origin check reads ALLOWED_HOSTS once.
    from levelbot.routing import websocket_application

    communicator = WebsocketCommunicator(websocket_application, path, headers=headers)
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return bool(connected)


def session_cookie(user: User) -> str:
    return str(logged_in(user).cookies[settings.SESSION_COOKIE_NAME].value)


# What a socket needs to show, so that staff get a socket that opens.
SOCKET_QUERY = {"ws/live": "?show=status"}


@pytest.mark.parametrize("route", [str(p.pattern) for p in websocket_urlpatterns])
def test_every_socket_refuses_visitors_and_users_who_are_not_staff(
    route: str, transactional_db: None
) -> None:
    path = f"/{route}{SOCKET_QUERY.get(route, '')}"
    viewer = session_cookie(User.objects.create_user("viewer", password="x"))
    assert not asyncio.run(socket_opens(path, None))
    assert not asyncio.run(socket_opens(path, viewer))
    assert asyncio.run(socket_opens(path, session_cookie(staff())))


# --- CSRF on every write --------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=lambda route: route.name)
def test_every_write_without_the_csrf_token_is_refused(
    route: Route, rows: dict[type[Model], Model]
) -> None:
    path = url(route, rows)
    client = logged_in(staff(), enforce_csrf_checks=True)
    client.get("/accounts/login/")  # sets the CSRF cookie, as any page does
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    for method in WRITES:
        before = state()
        response = send(client, method, path)
        assert response.status_code == 403, f"{method.upper()} {path}"
        assert "security token was missing" in response.content.decode()
        assert state() == before
        with_token = send(client, method, path, headers={"X-CSRFToken": token})
        assert "security token was missing" not in with_token.content.decode()


# --- no secret in logs, pages or error reports ----------------------------------------------

SECRET = {
    "SECRET_KEY": f"key-{secrets.token_urlsafe(40)}",
    "LEVELBOT_BYBIT_API_KEY": f"bybitkey{secrets.token_hex(12)}",
    "LEVELBOT_BYBIT_SECRET": f"bybitsecret{secrets.token_hex(16)}",
    "LEVELBOT_BINANCEUSDM_API_KEY": f"binancekey{secrets.token_hex(12)}",
    "LEVELBOT_BINANCEUSDM_SECRET": f"binancesecret{secrets.token_hex(16)}",
    "LEVELBOT_TELEGRAM_BOT_TOKEN": f"{secrets.randbelow(10**9)}:{secrets.token_urlsafe(30)}",
    "webhook": f"hook{secrets.token_hex(16)}",
    "redis": f"redispass{secrets.token_hex(12)}",
}


def planted_environment(local_url: str) -> dict[str, str]:
    """The secrets as a trader sets them; every address is on this machine."""
    env = {name: value for name, value in SECRET.items() if name.isupper()}
    env["LEVELBOT_TELEGRAM_CHAT_ID"] = "4242"
    env["LEVELBOT_TELEGRAM_API_URL"] = local_url
    env["LEVELBOT_WEBHOOK_URL"] = f"{local_url}/hooks/{SECRET['webhook']}"
    env["REDIS_URL"] = f"redis://:{SECRET['redis']}@127.0.0.1:9/0"  # nothing listens there
    return env


def leaked(text: str) -> list[str]:
    return [name for name, value in SECRET.items() if value in text]


class Refusing(BaseHTTPRequestHandler):
    """Answers every POST 401 with the path and body it was sent, as an unhappy API might."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.path.encode() + b" " + self.rfile.read(length)
        self.send_response(401)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def refusing_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_runbot_logs_no_secret(tmp_path: Path, refusing_server: str) -> None:
    database = BotDatabase(tmp_path / "bot.sqlite3")
    for command in (("migrate", "--noinput"), ("seed_demo",)):
        assert database.manage(*command).returncode == 0
    bot = subprocess.run(
        [sys.executable, "manage.py", "runbot", "--feed", "synthetic", "--run-for", "3"],
        cwd=ROOT,
        env={**database.env, **planted_environment(refusing_server)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bot.returncode == 0, bot.stderr
    log = bot.stdout + bot.stderr
    # The secrets were used: the token and the webhook were sent, the channel layer tried.
    assert "telegram answered HTTP 401" in log and "webhook answered HTTP 401" in log
    assert "live push failed" in log
    assert leaked(log) == []


def production_settings(env: dict[str, str]) -> dict[str, Any]:
    """Every setting as settings.py computes it from `env`."""
    with mock.patch.dict(os.environ, env):
        computed = runpy.run_path(levelbot.settings.__file__)
    return {name: value for name, value in computed.items() if name.isupper()}


@pytest.fixture
def planted(settings: LazySettings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The secrets in the environment and in every setting that settings.py derives from it."""
    env = planted_environment("http://127.0.0.1:9")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    derived = {n: v for n, v in production_settings(env).items() if leaked(repr(v))}
    assert {"SECRET_KEY", "LEVELBOT_TELEGRAM_BOT_TOKEN", "CHANNEL_LAYERS"} <= set(derived)
    for name, value in derived.items():
        setattr(settings, name, value)
    return env


def test_no_page_shows_a_secret_or_anything_inline(
    planted: dict[str, str], rows: dict[type[Model], Model]
) -> None:
    client = logged_in(staff())
    pages = 0
    for route in GUARDED:
        path = url(route, rows)
        response = client.get(path, follow=True)
        if response.status_code == 405:
            continue
        html = response.content.decode()
        assert leaked(html) == [], path
        # The Content-Security-Policy refuses inline scripts and styles: none may be needed.
        assert not re.search(r"<script(?![^>]*\ssrc=)[^>]*>", html), path
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html), path
        pages += response.status_code == 200
    assert pages >= 100  # the dashboard's pages and the admin's, with a row of every model


def report_of_a_failure_holding_the_keys(request: HttpRequest) -> ExceptionReporter:
    try:
        config = AccountConfig.from_env("bybit")
        assert config.has_keys
        raise RuntimeError("the exchange went away")
    except RuntimeError:
        return ExceptionReporter(request, *sys.exc_info())


def test_error_reports_hide_every_secret(planted: dict[str, str]) -> None:
    # Under runserver a request carries the whole environment in META.
    request = RequestFactory().get("/status", **planted)
    reporter = report_of_a_failure_holding_the_keys(request)
    for report in (reporter.get_traceback_html(), reporter.get_traceback_text()):
        assert leaked(report) == []
        # The settings and the environment are in the report, their values hidden.
        for name in ("LEVELBOT_TELEGRAM_BOT_TOKEN", "LEVELBOT_BYBIT_API_KEY", "REDIS_URL"):
            assert name in report
        assert "redis://:********************@127.0.0.1:9/0" in report


# --- the deployment check -------------------------------------------------------------------


def test_the_deployment_check_is_clean_under_production_settings(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "LEVELBOT_DEMO"}}
    env |= {
        "LEVELBOT_HTTPS": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "levels.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    check = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = check.stdout + check.stderr
    assert check.returncode == 0, output
    assert "WARNINGS" not in output and "ERRORS" not in output
    assert "System check identified no issues" in output


# --- the brake on password guessing ---------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_failures_counted() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def log_in(client: Client, password: str, username: str = "trader", path: str = "") -> int:
    path = path or "/accounts/login/"
    response = client.post(path, {"username": username, "password": password})
    assert response.status_code != 429 or TOO_MANY_MESSAGE in response.content.decode()
    return int(response.status_code)


def fail(times: int, client: Client, path: str = "") -> None:
    for _ in range(times):
        assert log_in(client, "wrong", path=path) == 200


@pytest.mark.django_db
def test_after_five_failures_even_the_right_password_is_refused_unchecked() -> None:
    staff()
    client = Client()
    fail(5, client)
    with mock.patch("django.contrib.auth.forms.authenticate") as authenticate:
        assert log_in(client, "s3cret-pass") == 429
    authenticate.assert_not_called()
    assert refused(client.get("/"))


@pytest.mark.django_db
def test_the_right_password_works_again_once_the_window_is_over() -> None:
    staff()
    client = Client()
    fail(5, client)
    with mock.patch("time.time", return_value=time.time() + WINDOW_S + 1):
        assert log_in(client, "s3cret-pass") == 302
    assert client.get("/").status_code == 200


@pytest.mark.django_db
def test_a_success_clears_the_failures() -> None:
    staff()
    fail(4, Client())
    assert log_in(Client(), "s3cret-pass") == 302
    client = Client()
    fail(4, client)
    assert log_in(client, "s3cret-pass") == 302


@pytest.mark.django_db
def test_other_users_and_other_addresses_are_not_held_off() -> None:
    staff()
    User.objects.create_user("partner", password="other-pass", is_staff=True)
    fail(5, Client())
    assert log_in(Client(), "other-pass", username="partner") == 302
    assert log_in(Client(REMOTE_ADDR="10.0.0.2"), "s3cret-pass") == 302


@pytest.mark.django_db
def test_the_admin_login_counts_the_same_failures() -> None:
    staff()
    client = Client()
    fail(3, client)
    fail(2, client, path="/admin/login/")
    assert log_in(client, "s3cret-pass", path="/admin/login/") == 429
    assert refused(client.get("/admin/"))


# --- security headers -----------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/levels/binanceusdm/BTCUSDT", "/admin/", "/no-such-page"])
def test_pages_carry_the_security_headers(path: str) -> None:
    for client in (Client(), logged_in(staff())):
        response = client.get(path)
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self';" in CONTENT_SECURITY_POLICY
    assert "unsafe" not in CONTENT_SECURITY_POLICY


# --- the demo login -------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_makes_no_login_outside_demo_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEVELBOT_DEMO", raising=False)
    call_command("seed_demo")
    assert Level.objects.exists()
    assert not User.objects.filter(username=DEMO_USERNAME).exists()


@pytest.mark.django_db
def test_the_demo_login_opens_only_in_demo_mode(settings: LazySettings) -> None:
    call_command("seed_demo", "--demo")
    for path in ("/accounts/login/", "/admin/login/"):
        settings.DEMO = False
        response = Client().post(path, {"username": DEMO_USERNAME, "password": DEMO_PASSWORD})
        assert response.status_code == 200
        assert "works only in demo mode" in response.content.decode()
        settings.DEMO = True
        response = Client().post(path, {"username": DEMO_USERNAME, "password": DEMO_PASSWORD})
        assert response.status_code == 302
