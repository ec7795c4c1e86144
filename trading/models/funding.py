"""Funding the exchange settled on a live account's positions."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from trading import messages
from trading.choices import Side
from trading.models.base import PRICE, check
from trading.numbers import plain
from trading.validators import validate_exchange_id, validate_unified_symbol


class FundingPayment(models.Model):
    """One funding settlement of one (exchange, symbol) position side, as the exchange reports
    it; read again and again, recorded once (the exchange's id for it is unique)."""

    exchange = models.CharField(max_length=32, validators=[validate_exchange_id])
    symbol = models.CharField(max_length=64, validators=[validate_unified_symbol])
    side = models.CharField(
        max_length=5,
        choices=Side.choices,
        blank=True,
        help_text="Empty where the exchange does not say which side paid or received it.",
    )
    amount = models.DecimalField(
        **PRICE, help_text="In the settle currency: received above 0, paid below 0."
    )
    rate = models.DecimalField(**PRICE, null=True, blank=True, help_text="Where the exchange says.")
    paid_at = models.DateTimeField(help_text="The funding time, as the exchange settled it.")
    settlement_id = models.CharField(max_length=64, help_text="The exchange's id for it.")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-paid_at", "-id"]
        indexes = [
            models.Index(fields=["exchange", "paid_at"], name="trading_funding_exch_time"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol", "settlement_id"],
                name="trading_fundingpayment_once",
                violation_error_message=messages.FUNDING_ONCE,
            ),
            check(
                "trading_fundingpayment_side_valid",
                Q(side__in=[*Side.values, ""]),
                messages.FUNDING_SIDE_VALID,
            ),
            check(
                "trading_fundingpayment_id_present",
                ~Q(settlement_id=""),
                messages.FUNDING_ID_PRESENT,
            ),
        ]

    def __str__(self) -> str:
        side = f" {self.side}" if self.side else ""
        return f"funding {self.exchange} {self.symbol}{side} {plain(self.amount)}"
