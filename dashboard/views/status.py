"""The bot's health (spec 13.6): its session, each symbol's feed, and its memory where known."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from dashboard.botprocess import bot_memory_bytes
from dashboard.decorators import staff_required
from dashboard.http import HtmxHttpRequest, render_page
from dashboard.live import socket_url
from trading import selectors


@require_GET
@staff_required
def status(request: HtmxHttpRequest) -> HttpResponse:
    """Polled every 2 s with the spec's `hx-get="/status"`; the status block alone for htmx."""
    return render_page(request, "dashboard/status.html", status_context(), partial="status")


def status_context() -> dict[str, Any]:
    """The status block, for the page, its polling and the live socket alike."""
    bot = selectors.bot_status_get()
    return {
        "bot": bot,
        "feeds": selectors.feed_row_list(bot=bot),
        "memory": bot_memory_bytes(bot),
        "live_url": socket_url("status"),
    }
