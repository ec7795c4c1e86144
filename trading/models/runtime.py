"""What the bot process keeps while it runs: its paper account, feed health and level events."""

from __future__ import annotations

import secrets
import string
from decimal import Decimal

from django.db import models
from django.db.models import Q

from trading import messages
from trading.choices import Side
from trading.models.base import PRICE, check

PREFIX_ALPHABET = string.ascii_lowercase + string.digits
PREFIX_LENGTH = 6
PAPER_START_BALANCE = Decimal(10_000)


def new_order_prefix() -> str:
    return "".join(secrets.choice(PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))


class Installation(models.Model):
    """One row made with the database: the prefix of every client order id it ever sends.

    A fresh database draws a fresh prefix, so ids never repeat on an exchange account after a
    database reset.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    order_prefix = models.CharField(max_length=PREFIX_LENGTH, default=new_order_prefix)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [check("trading_installation_single_row", Q(id=1), "One installation row.")]

    def __str__(self) -> str:
        return f"installation {self.order_prefix}"

    @classmethod
    def load(cls) -> Installation:
        installation, _ = cls.objects.get_or_create(pk=1)
        return installation


class PaperPosition(models.Model):
    """One side of the paper account on an (exchange, symbol): hedge mode, average entry."""

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    side = models.CharField(max_length=5, choices=Side.choices)
    size = models.DecimalField(**PRICE, default=Decimal(0))
    entry_price = models.DecimalField(**PRICE, default=Decimal(0))
    round_trip_fees = models.DecimalField(**PRICE, default=Decimal(0))
    realized_pnl = models.DecimalField(**PRICE, default=Decimal(0))
    fees = models.DecimalField(**PRICE, default=Decimal(0))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["exchange", "symbol", "side"]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol", "side"], name="trading_paperposition_one_per_side"
            ),
            check("trading_paperposition_side_valid", Q(side__in=Side.values), messages.SIDE_VALID),
            check(
                "trading_paperposition_size_not_negative",
                Q(size__gte=0),
                "Size cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"paper {self.exchange} {self.symbol} {self.side} {self.size}"


class PaperFill(models.Model):
    """An order the paper exchange filled; its client order id is how the bot finds it again."""

    client_order_id = models.CharField(max_length=32, unique=True)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    side = models.CharField(max_length=5, choices=Side.choices)
    action = models.CharField(max_length=8)
    size = models.DecimalField(**PRICE)
    price = models.DecimalField(**PRICE)
    fee = models.DecimalField(**PRICE, default=Decimal(0))
    realized_pnl = models.DecimalField(**PRICE, default=Decimal(0))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"paper fill {self.client_order_id}"


class FeedStatus(models.Model):
    """The health of one symbol's market data and orders, as the status page shows it."""

    class State(models.TextChoices):
        STARTING = "starting"
        LIVE = "live"
        STALE = "stale"
        STOPPED = "stopped"

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    feed = models.CharField(max_length=255, blank=True, help_text="synthetic, replay:PATH, live")
    state = models.CharField(max_length=8, choices=State.choices, default=State.STARTING)
    last_message_at = models.DateTimeField(null=True, blank=True)
    last_price = models.DecimalField(**PRICE, null=True, blank=True)
    reconnects = models.PositiveIntegerField(default=0)
    rest_latency_ms = models.FloatField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    session = models.ForeignKey(
        "trading.BotSession", null=True, blank=True, on_delete=models.SET_NULL
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "feed statuses"
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="trading_feedstatus_one")
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol}: {self.state}"


class LevelEvent(models.Model):
    """A tier fire, an ignored crossing or an entry the exchange refused, with its reason: why
    a level did what it did."""

    class Kind(models.TextChoices):
        FIRED = "fired"
        IGNORED = "ignored"
        REFUSED = "refused", "refused by the exchange"

    level = models.ForeignKey(
        "trading.Level", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    level_key = models.CharField(max_length=64)
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    side = models.CharField(max_length=5, choices=Side.choices)
    tiers = models.JSONField(default=list)
    price = models.FloatField()
    reason = models.CharField(max_length=16, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    event_ts_ms = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["level", "-id"], name="trading_levelevent_level")]

    def __str__(self) -> str:
        return f"{self.kind} {self.level_key} {self.side} {self.tiers}"
