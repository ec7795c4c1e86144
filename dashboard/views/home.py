"""The main dashboard: the bot's state, each symbol's levels and tiers, the latest trades and
backtests."""

from __future__ import annotations

from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from dashboard.decorators import staff_required
from dashboard.http import HtmxHttpRequest, render_page
from trading import selectors

LATEST_TRADES = 10
LATEST_BACKTESTS = 5
PAGE = "dashboard/index.html"
# The id of the polled line that says whether the bot runs.
BOT_LINE = "bot-line"


@require_GET
@staff_required
def index(request: HtmxHttpRequest) -> HttpResponse:
    bot = selectors.bot_status_get()
    if request.htmx and request.htmx.target == BOT_LINE:
        # The bot line polls this page for itself alone: nothing else is read.
        response = render_page(request, PAGE, {"bot": bot}, partial=BOT_LINE)
    else:
        context = {
            "bot": bot,
            "symbols": selectors.symbol_overview_list(),
            "trades": selectors.trade_list(limit=LATEST_TRADES),
            "runs": selectors.backtest_run_list(limit=LATEST_BACKTESTS),
        }
        response = render_page(request, PAGE, context, partial="overview")
    patch_vary_headers(response, ["HX-Target"])
    return response
