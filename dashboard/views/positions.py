"""Open positions (spec 13.4): the paper account's sides marked to each symbol's last price."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from dashboard.decorators import staff_required
from dashboard.http import HtmxHttpRequest, render_page
from dashboard.live import socket_url
from dashboard.symbols import UnknownSymbol, unified_symbol
from trading import selectors, services
from trading.models import CloseRequest, Side
from trading.validators import validate_exchange_id


@require_GET
@staff_required
def position_list(request: HtmxHttpRequest) -> HttpResponse:
    """Every open side with its PnL, and the account's totals; the table alone for htmx."""
    context = positions_context()
    return render_page(request, "dashboard/positions.html", context, partial="positions-table")


@require_POST
@staff_required
def close(request: HtmxHttpRequest, exchange: str, symbol: str, side: str) -> HttpResponse:
    """Ask the bot to close one side of a symbol now: a reduce-only market order for what the
    account holds, then that side's tiers reset on every level (rule 9)."""
    if side not in Side.values:
        raise Http404("The side is LONG or SHORT.")
    try:
        validate_exchange_id(exchange)
        unified = unified_symbol(symbol)
    except (ValidationError, UnknownSymbol):
        raise Http404(
            "No such exchange and symbol: use the exchange's ccxt id, such as bybit, and a "
            "symbol such as BTCUSDT."
        ) from None
    services.position_close_request(
        exchange=exchange, symbol=unified, side=side, requested_by=request.user.get_username()
    )
    if not request.htmx:
        return redirect("dashboard:positions")
    return render_page(
        request, "dashboard/positions.html", positions_context(), partial="positions-table"
    )


def positions_context() -> dict[str, Any]:
    """The positions table, for the page, its polling and the live socket alike."""
    return {
        "book": selectors.position_book(),
        "bot": selectors.bot_status_get(),
        "live_url": socket_url("positions"),
        "close_requests": CloseRequest.objects.all()[:10],
    }
