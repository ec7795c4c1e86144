"""The status page in a real browser, with no bot session recorded."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Browser

pytestmark = [
    pytest.mark.needs("chromium", "chromium-driver"),
    pytest.mark.django_db(transaction=True),
]


def test_no_bot_session_shows_the_not_running_banner(signed_in: Browser) -> None:
    signed_in.open("/status")
    banner = signed_in.text("#status .banner.bot-down[role=alert]")
    assert banner.startswith("The bot is not running: no bot session has been recorded yet.")
    assert "python manage.py runbot" in banner
    assert "No bot session has been recorded yet." in signed_in.text("#status")
