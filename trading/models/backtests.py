"""Backtests a trader saved (`backtest --save`), for the dashboard to show with their curve,
and the jobs that replay one in the background when a trader starts it from the dashboard."""

from __future__ import annotations

from datetime import timedelta

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from trading.models.base import check

# A running job silent this long (its progress is written every quarter second) has died.
STALLED_AFTER = timedelta(minutes=2)

# A saved run keeps at most this many orders; the summary still counts them all.
SAVED_ORDERS_MAX = 10_000


class BacktestRun(models.Model):
    """One replay of recorded data: what was replayed, against what, and what it did."""

    created_at = models.DateTimeField(auto_now_add=True)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    data_files = models.JSONField(default=list, help_text="The files replayed, in order.")
    scenario = models.JSONField(help_text="Levels, tiers and sentiment settings replayed.")
    fee_rate = models.DecimalField(max_digits=8, decimal_places=6, default=0)
    slippage_bps = models.DecimalField(max_digits=8, decimal_places=2, default=0)
    candles = models.BooleanField(
        default=False, help_text="Replayed from candles: the true path inside each is unknown."
    )
    summary = models.JSONField(help_text="The report's figures (the keys of backtest --json).")
    equity_curve = models.JSONField(default=list, help_text="[event time ms, equity] points.")
    orders = models.JSONField(default=list, help_text="The orders, as in --orders-out.")
    orders_truncated = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "backtest run"

    def __str__(self) -> str:
        return (
            f"backtest {self.pk} {self.exchange} {self.symbol} ({self.created_at:%Y-%m-%d %H:%M})"
        )


STATUS_VALID = "A backtest job's status is queued, running, done or failed."
PROGRESS_RANGE = "A backtest job's progress is a share from 0 to 1."
FEE_RATE_NOT_NEGATIVE = "Enter a fee rate of 0 or more: 0.0005 is 5 bp a fill."
SLIPPAGE_NOT_NEGATIVE = "Enter a slippage of 0 or more basis points."


class BacktestJobQuerySet(models.QuerySet["BacktestJob"]):
    def active(self) -> BacktestJobQuerySet:
        """Jobs not finished yet: waiting for a worker or replaying."""
        return self.filter(status__in=BacktestJob.ACTIVE)

    def recent(self, limit: int = 10) -> list[BacktestJob]:
        """The latest jobs, newest first."""
        return list(self.all()[:limit])

    def fail_stalled(self) -> int:
        """Running jobs whose replay has given no sign of life for STALLED_AFTER died with the
        process that ran them: say so, instead of showing them running for ever."""
        cutoff = timezone.now() - STALLED_AFTER
        return self.filter(status=BacktestJob.Status.RUNNING, beat_at__lt=cutoff).update(
            status=BacktestJob.Status.FAILED,
            error="The run stopped without finishing: the process running it ended (a "
            "restart, a crash). Start it again.",
            finished_at=timezone.now(),
        )


class BacktestJob(models.Model):
    """A backtest a trader started from the dashboard, replayed in the background.

    A worker (celery, or a thread of the web process without a broker) takes a queued job,
    replays the files against the symbol's levels and tiers in the database, writes its
    progress as it reads, and links the saved run, or says in a sentence why it failed.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64, help_text="The unified symbol, BTC/USDT:USDT.")
    data_files = models.JSONField(default=list, help_text="The files to replay, in order.")
    fee_rate = models.DecimalField(
        max_digits=8,
        decimal_places=6,
        default=0,
        validators=[MinValueValidator(0, FEE_RATE_NOT_NEGATIVE)],
    )
    slippage_bps = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0, SLIPPAGE_NOT_NEGATIVE)],
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(
        default=0.0,
        validators=[MinValueValidator(0, PROGRESS_RANGE), MaxValueValidator(1, PROGRESS_RANGE)],
        help_text="The share of the files' bytes read, 0 to 1.",
    )
    error = models.TextField(blank=True, help_text="Why the job failed, in a sentence.")
    run = models.ForeignKey(
        BacktestRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
        help_text="The saved run, once the job is done.",
    )
    requested_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    beat_at = models.DateTimeField(
        null=True, blank=True, help_text="The replay's last sign of life (its progress)."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = BacktestJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "backtest job"
        constraints = [
            check(
                "trading_backtestjob_status_valid",
                Q(status__in=["queued", "running", "done", "failed"]),
                STATUS_VALID,
            ),
            check(
                "trading_backtestjob_progress_range",
                Q(progress__gte=0, progress__lte=1),
                PROGRESS_RANGE,
            ),
            check(
                "trading_backtestjob_fee_rate_not_negative",
                Q(fee_rate__gte=0),
                FEE_RATE_NOT_NEGATIVE,
            ),
            check(
                "trading_backtestjob_slippage_not_negative",
                Q(slippage_bps__gte=0),
                SLIPPAGE_NOT_NEGATIVE,
            ),
        ]

    def __str__(self) -> str:
        return f"backtest job {self.pk} {self.exchange} {self.symbol}: {self.status}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def percent(self) -> int:
        """The progress as a whole percentage, for the bar; 100 only once done."""
        if self.status == self.Status.DONE:
            return 100
        return min(int(self.progress * 100), 99)
