"""Backtests a trader saved (`backtest --save`), for the dashboard to show with their curve."""

from __future__ import annotations

from django.db import models

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
