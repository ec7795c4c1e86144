"""The bot's health (spec 13.6): its session, a banner when it is down, and each feed."""

from __future__ import annotations

import re
import socket
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from dashboard import botprocess
from tests.dashboard.conftest import HTMX
from tests.dashboard.factories import FeedStatusFactory
from tests.factories import BotSessionFactory, BotSettingsFactory
from trading import selectors
from trading.models import BotSession, BotSettings, FeedStatus

pytestmark = pytest.mark.django_db

SNIPPET = '<div id="status" hx-get="/status" hx-trigger="every 2s" hx-swap="outerHTML">'


def banner(html: str) -> str | None:
    match = re.search(r'<div class="banner bot-down" role="alert">(.*?)</div>', html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else None


def feed_rows(html: str) -> dict[str, str]:
    """Each feed row's HTML by its symbol."""
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    rows = {}
    for row in re.findall(r"<tr class=\"feed[^\"]*\">.*?</tr>", body, re.S):
        symbol = re.search(r">([A-Z0-9]+/[A-Z]+:[A-Z]+)</a>", row)
        assert symbol, row
        rows[symbol.group(1)] = row
    return rows


def ago(**kwargs: Any) -> Any:
    return timezone.now() - timedelta(**kwargs)


def test_a_running_bot_shows_its_session_and_no_banner(staff_client: Client) -> None:
    session = BotSessionFactory(started_at=ago(hours=2, minutes=3), heartbeat_at=ago(seconds=1))
    response = staff_client.get("/status")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and "<h1>Status</h1>" in html
    assert SNIPPET in html
    assert banner(html) is None
    assert '<span class="badge bot-alive">running</span>' in html
    assert str(session.pk) in html
    assert "<dd>trader-box</dd>" in html and "<dd>4242</dd>" in html
    assert "<dt>Uptime</dt><dd>2 h 03 min</dd>" in html
    assert "1 s ago" in html and "timeout 10 s" in html
    assert timezone.localtime(session.started_at).strftime("%Y-%m-%d %H:%M:%S UTC") in html


def test_no_session_at_all_is_a_banner_saying_how_to_start_the_bot(staff_client: Client) -> None:
    html = staff_client.get("/status").content.decode()
    text = banner(html)
    assert text is not None
    assert text.startswith("The bot is not running: no bot session has been recorded yet.")
    assert "python manage.py runbot" in text
    assert "No bot session has been recorded yet." in html


def test_a_stopped_session_is_a_banner_with_when_it_stopped(staff_client: Client) -> None:
    stopped = ago(minutes=10)
    started = stopped - timedelta(hours=1)
    BotSessionFactory(started_at=started, stopped_at=stopped, heartbeat_at=stopped)
    html = staff_client.get("/status").content.decode()
    text = banner(html)
    assert text is not None
    assert (
        f"it stopped at {stopped:%Y-%m-%d %H:%M:%S} UTC, 10 min 00 s ago, after 1 h 00 min" in text
    )
    assert '<span class="badge bot-stopped">stopped</span>' in html
    assert "<dt>Ran for</dt><dd>1 h 00 min</dd>" in html


def test_a_heartbeat_older_than_the_timeout_is_a_banner_saying_it_may_have_crashed(
    staff_client: Client,
) -> None:
    BotSessionFactory(started_at=ago(hours=1), heartbeat_at=ago(seconds=45))
    html = staff_client.get("/status").content.decode()
    text = banner(html)
    assert text is not None
    assert "its last heartbeat was 45 s ago, longer than the 10 s heartbeat timeout" in text
    assert "may have crashed or hung" in text
    assert '<span class="badge bot-silent">silent</span>' in html


def test_the_heartbeat_timeout_is_the_bot_settings_one(staff_client: Client) -> None:
    BotSettingsFactory(heartbeat_timeout_s=60)
    BotSessionFactory(heartbeat_at=ago(seconds=45))
    assert banner(staff_client.get("/status").content.decode()) is None
    BotSession.objects.update(heartbeat_at=ago(seconds=75))
    text = banner(staff_client.get("/status").content.decode())
    assert text is not None and "longer than the 60 s heartbeat timeout" in text


def test_only_the_latest_session_counts(staff_client: Client) -> None:
    BotSessionFactory(started_at=ago(hours=3), heartbeat_at=ago(hours=2))  # crashed long ago
    latest = BotSessionFactory(started_at=ago(minutes=5))
    html = staff_client.get("/status").content.decode()
    assert banner(html) is None and str(latest.pk) in html


def test_feeds_show_state_age_price_reconnects_latency_and_error(staff_client: Client) -> None:
    session = BotSessionFactory()
    FeedStatusFactory(
        session=session,
        feed="live",
        last_message_at=ago(seconds=3),
        reconnects=2,
        rest_latency_ms=41.27,
        last_error="",
    )
    FeedStatusFactory(
        session=session,
        symbol="ETH/USDT:USDT",
        state=FeedStatus.State.STALE,
        last_price=None,
        last_message_at=None,
        rest_latency_ms=None,
        last_error="The websocket closed: reconnecting in 4 s.",
    )
    html = staff_client.get("/status").content.decode()
    assert re.findall(r"<th [^>]*>([^<]*)</th>", html) == [
        "Exchange",
        "Symbol",
        "Feed",
        "State",
        "Last message",
        "Last price",
        "Reconnects",
        "Last order latency",
        "Last error",
    ]
    rows = feed_rows(html)
    btc, eth = rows["BTC/USDT:USDT"], rows["ETH/USDT:USDT"]
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", btc, re.S)
    ]
    assert cells == [
        "binanceusdm",
        "BTC/USDT:USDT",
        "live",
        "live",
        "3 s ago",
        "63000",
        "2",
        "41.3 ms",
        "—",
    ]
    assert "unhealthy" not in btc and "&#9888;" not in btc
    assert 'class="feed feed-stale unhealthy"' in eth
    assert '<span class="badge feed-stale">&#9888; stale</span>' in eth
    assert "never" in eth and "The websocket closed: reconnecting in 4 s." in eth


def test_a_stopped_feed_is_marked(staff_client: Client) -> None:
    session = BotSessionFactory(stopped_at=timezone.now())
    FeedStatusFactory(session=session, state=FeedStatus.State.STOPPED)
    row = feed_rows(staff_client.get("/status").content.decode())["BTC/USDT:USDT"]
    assert '<span class="badge feed-stopped">&#9888; stopped</span>' in row
    assert "unhealthy" in row


def test_a_live_feed_of_a_bot_that_died_says_nobody_keeps_it_up_to_date(
    staff_client: Client,
) -> None:
    crashed = BotSessionFactory(heartbeat_at=ago(minutes=5))
    FeedStatusFactory(session=crashed, state=FeedStatus.State.LIVE)
    row = feed_rows(staff_client.get("/status").content.decode())["BTC/USDT:USDT"]
    assert "&#9888; bot not running" in row and "unhealthy" in row


def test_a_feed_of_an_earlier_session_is_marked_while_the_bot_runs(staff_client: Client) -> None:
    earlier = BotSessionFactory(started_at=ago(hours=1), heartbeat_at=ago(minutes=30))
    current = BotSessionFactory()
    FeedStatusFactory(session=current)
    FeedStatusFactory(session=earlier, symbol="ETH/USDT:USDT")
    rows = feed_rows(staff_client.get("/status").content.decode())
    assert "unhealthy" not in rows["BTC/USDT:USDT"]
    assert "&#9888; not in this session" in rows["ETH/USDT:USDT"]


def test_no_feeds_yet_says_when_they_appear(staff_client: Client) -> None:
    html = staff_client.get("/status").content.decode()
    assert "No feeds yet: the bot writes one row per symbol it trades when it starts." in html


def test_htmx_polls_get_the_status_block_alone(staff_client: Client) -> None:
    BotSessionFactory()
    FeedStatusFactory()
    html = staff_client.get("/status", headers=HTMX).content.decode()
    assert "<html" not in html and "<h1>" not in html
    assert html.lstrip().startswith(SNIPPET)
    assert "BTC/USDT:USDT" in html


def test_status_is_in_the_navigation(staff_client: Client) -> None:
    html = staff_client.get("/status").content.decode()
    assert '<a href="/status" aria-current="page">Status</a>' in html


# The bot's memory


def fake_proc(root: Path, pid: int, *, cmdline: bytes, rss_kb: int) -> None:
    process = root / str(pid)
    process.mkdir(parents=True)
    (process / "cmdline").write_bytes(cmdline)
    (process / "status").write_text(f"Name:\tpython\nVmPeak:\t 99999 kB\nVmRSS:\t {rss_kb} kB\n")


def test_the_memory_of_a_bot_on_this_host_is_read_from_proc(
    staff_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(botprocess, "PROC", tmp_path)
    fake_proc(tmp_path, 4242, cmdline=b"python\0manage.py\0runbot\0", rss_kb=51_200)
    BotSessionFactory(hostname=socket.gethostname())
    html = staff_client.get("/status").content.decode()
    assert "<dt>Memory (RSS)</dt><dd>50.0 MiB</dd>" in html


def test_the_memory_is_left_out_for_a_bot_on_another_host(
    staff_client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(botprocess, "PROC", tmp_path)
    fake_proc(tmp_path, 4242, cmdline=b"python\0manage.py\0runbot\0", rss_kb=51_200)
    BotSessionFactory(hostname="elsewhere")
    html = staff_client.get("/status").content.decode()
    assert "Memory" not in html
    assert "shown only when it runs on the same host" in html


def test_the_memory_of_a_process_that_is_not_the_bot_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(botprocess, "PROC", tmp_path)
    fake_proc(tmp_path, 4242, cmdline=b"/usr/sbin/sshd\0", rss_kb=1000)
    BotSessionFactory(hostname=socket.gethostname())
    assert botprocess.bot_memory_bytes(selectors.bot_status_get()) is None


def test_the_memory_of_a_bot_that_is_down_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(botprocess, "PROC", tmp_path)
    fake_proc(tmp_path, 4242, cmdline=b"manage.py\0runbot\0", rss_kb=1000)
    BotSessionFactory(hostname=socket.gethostname(), heartbeat_at=ago(minutes=5))
    assert botprocess.bot_memory_bytes(selectors.bot_status_get()) is None
    BotSession.objects.update(heartbeat_at=timezone.now())
    assert botprocess.bot_memory_bytes(selectors.bot_status_get()) == 1000 * 1024


def test_a_pid_that_is_gone_is_no_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(botprocess, "PROC", tmp_path)
    BotSessionFactory(hostname=socket.gethostname())
    assert botprocess.bot_memory_bytes(selectors.bot_status_get()) is None


def test_kill_switch_pauses_and_resumes_every_entry(staff_client: Client) -> None:
    page = staff_client.get("/status").content.decode()
    assert "Pause all entries" in page and 'hx-confirm="Pause every entry on every level?"' in page
    response = staff_client.post("/kill-switch", {"paused": "1"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "<html" not in response.content.decode()
    assert "All entries are paused" in response.content.decode()
    assert BotSettings.load().entries_paused is True
    response = staff_client.post("/kill-switch", {"paused": "0"})
    assert response.status_code == 302 and response["Location"] == "/status"
    assert BotSettings.load().entries_paused is False


def test_kill_switch_takes_posts_only_with_a_csrf_token(csrf_client: Client) -> None:
    assert csrf_client.get("/kill-switch").status_code == 405
    assert csrf_client.post("/kill-switch", {"paused": "1"}).status_code == 403
    assert BotSettings.load().entries_paused is False
