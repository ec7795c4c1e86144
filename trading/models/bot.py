"""The bot process: its sessions and the settings it reads on reload."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from trading import messages
from trading.engine import SentimentConfig
from trading.models.base import check
from trading.validators import LessThanValidator


class BotSession(models.Model):
    """One run of the bot process, with the heartbeat the dashboard watches."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    started_at = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    pid = models.PositiveIntegerField(null=True, blank=True)
    hostname = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"bot session {self.id} ({self.hostname or 'unknown host'})"

    def is_alive(self, timeout_s: float, *, now: datetime | None = None) -> bool:
        """Not stopped, and last heard from (heartbeat, else start) within `timeout_s`."""
        if self.stopped_at is not None:
            return False
        last_seen = self.heartbeat_at or self.started_at
        now = now or timezone.now()
        return now - last_seen <= timedelta(seconds=timeout_s)


class BotSettings(models.Model):
    """The settings a trader tunes while the bot runs: one row, read by runbot on reload."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    entries_paused = models.BooleanField(
        default=False,
        help_text="The kill switch: no new entry on any level while on; exits still run.",
    )
    levels_reload_ms = models.PositiveIntegerField(
        default=5000,
        validators=[MinValueValidator(100, messages.RELOAD_AT_LEAST_100)],
        help_text="How often the bot reloads levels and tiers (ms).",
    )
    sentiment_enabled = models.BooleanField(
        default=True, help_text="Off turns off both the entry filter and the sentiment exit."
    )
    sentiment_window_s = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1, messages.WINDOW_AT_LEAST_1)]
    )
    sentiment_threshold = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        default=Decimal("0.6"),
        validators=[
            MinValueValidator(0, messages.THRESHOLD_RANGE),
            LessThanValidator(1, messages.THRESHOLD_RANGE),
        ],
        help_text="0.6 blocks longs below -0.6 and shorts above 0.6, and closes them there.",
    )
    heartbeat_timeout_s = models.PositiveIntegerField(
        default=10,
        validators=[MinValueValidator(1, messages.HEARTBEAT_AT_LEAST_1)],
        help_text="A feed silent this long is stale, and a bot silent this long is down.",
    )
    max_spread_bps = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal(20),
        validators=[MinValueValidator(0, messages.SPREAD_NOT_NEGATIVE)],
        help_text="Live trading: no entry while the bid-ask spread is wider than this many "
        "basis points of the mid price (exits always go).",
    )
    max_slippage_bps = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        null=True,
        blank=True,
        default=Decimal(50),
        validators=[MinValueValidator(Decimal("0.01"), messages.SLIPPAGE_CAP_POSITIVE)],
        help_text="Live trading on Bybit: a market order fills no further than this many basis "
        "points from the price when it is placed, or not at all (Bybit's slippage tolerance). "
        "Empty: no cap. Binance USD-M and OKX take no cap on market orders.",
    )
    paper_fee_rate = models.DecimalField(
        max_digits=8,
        decimal_places=6,
        default=Decimal("0.00055"),
        validators=[
            MinValueValidator(0, messages.FEE_RATE_RANGE),
            LessThanValidator(Decimal("0.1"), messages.FEE_RATE_RANGE),
        ],
        help_text="Taker fee of the paper exchange, as a fraction of notional.",
    )
    paper_slippage_bps = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(0, messages.SLIPPAGE_NOT_NEGATIVE)],
        help_text="Paper fills are this many basis points worse than the tick price.",
    )

    class Meta:
        verbose_name = "bot settings"
        verbose_name_plural = "bot settings"
        constraints = [
            check("trading_botsettings_single_row", Q(id=1), messages.SETTINGS_SINGLE_ROW),
            check(
                "trading_botsettings_reload_min",
                Q(levels_reload_ms__gte=100),
                messages.RELOAD_AT_LEAST_100,
            ),
            check(
                "trading_botsettings_window_min",
                Q(sentiment_window_s__gte=1),
                messages.WINDOW_AT_LEAST_1,
            ),
            check(
                "trading_botsettings_threshold_range",
                Q(sentiment_threshold__gte=0, sentiment_threshold__lt=1),
                messages.THRESHOLD_RANGE,
            ),
            check(
                "trading_botsettings_heartbeat_min",
                Q(heartbeat_timeout_s__gte=1),
                messages.HEARTBEAT_AT_LEAST_1,
            ),
            check(
                "trading_botsettings_fee_rate_range",
                Q(paper_fee_rate__gte=0, paper_fee_rate__lt=Decimal("0.1")),
                messages.FEE_RATE_RANGE,
            ),
            check(
                "trading_botsettings_slippage_not_negative",
                Q(paper_slippage_bps__gte=0),
                messages.SLIPPAGE_NOT_NEGATIVE,
            ),
            check(
                "trading_botsettings_slippage_cap_positive",
                Q(max_slippage_bps__isnull=True) | Q(max_slippage_bps__gte=Decimal("0.01")),
                messages.SLIPPAGE_CAP_POSITIVE,
            ),
            check(
                "trading_botsettings_spread_not_negative",
                Q(max_spread_bps__gte=0),
                messages.SPREAD_NOT_NEGATIVE,
            ),
        ]

    def __str__(self) -> str:
        return "bot settings"

    def sentiment(self) -> SentimentConfig:
        """The sentiment rule's settings as the engine takes them."""
        return SentimentConfig(
            enabled=self.sentiment_enabled,
            window_s=float(self.sentiment_window_s),
            threshold=float(self.sentiment_threshold),
        )

    @classmethod
    def load(cls) -> BotSettings:
        """The settings row, created with the defaults on first use."""
        settings, _ = cls.objects.get_or_create(pk=1)
        return settings
