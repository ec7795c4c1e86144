"""What the background jobs have already told the trader, so that each thing is told once."""

from __future__ import annotations

from django.db import models


class NotificationMark(models.Model):
    """One thing told: a bot session found down, a position drift with its figures, a day
    summarized. `key` names the thing; `value` holds what was said about it, so that a change
    (a drift growing) is told again."""

    key = models.CharField(max_length=200, unique=True)
    value = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.key} {self.value}".strip()
