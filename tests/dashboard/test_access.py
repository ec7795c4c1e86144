"""Every page, partial and action is for logged-in staff only (DESIGN 5)."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpResponse
from django.test import Client

from tests.dashboard.conftest import HTMX
from tests.dashboard.factories import BacktestRunFactory
from tests.factories import LevelFactory, SymbolTiersFactory
from trading.models import BotSettings, CloseRequest, Level, SymbolTiers

pytestmark = pytest.mark.django_db

# (method, path); {level} and {run} are filled in with rows made by the test.
ROUTES = [
    ("get", "/"),
    ("get", "/levels"),
    ("get", "/levels/binanceusdm"),
    ("get", "/levels/binanceusdm/BTCUSDT"),
    ("post", "/levels/binanceusdm/BTCUSDT"),
    ("delete", "/levels/binanceusdm/BTCUSDT/{level}"),
    ("get", "/levels/binanceusdm/BTCUSDT/table"),
    ("post", "/levels/binanceusdm/BTCUSDT/tiers"),
    ("post", "/levels/binanceusdm/BTCUSDT/{level}/pause"),
    ("post", "/levels/binanceusdm/BTCUSDT/{level}/resume"),
    ("get", "/levels/binanceusdm/BTCUSDT/{level}/events"),
    ("get", "/positions"),
    ("get", "/trades"),
    ("get", "/status"),
    ("post", "/kill-switch"),
    ("post", "/close-everything"),
    ("post", "/positions/binanceusdm/BTCUSDT/LONG/close"),
    ("get", "/backtests"),
    ("get", "/backtests/{run}"),
]

LEVEL_POST = {
    "level_price": "61000",
    "base_size": "0.002",
    "leverage": "10",
    "margin_type": "isolated",
    "cool_down_ms": "1000",
}
TIERS_POST = {"tier1_pct": "0.01", "tier2_pct": "0.005", "tier3_pct": "0.001"}


def request(client: Client, method: str, path: str, **kwargs: Any) -> tuple[HttpResponse, str]:
    """Make a level, tiers and a backtest run, then send the request; return it and its URL."""
    level = LevelFactory(level_price=62750)
    run = BacktestRunFactory()
    SymbolTiersFactory()
    data = (
        TIERS_POST
        if path.endswith("/tiers")
        else {"paused": "1"}
        if path == "/kill-switch"
        else LEVEL_POST
    )
    url = path.format(level=level.pk, run=run.pk)
    if method == "post":
        return client.post(url, data, **kwargs), url
    return getattr(client, method)(url, **kwargs), url


def unchanged() -> bool:
    level = Level.objects.get()
    tiers = SymbolTiers.objects.get()
    paused = BotSettings.load().entries_paused
    closing = CloseRequest.objects.exists()
    return (
        level.is_active
        and tiers.tier1_pct == SymbolTiersFactory.tier1_pct
        and not paused
        and not closing
    )


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_visitors_are_sent_to_the_login_page(client: Client, method: str, path: str) -> None:
    response, url = request(client, method, path)
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={url}"
    assert unchanged()


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_htmx_requests_of_visitors_redirect_the_browser_to_the_login_page(
    client: Client, method: str, path: str
) -> None:
    headers = {**HTMX, "HX-Current-URL": "http://testserver/levels/binanceusdm/BTCUSDT"}
    response, _ = request(client, method, path, headers=headers)
    assert response.status_code == 200
    assert response["HX-Redirect"] == "/accounts/login/?next=/levels/binanceusdm/BTCUSDT"
    assert unchanged()


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_users_who_are_not_staff_are_refused(viewer_client: Client, method: str, path: str) -> None:
    response, _ = request(viewer_client, method, path)
    assert response.status_code == 403
    assert "staff" in response.content.decode()
    assert unchanged()


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_staff_get_an_answer(staff_client: Client, method: str, path: str) -> None:
    response, _ = request(staff_client, method, path)
    assert response.status_code in (200, 302)
    redirects = ("/levels/", "/status", "/positions")
    assert response.status_code == 200 or response["Location"].startswith(redirects)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/levels/binanceusdm/BTCUSDT"),
        ("delete", "/levels/binanceusdm/BTCUSDT/{level}"),
        ("post", "/levels/binanceusdm/BTCUSDT/tiers"),
        ("post", "/levels/binanceusdm/BTCUSDT/{level}/pause"),
    ],
)
def test_writes_without_the_csrf_token_are_refused_and_change_nothing(
    csrf_client: Client, method: str, path: str
) -> None:
    response, _ = request(csrf_client, method, path, headers=HTMX)
    assert response.status_code == 403
    assert Level.objects.count() == 1
    assert unchanged()


def test_writes_with_the_csrf_token_of_the_page_go_through(csrf_client: Client) -> None:
    level = LevelFactory()
    page = csrf_client.get("/levels/binanceusdm/BTCUSDT")
    token = page.context["csrf_token"]
    assert f'hx-headers=\'{{"x-csrftoken": "{token}"}}\'' in page.content.decode()
    headers = {**HTMX, "X-CSRFToken": str(token)}
    response = csrf_client.delete(f"/levels/binanceusdm/BTCUSDT/{level.pk}", headers=headers)
    assert response.status_code == 200
    assert not Level.objects.filter(pk=level.pk).exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/"),
        ("post", "/levels"),
        ("get", "/levels/binanceusdm/BTCUSDT/{level}"),
        ("get", "/levels/binanceusdm/BTCUSDT/tiers"),
        ("get", "/levels/binanceusdm/BTCUSDT/{level}/pause"),
        ("post", "/levels/binanceusdm/BTCUSDT/table"),
        ("delete", "/levels/binanceusdm/BTCUSDT"),
        ("post", "/trades"),
        ("post", "/positions"),
        ("post", "/status"),
        ("delete", "/levels/binanceusdm/BTCUSDT/{level}/events"),
    ],
)
def test_a_route_answers_only_its_own_methods(staff_client: Client, method: str, path: str) -> None:
    response, _ = request(staff_client, method, path)
    assert response.status_code == 405
    assert unchanged()
