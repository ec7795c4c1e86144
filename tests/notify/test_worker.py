"""End to end: notify() in one process, a real celery worker in another, a real Redis between
them, and the webhook stub at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.notify.conftest import Stub
from tests.redis_server import running_redis
from tests.runtime.conftest import ROOT, BotDatabase

READY_S = 30.0
DELIVERED_S = 20.0
STOP_S = 15.0

SEND = """
from trading.notify import flush, notify, texts
note = texts.bot_started(
    hostname="trader-box", pid=4242, live=False, feed="synthetic",
    symbols=[("bybit", "BTC/USDT:USDT")],
)
assert notify(note), "not queued"
assert flush(10), "not handed over"
print("sent")
"""


class Output:
    """A process's merged output, read as it comes, with a wait for a line containing text."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append(line.rstrip())
                self._changed.notify_all()

    def wait_for(self, text: str, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: any(text in line for line in self.lines), timeout)

    def text(self) -> str:
        with self._changed:
            return "\n".join(self.lines)


@pytest.mark.needs("redis-server")
def test_a_notification_reaches_the_webhook_through_redis_and_a_celery_worker(
    tmp_path: Path, stub: Stub
) -> None:
    database = BotDatabase(tmp_path / "worker.sqlite3")
    migrated = database.manage("migrate", "--noinput", timeout=60)
    assert migrated.returncode == 0, migrated.stderr
    with running_redis() as redis_url:
        env = {k: v for k, v in database.env.items() if not k.startswith("LEVELBOT_TELEGRAM")}
        env.pop("LEVELBOT_NOTIFY_KINDS", None)
        env.update(REDIS_URL=redis_url, LEVELBOT_WEBHOOK_URL=f"{stub.url}/hooks/e2e")
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "levelbot",
                "worker",
                "-l",
                "info",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"notify-test-{os.getpid()}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        output = Output(worker)
        try:
            assert output.wait_for(" ready.", READY_S), output.text()
            assert "trading.tasks.deliver_notification" in output.text()  # registered

            sender = subprocess.run(
                [sys.executable, "manage.py", "shell", "-c", SEND],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert sender.returncode == 0, sender.stderr
            assert "sent" in sender.stdout
            assert "celery broker did not take" not in sender.stderr  # no direct fallback

            assert stub.wait_for(1, DELIVERED_S), output.text()
            [request] = stub.received
            assert request.path == "/hooks/e2e"
            body = request.json()
            assert body["kind"] == "bot_started"
            assert body["text"].startswith("Bot started on trader-box (pid 4242), paper")
            assert body["fields"]["symbols"] == [["bybit", "BTC/USDT:USDT"]]
            assert output.wait_for("succeeded", DELIVERED_S), output.text()
            assert any(
                "Task trading.tasks.deliver_notification[" in line and "succeeded" in line
                for line in output.lines
            )
        finally:
            worker.send_signal(signal.SIGTERM)
            try:
                code = worker.wait(STOP_S)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
                code = None
        assert code == 0, output.text()  # a warm shutdown, not a kill
