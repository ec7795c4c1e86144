"""The main dashboard: each symbol's levels and tiers, the latest trades and backtests."""

from __future__ import annotations

from django.http import HttpResponse
from django.views.decorators.http import require_GET

from dashboard.decorators import staff_required
from dashboard.http import HtmxHttpRequest, render_page
from trading import selectors

LATEST_TRADES = 10
LATEST_BACKTESTS = 5


@require_GET
@staff_required
def index(request: HtmxHttpRequest) -> HttpResponse:
    context = {
        "symbols": selectors.symbol_overview_list(),
        "trades": selectors.trade_list(limit=LATEST_TRADES),
        "runs": selectors.backtest_run_list(limit=LATEST_BACKTESTS),
    }
    return render_page(request, "dashboard/index.html", context, partial="overview")
