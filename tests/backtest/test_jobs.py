"""The one replay behind `manage.py backtest` and the dashboard's jobs, and the job's worker."""

from __future__ import annotations

import json
import logging
import threading
from decimal import Decimal
from io import StringIO
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.core.management import call_command
from django.db import IntegrityError, transaction

import levelbot.celery  # noqa: F401  (bind the tasks to the app, as a hand-off does, before patching)
from tests.imports import loaded_by
from tests.shared_data import GOLDEN, GOLDEN_SCENARIOS
from trading import services
from trading.backtest.formats import DataFileError
from trading.backtest.replay import replay
from trading.backtest.runner import Backtest
from trading.backtest.scenario import load_scenario
from trading.models import BacktestJob, BacktestRun
from trading.selectors import scenario_from_db
from trading.tasks import run_backtest_job

ETH = "ethusdt_2024-08-08"
ETH_DATA = GOLDEN_SCENARIOS[ETH]
ETH_SCENARIO = GOLDEN / f"{ETH}.scenario.json"


def comparable(summary: dict[str, Any]) -> dict[str, Any]:
    """A summary as JSON stores it, without the one figure that depends on the clock."""
    figures = json.loads(json.dumps(summary))
    figures.pop("ticks_per_second")
    return figures


def trades_file(path: Path, start_ms: int, rows: int, price: float = 100.0) -> Path:
    lines = ["timestamp,price,amount,side"]
    lines += [f"{start_ms + i * 10},{price + (i % 50) / 10:.1f},1,buy" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def eth_levels_in_the_database() -> None:
    """The ETH golden scenario's tiers, levels and sentiment, as a trader would set them."""
    raw = json.loads(ETH_SCENARIO.read_text())
    services.scenario_import(
        scenario=load_scenario(ETH_SCENARIO), raw_levels=raw["levels"], sentiment=True
    )


def queued_job(**fields: Any) -> BacktestJob:
    values: dict[str, Any] = {
        "exchange": "binanceusdm",
        "symbol": "ETH/USDT:USDT",
        "data_files": [str(ETH_DATA)],
        "fee_rate": Decimal("0.0005"),
        "slippage_bps": Decimal("1"),
    }
    return BacktestJob.objects.create(**{**values, **fields})


def join_job_thread(job_id: int, timeout: float = 60.0) -> None:
    """Wait for the background thread a job was handed to; fail if it does not finish."""
    for thread in threading.enumerate():
        if thread.name == f"levelbot-backtest-{job_id}":
            thread.join(timeout)
            assert not thread.is_alive(), f"backtest job {job_id} still running after {timeout}s"


# The replay ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(GOLDEN_SCENARIOS))
def test_replay_gives_the_golden_orders(name: str) -> None:
    scenario = load_scenario(GOLDEN / f"{name}.scenario.json")
    done = replay(scenario, [GOLDEN_SCENARIOS[name]])
    golden = (GOLDEN / f"{name}.orders.jsonl").read_text()
    assert "".join(json.dumps(order) + "\n" for order in done.backtest.result.orders) == golden
    assert done.stats.ticks == done.summary["ticks"] > 0


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(GOLDEN_SCENARIOS))
def test_replay_gives_the_commands_summary(name: str) -> None:
    scenario_file = GOLDEN / f"{name}.scenario.json"
    data = str(GOLDEN_SCENARIOS[name])
    done = replay(load_scenario(scenario_file), [data], fee_rate=0.0005, slippage_bps=1.0)
    out = StringIO()
    call_command(
        "backtest",
        "--data",
        data,
        "--config",
        str(scenario_file),
        "--fee-rate",
        "0.0005",
        "--slippage-bps",
        "1",
        "--json",
        stdout=out,
    )
    from_command = json.loads(out.getvalue())
    assert comparable(done.summary) == comparable(from_command)
    assert done.summary["fees"] > 0 and done.summary["candles"] is False
    assert done.summary["ticks_per_second"] > 0


def test_progress_grows_to_one_at_the_last_tick(tmp_path: Path) -> None:
    scenario = load_scenario(GOLDEN / "handmade_edges.scenario.json")
    files = [trades_file(tmp_path / f"part{i}.csv", i * 1_000_000, 20_000) for i in range(3)]
    shares: list[float] = []
    done = replay(scenario, files, on_progress=shares.append, progress_every_s=0)
    assert len(shares) >= 3
    assert all(a < b for a, b in pairwise(shares))
    assert shares[0] > 0 and shares[-1] == 1.0
    assert done.stats.bytes_read == done.stats.total_bytes


def test_progress_is_told_at_most_once_an_interval(tmp_path: Path) -> None:
    scenario = load_scenario(GOLDEN / "handmade_edges.scenario.json")
    files = [trades_file(tmp_path / f"part{i}.csv", i * 1_000_000, 20_000) for i in range(3)]
    shares: list[float] = []
    replay(scenario, files, on_progress=shares.append, progress_every_s=3600)
    assert shares == [1.0]


def test_candles_replay_without_sentiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    candles = tmp_path / "candles.csv"
    candles.write_text(
        "timestamp,open,high,low,close,volume\n60000,100,101,99,100.5,3\n120000,100.5,102,100,101,2\n"
    )
    scenario = load_scenario(GOLDEN / "handmade_edges.scenario.json")
    assert scenario.sentiment.enabled
    given: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Backtest:
        given.append(kwargs["sentiment"])
        return Backtest(*args, **kwargs)

    monkeypatch.setattr("trading.backtest.replay.Backtest", spy)
    done = replay(scenario, [candles])
    assert done.summary["candles"] is True and done.summary["ticks"] == 8
    assert [config.enabled for config in given] == [False]
    assert given[0].window_s == scenario.sentiment.window_s


def test_a_bad_line_stops_the_replay_before_the_end(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,price,amount,side\n1000,100,1,buy\n2000,abc,1,sell\n")
    shares: list[float] = []
    scenario = load_scenario(GOLDEN / "handmade_edges.scenario.json")
    with pytest.raises(DataFileError, match=r"bad\.csv, line 3"):
        replay(scenario, [bad], on_progress=shares.append, progress_every_s=0)
    assert 1.0 not in shares


# The job's worker: the celery task, called as a function -------------------------------------


@pytest.mark.django_db
def test_the_task_replays_a_queued_job_and_links_its_run() -> None:
    eth_levels_in_the_database()
    job = queued_job()
    assert run_backtest_job(job.pk) == "done"
    job.refresh_from_db()
    assert job.status == BacktestJob.Status.DONE and job.progress == 1.0 and job.error == ""
    assert job.started_at is not None and job.finished_at is not None
    assert job.started_at <= job.finished_at
    run = job.run
    assert run is not None and run.data_files == [str(ETH_DATA)]
    assert (run.fee_rate, run.slippage_bps) == (Decimal("0.0005"), Decimal("1"))
    direct = replay(
        scenario_from_db(exchange="binanceusdm", symbol="ETH/USDT:USDT"),
        [ETH_DATA],
        fee_rate=0.0005,
        slippage_bps=1.0,
    )
    assert comparable(run.summary) == comparable(direct.summary)
    assert run.summary["orders"] == len(run.orders) == 10


@pytest.mark.django_db
def test_the_task_leaves_a_job_that_is_not_queued_alone() -> None:
    eth_levels_in_the_database()
    job = queued_job(status=BacktestJob.Status.RUNNING, progress=0.3)
    assert run_backtest_job(job.pk) == "running"
    job.refresh_from_db()
    assert job.progress == 0.3 and not BacktestRun.objects.exists()
    assert run_backtest_job(424242) is None


@pytest.mark.django_db
def test_a_missing_file_fails_the_job_with_the_readers_sentence(tmp_path: Path) -> None:
    eth_levels_in_the_database()
    gone = tmp_path / "gone.csv"
    job = queued_job(data_files=[str(gone)])
    assert run_backtest_job(job.pk) == "failed"
    job.refresh_from_db()
    assert job.error == f"{gone}: there is no such file."
    assert job.run is None and job.finished_at is not None
    assert not BacktestRun.objects.exists()


@pytest.mark.django_db
def test_a_symbol_without_tiers_fails_the_job_with_the_scenarios_sentence() -> None:
    job = queued_job(symbol="SOL/USDT:USDT")
    run_backtest_job(job.pk)
    job.refresh_from_db()
    assert job.status == BacktestJob.Status.FAILED
    assert job.error == (
        "binanceusdm SOL/USDT:USDT has no tiers yet: set them in the admin or on the levels page."
    )


@pytest.mark.django_db
def test_an_unexpected_error_fails_the_job_and_logs_the_traceback(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    eth_levels_in_the_database()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk fell off")

    monkeypatch.setattr("trading.backtest.replay.replay", broken)
    job = queued_job()
    with caplog.at_level(logging.ERROR, logger="trading.services"):
        run_backtest_job(job.pk)
    job.refresh_from_db()
    assert job.status == BacktestJob.Status.FAILED
    assert job.error.startswith("The backtest stopped on an unexpected error (RuntimeError);")
    assert "Traceback" not in job.error
    logged = [r for r in caplog.records if r.exc_info and "stopped on an unexpected" in r.message]
    assert logged and "the disk fell off" in str(logged[0].exc_info[1])


# Handing a job off -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_without_a_broker_a_background_thread_runs_the_job(settings: LazySettings) -> None:
    settings.REDIS_URL = ""
    eth_levels_in_the_database()
    job = services.backtest_job_start(
        exchange="binanceusdm",
        symbol="ETH/USDT:USDT",
        data_files=[str(ETH_DATA)],
        fee_rate=Decimal(0),
        slippage_bps=Decimal(0),
        requested_by="trader",
    )
    assert job.status == BacktestJob.Status.QUEUED
    join_job_thread(job.pk)
    job.refresh_from_db()
    assert job.status == BacktestJob.Status.DONE and job.run is not None
    assert job.requested_by == "trader"


@pytest.mark.django_db(transaction=True)
def test_with_a_broker_the_job_goes_to_celery(
    settings: LazySettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:6390/0"
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(run_backtest_job, "apply_async", lambda **kw: sent.append(kw))
    eth_levels_in_the_database()
    job = services.backtest_job_start(
        exchange="binanceusdm",
        symbol="ETH/USDT:USDT",
        data_files=[str(ETH_DATA)],
        fee_rate=Decimal(0),
        slippage_bps=Decimal(0),
    )
    join_job_thread(job.pk)
    assert [call["args"] for call in sent] == [[job.pk]]
    job.refresh_from_db()
    assert job.status == BacktestJob.Status.QUEUED  # a worker's to run, not this process's


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_refuses_the_job_leaves_it_to_this_process(
    settings: LazySettings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:6390/0"

    def broker_down(**kwargs: Any) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(run_backtest_job, "apply_async", broker_down)
    eth_levels_in_the_database()
    with caplog.at_level(logging.WARNING, logger="trading.services"):
        job = services.backtest_job_start(
            exchange="binanceusdm",
            symbol="ETH/USDT:USDT",
            data_files=[str(ETH_DATA)],
            fee_rate=Decimal(0),
            slippage_bps=Decimal(0),
        )
        join_job_thread(job.pk)
    job.refresh_from_db()
    assert job.status == BacktestJob.Status.DONE and job.run is not None
    assert any("did not take backtest job" in r.getMessage() for r in caplog.records)


# The job row ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"progress": 1.5}, "progress_range"),
        ({"progress": -0.1}, "progress_range"),
        ({"status": "lost"}, "status_valid"),
        ({"fee_rate": Decimal("-0.001")}, "fee_rate_not_negative"),
    ],
)
def test_the_database_refuses_a_job_out_of_range(fields: dict[str, Any], constraint: str) -> None:
    with pytest.raises(IntegrityError, match=constraint), transaction.atomic():
        queued_job(**fields)


@pytest.mark.django_db
def test_a_jobs_percentage_reaches_100_only_when_done() -> None:
    job = queued_job(status=BacktestJob.Status.RUNNING, progress=0.999)
    assert job.percent == 99 and job.is_active
    job.status = BacktestJob.Status.DONE
    assert job.percent == 100 and not job.is_active


def test_the_replay_imports_no_framework() -> None:
    assert loaded_by("trading.backtest.replay", {"asyncio", "celery", "django"}) == []
