"""What a trader asks the running bot to do: close a side of a symbol now.

The web process never talks to an exchange: it writes a request, and the bot, which holds the
exchange connection and the tier state, carries it out within a second and writes the outcome
back. One pending request per (exchange, symbol, side) at most.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from trading.choices import Side


class CloseRequest(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        NOTHING = "nothing", "nothing to close"
        FAILED = "failed"

    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64)
    side = models.CharField(max_length=5, choices=Side.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    requested_by = models.CharField(max_length=150, blank=True)
    detail = models.TextField(blank=True, help_text="The outcome, in words.")
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol", "side"],
                condition=Q(status="pending"),
                name="trading_closerequest_one_pending",
            )
        ]

    def __str__(self) -> str:
        return f"close {self.exchange} {self.symbol} {self.side}: {self.get_status_display()}"
