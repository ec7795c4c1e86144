"""Live push under test: a real Redis, the settings that point at it, and logged-in sockets."""

from __future__ import annotations

import os
import runpy
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from channels.testing import WebsocketCommunicator
from django.conf import LazySettings, settings
from django.contrib.auth.models import User
from django.test import Client

import levelbot.settings
from tests.redis_server import running_redis

SETTINGS_FILE = levelbot.settings.__file__

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def redis_layers(url: str) -> dict[str, dict[str, Any]]:
    """CHANNEL_LAYERS exactly as settings.py writes them when REDIS_URL is `url`."""
    with mock.patch.dict(os.environ, {"REDIS_URL": url}):
        layers: dict[str, dict[str, Any]] = runpy.run_path(SETTINGS_FILE)["CHANNEL_LAYERS"]
    return layers


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A redis-server of this test's own on 127.0.0.1, stopped and deleted afterwards."""
    with running_redis() as url:
        yield url


@pytest.fixture
def live_push(settings: LazySettings, redis_url: str) -> str:
    """The web and the bot (both this process) configured as with REDIS_URL set."""
    settings.REDIS_URL = redis_url
    settings.CHANNEL_LAYERS = redis_layers(redis_url)
    return redis_url


@pytest.fixture
def no_live_push(settings: LazySettings) -> None:
    """As without REDIS_URL, whatever the environment running the tests says."""
    settings.REDIS_URL = ""
    settings.CHANNEL_LAYERS = IN_MEMORY


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def staff_cookie(transactional_db: None) -> str:
    return session_cookie(User.objects.create_user("trader", password="x", is_staff=True))


@pytest.fixture
def viewer_cookie(transactional_db: None) -> str:
    return session_cookie(User.objects.create_user("viewer", password="x"))


def socket(
    path: str, cookie: str | None = None, origin: str = "http://testserver"
) -> WebsocketCommunicator:
    """A websocket to the real ASGI application, as a browser on this site opens it."""
    from levelbot.asgi import application

    headers = [(b"host", b"testserver"), (b"origin", origin.encode())]
    if cookie is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)
