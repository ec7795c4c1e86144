"""A local HTTP stub on 127.0.0.1 playing Telegram and the webhook, and settings pointing at it."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.conf import LazySettings

from trading.notify import dispatch
from trading.notify.dispatch import Dispatcher

TOKEN = "123456:AAH-secret-token-never-logged"
CHAT_ID = "-100200300"
HOLD_LIMIT_S = 10.0  # a held request is answered after this long even if no test releases it


@dataclass(frozen=True)
class Received:
    path: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)


class Stub:
    """Records every POST, answers with the next scripted status (200 once the script is
    used up), and holds requests while `gate` is clear."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.statuses: deque[int] = deque()
        self.gate = threading.Event()
        self.gate.set()
        self.holding = threading.Event()  # set while a request is held
        self.answered = 0
        self._changed = threading.Condition()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with stub._changed:
                    stub.received.append(Received(self.path, body, dict(self.headers)))
                    status = stub.statuses.popleft() if stub.statuses else 200
                    stub._changed.notify_all()
                if not stub.gate.is_set():
                    stub.holding.set()
                    stub.gate.wait(HOLD_LIMIT_S)
                    stub.holding.clear()
                # Counted before the answer goes out: a client that has it is never ahead of
                # the count.
                with stub._changed:
                    stub.answered += 1
                    stub._changed.notify_all()
                payload = json.dumps({"ok": status == 200, "description": "stub"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Until `count` requests have arrived."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.received) >= count, timeout)

    def paths(self) -> list[str]:
        return [r.path for r in self.received]


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    thread = threading.Thread(
        target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield server
    finally:
        server.gate.set()
        server.server.shutdown()
        server.server.server_close()
        thread.join(5)


@pytest.fixture
def dispatcher(monkeypatch: pytest.MonkeyPatch) -> Dispatcher:
    """A dispatcher of this test's own behind `notify()`, so no test inherits another's queue."""
    fresh = Dispatcher(dispatch.deliver, maxsize=100)
    monkeypatch.setattr(dispatch, "_dispatcher", fresh)
    return fresh


@pytest.fixture
def no_destinations(settings: LazySettings) -> None:
    settings.REDIS_URL = ""
    settings.LEVELBOT_TELEGRAM_BOT_TOKEN = ""
    settings.LEVELBOT_TELEGRAM_CHAT_ID = ""
    settings.LEVELBOT_WEBHOOK_URL = ""
    settings.LEVELBOT_NOTIFY_KINDS = []


@pytest.fixture
def telegram(settings: LazySettings, stub: Stub, no_destinations: None) -> Stub:
    """Telegram at the stub, direct delivery (no broker), quick retries."""
    settings.LEVELBOT_TELEGRAM_BOT_TOKEN = TOKEN
    settings.LEVELBOT_TELEGRAM_CHAT_ID = CHAT_ID
    settings.LEVELBOT_TELEGRAM_API_URL = stub.url
    settings.LEVELBOT_NOTIFY_BACKOFF_S = 0.01
    settings.LEVELBOT_NOTIFY_ATTEMPTS = 3
    settings.LEVELBOT_NOTIFY_TIMEOUT_S = 2.0
    return stub


@pytest.fixture
def webhook(settings: LazySettings, stub: Stub, no_destinations: None) -> Stub:
    """The webhook at the stub, direct delivery (no broker), quick retries."""
    settings.LEVELBOT_WEBHOOK_URL = f"{stub.url}/hooks/levelbot-secret-path"
    settings.LEVELBOT_NOTIFY_BACKOFF_S = 0.01
    settings.LEVELBOT_NOTIFY_ATTEMPTS = 3
    settings.LEVELBOT_NOTIFY_TIMEOUT_S = 2.0
    return stub
