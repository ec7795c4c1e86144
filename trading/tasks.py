"""Celery tasks: notification delivery, and the periodic jobs of levelbot/celery.py's schedule.

Thin on purpose: each job asks `trading.reports` what to tell and hands it to `notify()`. Each
is also a plain function (`dead_man_check()` runs it here and now), which is how tests call
them, and how cron can run them where there is no broker:
`manage.py shell -c "from trading.tasks import dead_man_check; dead_man_check()"`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from celery import shared_task

from trading import reports
from trading.notify import Notification, flush, notify
from trading.notify.destinations import DeliveryError, send

# A job waits this long for its notifications to leave the process (handed to the broker,
# or delivered when there is none) before it returns.
FLUSH_S = 20.0


@shared_task(
    autoretry_for=(DeliveryError,),
    retry_backoff=True,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=6,
    soft_time_limit=30,
    time_limit=45,
)
def deliver_notification(notification: dict[str, Any], destination: str) -> None:
    """Deliver one notification to one destination (`telegram` or `webhook`), retried with
    exponential backoff on network errors. The token is read here, never carried in the task."""
    send(destination, Notification.from_dict(notification))


def _tell(notifications: list[Notification]) -> int:
    for notification in notifications:
        notify(notification)
    if notifications:
        flush(FLUSH_S)
    return len(notifications)


@shared_task(soft_time_limit=20, time_limit=30)
def dead_man_check() -> int:
    """`bot_down` once per bot session whose heartbeat stopped; returns how many were told."""
    return _tell(reports.dead_man_notifications())


@shared_task(soft_time_limit=60, time_limit=90)
def reconcile_positions() -> int:
    """`position_drift` for paper positions that differ from the levels' tier state."""
    return _tell(reports.drift_notifications())


@shared_task(soft_time_limit=120, time_limit=180)
def daily_summary(day: str | None = None) -> int:
    """`daily_summary` of `day` (ISO date), by default the previous UTC day; once a day."""
    which = date.fromisoformat(day) if day else reports.previous_utc_day()
    return _tell(reports.daily_summary_notifications(day=which))


@shared_task(soft_time_limit=4 * 3600, time_limit=4 * 3600 + 60)
def run_backtest_job(job_id: int) -> str | None:
    """Replay a backtest job started from the dashboard (`services.backtest_job_start`);
    returns the job's status at the end, None when there is no such job."""
    from trading.services import backtest_job_run

    job = backtest_job_run(job_id=job_id)
    return job.status if job else None
