"""Open positions (spec 13.4): the paper account's sides marked to each symbol's last price."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from dashboard.decorators import staff_required
from dashboard.http import HtmxHttpRequest, render_page
from trading import selectors


@require_GET
@staff_required
def position_list(request: HtmxHttpRequest) -> HttpResponse:
    """Every open side with its PnL, and the account's totals; the table alone for htmx."""
    context = {"book": selectors.position_book(), "bot": selectors.bot_status_get()}
    return render_page(request, "dashboard/positions.html", context, partial="positions-table")
