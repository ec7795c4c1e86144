"""Delivery to Telegram and the webhook, played by a local stub: what is sent where, retries
with backoff, giving up, the kinds filter, and a token that never reaches a log line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.conf import LazySettings

import levelbot.celery  # noqa: F401  (the app first: patches below go to the task it binds)
from tests.notify.conftest import CHAT_ID, TOKEN, Stub
from trading.notify import Kind, Notification, dispatch, flush, notify, texts
from trading.notify import destinations as destinations_module
from trading.notify.destinations import DeliveryError
from trading.tasks import deliver_notification

pytestmark = pytest.mark.usefixtures("dispatcher")


def closed() -> Notification:
    return texts.position_closed(
        exchange="bybit",
        symbol="BTC/USDT:USDT",
        side="LONG",
        size=0.004,
        price=61250.5,
        realized_pnl=-3.21,
        reason="sentiment_exit",
    )


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits between attempts, recorded and not slept."""
    waited: list[float] = []
    monkeypatch.setattr(destinations_module, "_sleep", waited.append)
    return waited


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


def test_telegram_gets_the_chat_and_text_at_the_path_with_the_token(telegram: Stub) -> None:
    note = closed()
    assert notify(note) is True
    assert flush(5)
    [request] = telegram.received
    assert request.path == f"/bot{TOKEN}/sendMessage"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json() == {"chat_id": CHAT_ID, "text": f"{note.title}\n{note.text}"}


def test_webhook_gets_kind_title_text_fields_and_timestamp(webhook: Stub) -> None:
    note = Notification(
        Kind.KILL_SWITCH,
        "Kill switch on",
        "Kill switch on: no new entry.",
        {"on": True},
        datetime(2024, 7, 18, 12, 0, tzinfo=UTC),
    )
    assert notify(note)
    assert flush(5)
    [request] = webhook.received
    assert request.path == "/hooks/levelbot-secret-path"
    assert request.json() == {
        "kind": "kill_switch",
        "title": "Kill switch on",
        "text": "Kill switch on: no new entry.",
        "fields": {"on": True},
        "timestamp": "2024-07-18T12:00:00+00:00",
    }


def test_both_destinations_get_each_notification(telegram: Stub, webhook: Stub) -> None:
    assert notify(closed())
    assert flush(5)
    assert sorted(telegram.paths()) == sorted(
        [f"/bot{TOKEN}/sendMessage", "/hooks/levelbot-secret-path"]
    )


def test_server_errors_are_retried_with_growing_waits_until_delivered(
    telegram: Stub, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    telegram.statuses.extend([500, 503])
    with caplog.at_level("WARNING", logger="trading.notify"):
        assert notify(closed())
        assert flush(5)
    assert len(telegram.received) == 3
    assert telegram.answered == 3
    assert sleeps == [0.01, 0.02]
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
    assert "attempt 1 of 3 failed (telegram answered HTTP 500" in caplog.records[0].getMessage()


def test_delivery_gives_up_after_the_bound_and_the_log_has_no_token(
    telegram: Stub, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    telegram.statuses.extend([500] * 10)
    with caplog.at_level("WARNING", logger="trading.notify"):
        assert notify(closed())
        assert flush(5)
    assert len(telegram.received) == 3  # LEVELBOT_NOTIFY_ATTEMPTS
    assert all(TOKEN in path for path in telegram.paths())  # the token was in play
    assert caplog.records[-1].levelname == "ERROR"
    assert "position_closed notification not delivered, gave up after 3 attempts" in logged(caplog)
    assert TOKEN not in logged(caplog)


def test_a_malformed_api_url_is_refused_at_once_and_logged_without_the_token(
    telegram: Stub, settings: LazySettings, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    settings.LEVELBOT_TELEGRAM_API_URL = "127.0.0.1:9"  # no http://: urllib quotes the whole URL
    with caplog.at_level("WARNING", logger="trading.notify"):
        assert notify(closed())
        assert flush(5)
    assert sleeps == []
    assert "telegram URL is not usable" in logged(caplog)
    assert "/bot<token>/sendMessage" in logged(caplog)
    assert TOKEN not in logged(caplog)


def test_a_malformed_webhook_url_is_logged_without_its_secret_path(
    webhook: Stub, settings: LazySettings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.LEVELBOT_WEBHOOK_URL = "127.0.0.1:9/hooks/levelbot-secret-path"
    with caplog.at_level("WARNING", logger="trading.notify"):
        assert notify(closed())
        assert flush(5)
    assert "webhook URL is not usable" in logged(caplog)
    assert "levelbot-secret-path" not in logged(caplog)


def test_a_refusal_is_not_retried(
    webhook: Stub, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    webhook.statuses.append(400)
    with caplog.at_level("WARNING", logger="trading.notify"):
        assert notify(closed())
        assert flush(5)
    assert len(webhook.received) == 1
    assert sleeps == []
    assert "webhook answered HTTP 400" in logged(caplog)


def test_only_the_kinds_asked_for_are_sent(webhook: Stub, settings: LazySettings) -> None:
    settings.LEVELBOT_NOTIFY_KINDS = ["position_closed", "bot_down"]
    assert notify(texts.kill_switch(on=True)) is False
    assert notify(closed()) is True
    assert flush(5)
    assert [r.json()["kind"] for r in webhook.received] == ["position_closed"]


def test_unknown_kinds_in_the_filter_are_named_once(
    webhook: Stub, settings: LazySettings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.LEVELBOT_NOTIFY_KINDS = ["position_closed", "tier_fire"]
    dispatch._warned.clear()
    with caplog.at_level("WARNING", logger="trading.notify"):
        notify(closed())
        notify(closed())
    assert flush(5)
    warnings = [r.getMessage() for r in caplog.records if "unknown kinds" in r.getMessage()]
    assert warnings == [
        "LEVELBOT_NOTIFY_KINDS names unknown kinds (tier_fire); the kinds are "
        + ", ".join(kind.value for kind in Kind)
        + "."
    ]


def test_without_a_destination_nothing_is_queued(no_destinations: None) -> None:
    assert notify(closed()) is False


def test_with_a_broker_each_destination_is_handed_to_celery(
    telegram: Stub, webhook: Stub, settings: LazySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:6390/0"
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(deliver_notification, "apply_async", lambda **kw: sent.append(kw))
    note = closed()
    assert notify(note)
    assert flush(5)
    assert [call["args"] for call in sent] == [
        [note.as_dict(), "telegram"],
        [note.as_dict(), "webhook"],
    ]
    assert TOKEN not in repr(sent)  # the worker reads the token itself
    assert telegram.received == []  # nothing delivered from this process


def test_a_broker_that_is_down_falls_back_to_direct_delivery(
    webhook: Stub, settings: LazySettings, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:6390/0"

    def broker_down(**kwargs: Any) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(deliver_notification, "apply_async", broker_down)
    with caplog.at_level("WARNING", logger="trading.notify"):
        assert notify(closed())
        assert flush(5)
    assert [r.json()["kind"] for r in webhook.received] == ["position_closed"]
    assert "The celery broker did not take the position_closed notification" in logged(caplog)


def test_the_celery_task_delivers_and_raises_a_retryable_error_without_the_token(
    telegram: Stub,
) -> None:
    payload = closed().as_dict()
    deliver_notification(payload, "telegram")
    assert telegram.received[0].json()["text"].startswith("BTC/USDT:USDT LONG closed")
    telegram.statuses.append(502)
    with pytest.raises(DeliveryError) as failure:
        deliver_notification(payload, "telegram")
    assert "telegram answered HTTP 502" in str(failure.value)
    assert TOKEN not in str(failure.value)
    assert failure.value.__cause__ is None  # no chained exception carries the URL
    assert DeliveryError in deliver_notification.autoretry_for
    assert deliver_notification.retry_backoff is True
    assert deliver_notification.max_retries == 6
