"""Recent trades (spec 13.5), newest first, polled every 3 s."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from dashboard.decorators import staff_required
from dashboard.http import HtmxHttpRequest, render_page
from dashboard.live import socket_url
from trading import selectors

RECENT_TRADES = 200


@require_GET
@staff_required
def trade_list(request: HtmxHttpRequest) -> HttpResponse:
    """The last 200 trades, of one symbol with `?symbol=`; the table alone for htmx."""
    symbol = request.GET.get("symbol", "").strip()
    context = {**trades_table_context(symbol), "symbols": selectors.trade_symbol_list()}
    return render_page(request, "dashboard/trades.html", context, partial="trades-table")


def trades_table_context(symbol: str) -> dict[str, Any]:
    """The trades table, for the page, its polling and the live socket alike."""
    return {
        "symbol": symbol,
        "trades": selectors.trade_list(symbol=symbol or None, limit=RECENT_TRADES),
        "limit": RECENT_TRADES,
        "live_url": socket_url("trades", symbol=symbol),
    }
