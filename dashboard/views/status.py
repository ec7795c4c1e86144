"""The bot's health (spec 13.6): its session, each symbol's feed, and its memory where known."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from dashboard.botprocess import bot_memory_bytes
from dashboard.decorators import staff_required
from dashboard.http import HtmxHttpRequest, render_page
from dashboard.live import socket_url
from trading import selectors, services
from trading.models import BotSettings


@require_GET
@staff_required
def status(request: HtmxHttpRequest) -> HttpResponse:
    """Polled every 2 s with the spec's `hx-get="/status"`; the status block alone for htmx."""
    return render_page(request, "dashboard/status.html", status_context(), partial="status")


@require_POST
@staff_required
def kill_switch(request: HtmxHttpRequest) -> HttpResponse:
    """Pause every entry at once (`paused=1`), or resume them (`paused=0`)."""
    services.bot_entries_pause(paused=request.POST.get("paused") == "1")
    if not request.htmx:
        return redirect("dashboard:status")
    return render_page(request, "dashboard/status.html", status_context(), partial="status")


@require_POST
@staff_required
def close_everything(request: HtmxHttpRequest) -> HttpResponse:
    """Pause every entry and ask the bot to close every side of every symbol it trades."""
    services.bot_close_everything(requested_by=request.user.get_username())
    if not request.htmx:
        return redirect("dashboard:status")
    return render_page(request, "dashboard/status.html", status_context(), partial="status")


def status_context() -> dict[str, Any]:
    """The status block, for the page, its polling and the live socket alike."""
    bot = selectors.bot_status_get()
    return {
        "bot": bot,
        "entries_paused": BotSettings.load().entries_paused,
        "feeds": selectors.feed_row_list(bot=bot),
        "memory": bot_memory_bytes(bot),
        "live_url": socket_url("status"),
    }
