"""Backtests: saved runs with their figures and equity curve, and runs started from here.

A backtest started from the page is a job (trading.services.backtest_job_start) that a celery
worker or a background thread replays; the jobs list shows its progress and polls itself every
second while a job is queued or running.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from dashboard.charts import equity_svg
from dashboard.decorators import staff_required
from dashboard.forms import BacktestJobForm
from dashboard.http import HtmxHttpRequest, render_page
from trading import selectors, services
from trading.models import BacktestJob

PAGE = "dashboard/backtests.html"
ORDERS_SHOWN = 500
JOBS_SHOWN = 10


def _jobs_context(*, runs: bool = False) -> dict[str, Any]:
    BacktestJob.objects.fail_stalled()
    jobs = BacktestJob.objects.recent(JOBS_SHOWN)
    polling = any(job.is_active for job in jobs)
    context: dict[str, Any] = {"jobs": jobs, "polling": polling}
    # The poll that finds every job finished brings their runs into the runs table too.
    if runs or not polling:
        context["runs"] = selectors.backtest_run_list()
    return context


def _page_context(form: BacktestJobForm | None = None) -> dict[str, Any]:
    return {**_jobs_context(runs=True), "job_form": form or BacktestJobForm()}


@require_GET
@staff_required
def run_list(request: HtmxHttpRequest) -> HttpResponse:
    """The form that starts a backtest, the latest jobs, and the saved runs."""
    context = {"runs": selectors.backtest_run_list()} if request.htmx else _page_context()
    return render_page(request, PAGE, context, partial="runs-table")


@require_http_methods(["GET", "POST"])
@staff_required
def jobs(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the jobs list alone, polled while a job runs. POST: start a backtest."""
    if request.method == "GET":
        return render(request, f"{PAGE}#jobs-update", _jobs_context())
    form = BacktestJobForm(request.POST)
    if not form.is_valid():
        if not request.htmx:
            return render(request, PAGE, _page_context(form), status=400)
        return render(request, f"{PAGE}#job-form", {"job_form": form}, status=422)
    job = services.backtest_job_start(**form.cleaned_data, requested_by=request.user.get_username())
    if not request.htmx:
        messages.success(request, _started(job))
        return redirect("dashboard:backtests")
    context = {**_jobs_context(), "job_form": BacktestJobForm(), "started": _started(job)}
    return render(request, f"{PAGE}#job-started", context)


def _started(job: BacktestJob) -> str:
    return (
        f"Backtest job {job.pk} of {job.exchange} {job.symbol} started: its progress shows "
        "below, and its run is saved when it is done."
    )


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
