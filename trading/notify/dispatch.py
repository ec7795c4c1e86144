"""`notify()`: the one way the bot and the background jobs tell the trader something.

The caller only puts the notification on a bounded in-process queue: it never waits for the
network and never sees an exception. One daemon thread serves the queue. Without a broker (no
REDIS_URL: the embedded default) it delivers itself, retrying with backoff; with one, it hands
each destination's delivery to the celery task `trading.tasks.deliver_notification`, whose
retries survive this process, and delivers directly only if the broker cannot be reached.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable

from django.conf import settings

from trading.notify.destinations import Destinations, send_with_retries
from trading.notify.notification import Notification

log = logging.getLogger("trading.notify")

EXIT_FLUSH_S = 3.0
# Handing a task to the broker: a few quick tries, then direct delivery.
BROKER_RETRY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}


class Dispatcher:
    """A bounded queue served by one daemon thread that calls `deliver` for each item."""

    def __init__(self, deliver: Callable[[Notification], None], maxsize: int) -> None:
        self._deliver = deliver
        self._maxsize = maxsize
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._queue: queue.Queue[Notification] = queue.Queue(self._maxsize)
        self._thread: threading.Thread | None = None
        self._overflowing = False
        self.dropped = 0

    def submit(self, notification: Notification) -> bool:
        """Queue without waiting; False (counted, logged once per overflow) when full."""
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._reset()  # a forked child: the parent's thread did not come along
        self._ensure_thread()
        try:
            self._queue.put_nowait(notification)
        except queue.Full:
            with self._lock:
                self.dropped += 1
                first = not self._overflowing
                self._overflowing = True
            if first:
                log.warning(
                    "Notification queue full (%d waiting): %s and the ones after it are dropped "
                    "until it drains. A destination is slow or down; check the errors above.",
                    self._maxsize,
                    notification.kind.value,
                )
            return False
        return True

    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="levelbot-notify", daemon=True
                )
                self._thread.start()

    def _serve(self) -> None:
        work = self._queue
        while True:
            notification = work.get()
            try:
                self._deliver(notification)
            except Exception as e:  # a bug: logged, and the thread serves the next one
                trace = "".join(traceback.format_exception(e))
                log.error(
                    "Notification %s failed: %s",
                    notification.kind.value,
                    Destinations.from_settings().redact(trace),
                )
            finally:
                # Said before the task is marked done, so that flush() returns after it.
                if self._overflowing and work.empty():
                    with self._lock:
                        self._overflowing = False
                        dropped = self.dropped
                    log.warning("Notification queue drained; %d dropped in all so far.", dropped)
                work.task_done()

    def flush(self, timeout: float) -> bool:
        """Wait until everything queued so far is handled; False if `timeout` passed first."""
        work = self._queue
        deadline = time.monotonic() + timeout
        with work.all_tasks_done:
            while work.unfinished_tasks:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                work.all_tasks_done.wait(left)
        return True


def deliver(notification: Notification) -> None:
    """Every configured destination: through celery when there is a broker, else directly."""
    config = Destinations.from_settings()
    names = config.names()
    if settings.REDIS_URL:
        names = _hand_to_celery(notification, names, config)
    for name in names:
        send_with_retries(name, notification, config=config)


def _hand_to_celery(
    notification: Notification, names: list[str], config: Destinations
) -> list[str]:
    """Queue one task per destination (each retries on its own); return those not queued."""
    import levelbot.celery  # noqa: F401  (the app the task binds to: broker from REDIS_URL)
    from trading.tasks import deliver_notification

    payload = notification.as_dict()
    for index, name in enumerate(names):
        try:
            deliver_notification.apply_async(
                args=[payload, name], retry=True, retry_policy=BROKER_RETRY
            )
        except Exception as e:
            log.warning(
                "The celery broker did not take the %s notification for %s (%s); delivering "
                "it from this process instead. Check that Redis at REDIS_URL is up.",
                notification.kind.value,
                name,
                config.redact(f"{type(e).__name__}: {e}"),
            )
            return names[index:]
    return []


_dispatcher: Dispatcher | None = None
_dispatcher_lock = threading.Lock()
_warned: set[str] = set()


def _default() -> Dispatcher:
    global _dispatcher
    if _dispatcher is None:
        with _dispatcher_lock:
            if _dispatcher is None:
                _dispatcher = Dispatcher(deliver, int(settings.LEVELBOT_NOTIFY_QUEUE_SIZE))
                atexit.register(_flush_at_exit)
    return _dispatcher


def _flush_at_exit() -> None:
    if _dispatcher is not None:
        _dispatcher.flush(EXIT_FLUSH_S)


def notify(notification: Notification) -> bool:
    """Tell the trader, in the background: never blocks, never raises.

    True when queued; False when its kind is filtered out (LEVELBOT_NOTIFY_KINDS), no
    destination is configured, or the queue is full.
    """
    try:
        config = Destinations.from_settings()
        for problem in config.problems():
            if problem not in _warned:
                _warned.add(problem)
                log.warning(problem)
        if not config.names() or not config.wants(notification.kind):
            return False
        return _default().submit(notification)
    except Exception as e:  # the caller is trading: whatever happens here stays here
        log.error("Notification not queued: %s", _redacted(f"{type(e).__name__}: {e}"))
        return False


def _redacted(text: str) -> str:
    try:
        return Destinations.from_settings().redact(text)
    except Exception:
        return text.split(":", 1)[0]  # the exception's type alone: it cannot hold a secret


def flush(timeout: float = 10.0) -> bool:
    """Wait up to `timeout` seconds for queued notifications to be handled (delivered, handed
    to celery, or given up on); True when the queue is done. For a clean shutdown and tests."""
    return _default().flush(timeout)


def dropped() -> int:
    """How many notifications were dropped because the queue was full."""
    return _default().dropped
