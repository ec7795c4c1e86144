"""Saved backtest runs (`manage.py backtest --save`) and each one's figures and equity curve."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from dashboard.charts import equity_svg
from dashboard.decorators import staff_required
from dashboard.http import HtmxHttpRequest, render_page
from trading import selectors

ORDERS_SHOWN = 500


@require_GET
@staff_required
def run_list(request: HtmxHttpRequest) -> HttpResponse:
    context = {"runs": selectors.backtest_run_list()}
    return render_page(request, "dashboard/backtests.html", context, partial="runs-table")


@require_GET
@staff_required
def run_detail(request: HtmxHttpRequest, run_id: int) -> HttpResponse:
    run = selectors.backtest_run_get(run_id=run_id)
    if run is None:
        raise Http404(f"There is no saved backtest {run_id}.")
    context = {
        "run": run,
        "orders": run.orders[:ORDERS_SHOWN],
        "orders_shown": ORDERS_SHOWN,
        "chart": equity_svg(run.equity_curve),
    }
    return render_page(request, "dashboard/backtest_detail.html", context, partial="run")
