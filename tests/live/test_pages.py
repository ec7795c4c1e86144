"""Pages poll without live push, and open the live socket instead with it."""

from __future__ import annotations

import re

import pytest
from django.conf import LazySettings
from django.contrib.auth.models import User
from django.test import Client

from tests.factories import LevelFactory
from tests.live.conftest import redis_layers

pytestmark = pytest.mark.django_db

# Every live part of a page: its URL, and the socket that keeps it current with live push.
PAGES = {
    "/trades": "/ws/live?show=trades",
    "/trades?symbol=ETH/USDT:USDT": "/ws/live?show=trades&amp;symbol=ETH%2FUSDT%3AUSDT",
    "/status": "/ws/live?show=status",
    "/positions": "/ws/live?show=positions",
    "/levels/bybit/BTCUSDT": "/ws/live?show=levels&amp;exchange=bybit&amp;symbol=BTC%2FUSDT%3AUSDT",
}
POLLING = re.compile(r'hx-trigger="every \d+s"')


@pytest.fixture
def staff_client(client: Client) -> Client:
    client.force_login(User.objects.create_user("trader", password="x", is_staff=True))
    LevelFactory(exchange="bybit", symbol="BTC/USDT:USDT")
    return client


@pytest.fixture
def redis_configured(settings: LazySettings) -> None:
    # Rendering a page connects to nothing: no server is needed behind the URL.
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    settings.CHANNEL_LAYERS = redis_layers(settings.REDIS_URL)


@pytest.mark.parametrize("url", PAGES)
def test_without_redis_pages_poll_and_open_no_socket(
    staff_client: Client, no_live_push: None, url: str
) -> None:
    html = staff_client.get(url).content.decode()
    assert POLLING.search(html)
    assert "ws-connect" not in html


@pytest.mark.parametrize(("url", "socket_url"), PAGES.items())
def test_with_redis_pages_open_the_live_socket_instead_of_polling(
    staff_client: Client, redis_configured: None, url: str, socket_url: str
) -> None:
    html = staff_client.get(url).content.decode()
    assert f'hx-ext="ws" ws-connect="{socket_url}"' in html
    assert not POLLING.search(html)
    assert "django_htmx/ext/hx-ws-2.min.js" in html


@pytest.mark.parametrize(
    ("url", "partial_id"), [("/status", "status"), ("/trades", "trades-table")]
)
def test_with_redis_polled_partials_still_answer_htmx_without_polling_again(
    staff_client: Client, redis_configured: None, url: str, partial_id: str
) -> None:
    # The trades filter swaps in a new table: it must carry the socket for its symbol.
    html = staff_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith(f'<div id="{partial_id}"')
    assert not POLLING.search(html)
    assert ("ws-connect" in html) is (partial_id == "trades-table")
