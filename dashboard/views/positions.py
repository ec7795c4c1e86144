"""Open positions (spec 13.4): the paper account's sides marked to each symbol's last price."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from dashboard.decorators import staff_required
from dashboard.http import HtmxHttpRequest, render_page
from dashboard.live import socket_url
from trading import selectors


@require_GET
@staff_required
def position_list(request: HtmxHttpRequest) -> HttpResponse:
    """Every open side with its PnL, and the account's totals; the table alone for htmx."""
    context = positions_context()
    return render_page(request, "dashboard/positions.html", context, partial="positions-table")


def positions_context() -> dict[str, Any]:
    """The positions table, for the page, its polling and the live socket alike."""
    return {
        "book": selectors.position_book(),
        "bot": selectors.bot_status_get(),
        "live_url": socket_url("positions"),
    }
