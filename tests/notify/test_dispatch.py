"""notify() never holds up its caller: a hanging destination, a full queue or a failing
delivery stay in the background thread."""

from __future__ import annotations

import os
import threading

import pytest
from django.conf import LazySettings

from tests.notify.conftest import TOKEN, Stub
from trading.notify import Notification, dispatch, dropped, flush, notify, texts
from trading.notify.dispatch import Dispatcher


def note(n: int) -> Notification:
    return texts.feed_stale(exchange="bybit", symbol="BTC/USDT:USDT", silent_s=n)


@pytest.mark.usefixtures("dispatcher")
def test_a_hanging_endpoint_does_not_hold_up_the_caller(webhook: Stub) -> None:
    webhook.gate.clear()
    assert notify(note(1)) is True
    assert webhook.holding.wait(5), "the first request never reached the stub"

    assert notify(note(2)) is True
    # notify() came back while the stub still holds the first request unanswered.
    assert webhook.holding.is_set()
    assert webhook.answered == 0
    assert flush(0.2) is False  # both are still on their way

    webhook.gate.set()
    assert flush(5)
    assert webhook.answered == 2
    assert [r.json()["fields"]["silent_s"] for r in webhook.received] == [1, 2]


def test_a_full_queue_drops_counts_and_logs_once(
    webhook: Stub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    busy, release = threading.Event(), threading.Event()
    delivered: list[Notification] = []

    def slow(notification: Notification) -> None:
        busy.set()
        release.wait(5)
        delivered.append(notification)

    small = Dispatcher(slow, maxsize=2)
    monkeypatch.setattr(dispatch, "_dispatcher", small)
    with caplog.at_level("WARNING", logger="trading.notify"):
        assert notify(note(0))
        assert busy.wait(5)  # the thread holds the first; two more fit in the queue
        queued = [notify(note(n)) for n in range(1, 6)]
        assert queued == [True, True, False, False, False]
        assert dropped() == 3
        full = [r for r in caplog.records if "queue full" in r.getMessage()]
        assert len(full) == 1
        release.set()
        assert flush(5)
    assert [n.fields["silent_s"] for n in delivered] == [0, 1, 2]
    assert "Notification queue drained; 3 dropped in all so far." in caplog.messages


def test_a_delivery_that_raises_is_logged_redacted_and_the_next_one_goes(
    settings: LazySettings,
    webhook: Stub,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.LEVELBOT_TELEGRAM_BOT_TOKEN = TOKEN
    settings.LEVELBOT_TELEGRAM_CHAT_ID = "1"
    delivered: list[Notification] = []

    def flaky(notification: Notification) -> None:
        if not delivered and notification.fields["silent_s"] == 1:
            delivered.append(notification)
            raise RuntimeError(f"bug while sending to /bot{TOKEN}/sendMessage")
        delivered.append(notification)

    monkeypatch.setattr(dispatch, "_dispatcher", Dispatcher(flaky, maxsize=10))
    with caplog.at_level("ERROR", logger="trading.notify"):
        assert notify(note(1))
        assert notify(note(2))
        assert flush(5)
    assert [n.fields["silent_s"] for n in delivered] == [1, 2]
    [error] = caplog.records
    assert "RuntimeError: bug while sending to /bot<token>/sendMessage" in error.getMessage()
    assert TOKEN not in error.getMessage()


@pytest.mark.usefixtures("dispatcher")
def test_notify_never_raises(
    webhook: Stub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(self: Dispatcher, notification: Notification) -> bool:
        raise OSError("cannot start a thread")

    monkeypatch.setattr(Dispatcher, "submit", broken)
    with caplog.at_level("ERROR", logger="trading.notify"):
        assert notify(note(1)) is False
    assert caplog.messages == ["Notification not queued: OSError: cannot start a thread"]


def test_flush_is_true_at_once_when_nothing_is_queued(dispatcher: Dispatcher) -> None:
    assert dispatcher.flush(0) is True


def test_a_forked_child_serves_its_own_queue(dispatcher: Dispatcher, webhook: Stub) -> None:
    """A prefork celery worker's children inherit the queue but not the thread."""
    assert notify(note(1)) and flush(5)  # the parent's thread is running
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        ok = False
        try:
            ok = notify(note(2)) and flush(5)
        finally:
            os.write(write_end, b"1" if ok else b"0")
            os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 1)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert [r.json()["fields"]["silent_s"] for r in webhook.received] == [1, 2]
