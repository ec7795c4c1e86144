from __future__ import annotations

from io import StringIO

import pytest
from asgiref.sync import async_to_sync
from channels.routing import ProtocolTypeRouter
from channels.testing import HttpCommunicator
from django.conf import settings
from django.core.management import call_command

from levelbot.celery import app as celery_app


def test_asgi_application_serves_django_over_http() -> None:
    from levelbot.asgi import application  # after the test settings, as daphne would load it

    assert isinstance(application, ProtocolTypeRouter)
    communicator = HttpCommunicator(
        application, "GET", "/accounts/login/", headers=[(b"host", b"127.0.0.1")]
    )
    response = async_to_sync(communicator.get_response)()
    assert response["status"] == 200
    assert b'name="password"' in response["body"]


def test_the_bot_and_the_web_server_do_not_load_celery() -> None:
    import subprocess
    import sys

    probe = (
        "import django, sys; django.setup(); "
        "import trading.runtime.bot, dashboard.urls, trading.notify; "
        "print(sorted(m for m in ('celery', 'kombu') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "DJANGO_SETTINGS_MODULE": "levelbot.settings"},
    )
    assert done.stdout.strip() == "[]"


def test_celery_app_reads_the_celery_settings() -> None:
    assert celery_app.main == "levelbot"
    assert celery_app.conf.broker_url == settings.CELERY_BROKER_URL
    assert celery_app.conf.task_always_eager is False


@pytest.mark.django_db
def test_models_and_migrations_agree() -> None:
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
