"""Backtests started from the dashboard: the form, the job in the background, its progress."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.test import Client

from tests.backtest.test_jobs import (
    ETH_DATA,
    comparable,
    eth_levels_in_the_database,
    join_job_thread,
    queued_job,
)
from tests.dashboard.conftest import HTMX
from tests.dashboard.factories import BacktestRunFactory
from tests.shared_data import SHARED
from trading.backtest.replay import replay
from trading.models import BacktestJob, BacktestRun
from trading.selectors import scenario_from_db

CANDLES = SHARED / "data" / "ohlcv" / "ftx_BTC-PERP_1m_2021-12-31_2022-02-01_nautilus.csv"


@pytest.fixture(autouse=True)
def _no_broker(settings: LazySettings) -> None:
    settings.REDIS_URL = ""  # jobs run in a thread of the test process


def post_data(**overrides: str) -> dict[str, str]:
    data = {
        "exchange": "binanceusdm",
        "symbol": "ETHUSDT",
        "data_files": str(ETH_DATA),
        "fee_rate": "0.0005",
        "slippage_bps": "1",
    }
    return {**data, **overrides}


def field_errors(html: str, field: str) -> str:
    """The error list rendered beside one field, or '' when it has none."""
    match = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


# Who may start one ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_visitors_are_sent_to_log_in(client: Client) -> None:
    response = client.post("/backtests/jobs", post_data())
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/backtests/jobs").status_code == 302
    assert not BacktestJob.objects.exists()


@pytest.mark.django_db
def test_users_who_are_not_staff_are_refused(viewer_client: Client) -> None:
    assert viewer_client.post("/backtests/jobs", post_data()).status_code == 403
    assert viewer_client.get("/backtests/jobs").status_code == 403
    assert not BacktestJob.objects.exists()


@pytest.mark.django_db
def test_a_post_without_the_csrf_token_is_refused(csrf_client: Client) -> None:
    eth_levels_in_the_database()
    assert csrf_client.post("/backtests/jobs", post_data()).status_code == 403
    assert not BacktestJob.objects.exists()


# The form ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_backtests_page_has_the_form(staff_client: Client) -> None:
    html = staff_client.get("/backtests").content.decode()
    form = html[
        html.index('<form id="backtest-job-form"') : html.index(
            "</form>", html.index("backtest-job-form")
        )
    ]
    assert 'hx-post="/backtests/jobs"' in form and 'method="post"' in form
    assert 'name="csrfmiddlewaretoken"' in form
    for name in ("exchange", "symbol", "fee_rate", "slippage_bps"):
        assert f'name="{name}"' in form
    assert '<textarea name="data_files"' in form
    assert 'id="backtest-jobs"' in html and "hx-trigger" not in html  # nothing to poll


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"data_files": "/nowhere/trades.csv"},
            "data_files",
            "/nowhere/trades.csv: there is no such file.",
        ),
        (
            {"data_files": "{not_trades}"},
            "data_files",
            "names none of the columns of a known format",
        ),
        (
            {"data_files": f"{ETH_DATA}\n{CANDLES}"},
            "data_files",
            "a run replays trades or candles, not both.",
        ),
        (
            {"data_files": "  \n "},
            "data_files",
            "Enter the path of a trades or candles file on the server.",
        ),
        ({"symbol": "SOLUSDT"}, "symbol", "binanceusdm SOL/USDT:USDT has no tiers yet"),
        ({"symbol": "BTC-PERP"}, "symbol", "BTC-PERP is not a symbol levelbot knows"),
        ({"exchange": "Binance USDM"}, "exchange", "ccxt id in lowercase"),
        ({"fee_rate": "-0.001"}, "fee_rate", "Enter a fee rate of 0 or more"),
        ({"slippage_bps": "-1"}, "slippage_bps", "Enter a slippage of 0 or more basis points."),
        ({"fee_rate": "abc"}, "fee_rate", "Enter the fee rate as a number"),
    ],
)
def test_bad_input_is_shown_beside_its_field_and_nothing_is_saved(
    staff_client: Client, tmp_path: Path, overrides: dict[str, str], field: str, message: str
) -> None:
    eth_levels_in_the_database()
    not_trades = tmp_path / "people.csv"
    not_trades.write_text("name,age\nbob,3\n")
    data = post_data(**{k: v.format(not_trades=not_trades) for k, v in overrides.items()})
    response = staff_client.post("/backtests/jobs", data)
    html = response.content.decode()
    assert response.status_code == 400 and "<html" in html
    assert message in field_errors(html, field)
    assert not BacktestJob.objects.exists()
    htmx = staff_client.post("/backtests/jobs", data, headers=HTMX)
    partial = htmx.content.decode()
    assert htmx.status_code == 422 and "<html" not in partial
    assert partial.lstrip().startswith('<form id="backtest-job-form"')
    assert message in field_errors(partial, field)
    assert not BacktestJob.objects.exists()


@pytest.mark.django_db
def test_every_missing_file_is_named(staff_client: Client) -> None:
    eth_levels_in_the_database()
    data = post_data(data_files="/nowhere/a.csv\n/nowhere/b.csv")
    errors = field_errors(staff_client.post("/backtests/jobs", data).content.decode(), "data_files")
    assert "/nowhere/a.csv: there is no such file." in errors
    assert "/nowhere/b.csv: there is no such file." in errors


# A job run in the background -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_valid_post_starts_a_job_that_saves_the_run(staff_client: Client) -> None:
    eth_levels_in_the_database()
    response = staff_client.post("/backtests/jobs", post_data())
    assert response.status_code == 302 and response["Location"] == "/backtests"
    job = BacktestJob.objects.get()
    assert (job.exchange, job.symbol, job.data_files) == (
        "binanceusdm",
        "ETH/USDT:USDT",
        [str(ETH_DATA)],
    )
    assert (job.fee_rate, job.slippage_bps, job.requested_by) == (
        Decimal("0.0005"),
        Decimal("1"),
        "trader",
    )
    join_job_thread(job.pk)
    job.refresh_from_db()
    assert job.status == BacktestJob.Status.DONE and job.progress == 1.0
    run = BacktestRun.objects.get()
    assert job.run == run
    direct = replay(
        scenario_from_db(exchange="binanceusdm", symbol="ETH/USDT:USDT"),
        [ETH_DATA],
        fee_rate=0.0005,
        slippage_bps=1.0,
    )
    assert comparable(run.summary) == comparable(direct.summary)
    assert run.orders == json.loads(json.dumps(direct.backtest.result.orders))
    page = staff_client.get("/backtests").content.decode()
    assert f"Backtest job {job.pk} of binanceusdm ETH/USDT:USDT started" in page
    assert f'<a href="/backtests/{run.pk}">Run #{run.pk}</a>' in page


@pytest.mark.django_db(transaction=True)
def test_an_htmx_post_answers_with_a_blank_form_and_the_jobs_list(staff_client: Client) -> None:
    eth_levels_in_the_database()
    response = staff_client.post("/backtests/jobs", post_data(), headers=HTMX)
    html = response.content.decode()
    job = BacktestJob.objects.get()
    join_job_thread(job.pk)
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<form id="backtest-job-form"')
    assert f"Backtest job {job.pk} of binanceusdm ETH/USDT:USDT started" in html
    assert 'id="backtest-jobs"' in html and 'hx-swap-oob="true"' in html
    assert f'id="backtest-job-{job.pk}"' in html and "<progress" in html
    assert 'value="ETHUSDT"' not in html  # the form is blank again


@pytest.mark.django_db(transaction=True)
def test_a_file_that_breaks_during_the_replay_fails_the_job_with_a_sentence(
    staff_client: Client, tmp_path: Path
) -> None:
    eth_levels_in_the_database()
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,price,amount,side\n1000,2680,1,buy\n2000,abc,1,sell\n")
    response = staff_client.post("/backtests/jobs", post_data(data_files=str(bad)))
    assert response.status_code == 302  # its head reads as trades: the bad line is further on
    job = BacktestJob.objects.get()
    join_job_thread(job.pk)
    job.refresh_from_db()
    assert job.status == BacktestJob.Status.FAILED and job.run is None
    assert job.error.startswith(f"{bad}, line 3: ")
    assert not BacktestRun.objects.exists()
    html = staff_client.get("/backtests/jobs", headers=HTMX).content.decode()
    assert f"{bad}, line 3: " in html and "Traceback" not in html


# The jobs list and its progress --------------------------------------------------------------


@pytest.mark.django_db
def test_a_running_job_shows_its_progress_and_the_list_polls(staff_client: Client) -> None:
    job = queued_job(status=BacktestJob.Status.RUNNING, progress=0.4237)
    html = staff_client.get("/backtests/jobs", headers=HTMX).content.decode()
    assert html.lstrip().startswith('<section id="backtest-jobs"')
    assert 'hx-get="/backtests/jobs" hx-trigger="every 1s" hx-swap="outerHTML"' in html
    row = html[html.index(f'id="backtest-job-{job.pk}"') :]
    assert '<progress max="100" value="42"' in row and "42%" in row
    assert "running" in row
    assert 'id="runs-table"' not in html  # the runs table waits for the job to finish
    page = staff_client.get("/backtests").content.decode()
    assert 'hx-trigger="every 1s"' in page


@pytest.mark.django_db
def test_a_queued_job_keeps_the_list_polling(staff_client: Client) -> None:
    queued_job()
    html = staff_client.get("/backtests/jobs", headers=HTMX).content.decode()
    assert 'hx-trigger="every 1s"' in html and '<progress max="100" value="0"' in html
    assert "Waiting for a worker" in html


@pytest.mark.django_db
def test_a_finished_job_links_its_run_and_the_list_stops_polling(staff_client: Client) -> None:
    run = BacktestRunFactory()
    queued_job(status=BacktestJob.Status.DONE, progress=1.0, run=run)
    html = staff_client.get("/backtests/jobs", headers=HTMX).content.decode()
    assert "hx-trigger" not in html
    assert '<progress max="100" value="100"' in html
    assert f'<a href="/backtests/{run.pk}">Run #{run.pk}</a>' in html
    # The last poll brings the new run into the runs table.
    assert '<div id="runs-table" hx-swap-oob="true">' in html
    assert f'href="/backtests/{run.pk}">#{run.pk}</a>' in html


@pytest.mark.django_db
def test_a_failed_job_shows_its_error(staff_client: Client) -> None:
    queued_job(
        status=BacktestJob.Status.FAILED,
        progress=0.5,
        error="/data/x.csv, line 9: price 'abc' is not a number.",
    )
    html = staff_client.get("/backtests/jobs", headers=HTMX).content.decode()
    assert "/data/x.csv, line 9: price &#x27;abc&#x27; is not a number." in html
    assert '<progress max="100" value="50"' in html and "hx-trigger" not in html


@pytest.mark.django_db
def test_the_jobs_list_shows_the_latest_ten_newest_first(staff_client: Client) -> None:
    jobs: list[Any] = [queued_job(status=BacktestJob.Status.FAILED, error="x") for _ in range(12)]
    html = staff_client.get("/backtests/jobs", headers=HTMX).content.decode()
    shown = [int(n) for n in re.findall(r'id="backtest-job-(\d+)"', html)]
    assert shown == [job.pk for job in reversed(jobs)][:10]


def test_a_running_job_silent_for_minutes_is_shown_failed(staff_client: Client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from trading.models.backtests import STALLED_AFTER

    long_ago = timezone.now() - STALLED_AFTER - timedelta(seconds=5)
    dead = BacktestJob.objects.create(
        exchange="binanceusdm",
        symbol="BTC/USDT:USDT",
        data_files=["/nowhere.csv"],
        status=BacktestJob.Status.RUNNING,
        started_at=long_ago,
        beat_at=long_ago,
        progress=0.4,
    )
    alive = BacktestJob.objects.create(
        exchange="binanceusdm",
        symbol="BTC/USDT:USDT",
        data_files=["/nowhere.csv"],
        status=BacktestJob.Status.RUNNING,
        started_at=long_ago,
        beat_at=timezone.now(),
        progress=0.4,
    )
    html = staff_client.get("/backtests/jobs", headers={"HX-Request": "true"}).content.decode()
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.status == "failed" and "stopped without finishing" in dead.error
    assert alive.status == "running"
    assert "stopped without finishing" in html
