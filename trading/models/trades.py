"""Orders the bot placed or meant to place."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from trading import messages
from trading.choices import Side, TradeAction, TradeReason, TradeStatus
from trading.models.base import PRICE, check
from trading.numbers import plain
from trading.validators import (
    TIER_LIST_MESSAGE,
    VALID_TIER_LISTS,
    GreaterThanValidator,
    validate_client_order_id,
    validate_exchange_id,
    validate_tier_list,
    validate_unified_symbol,
)


class Trade(models.Model):
    """An order the bot meant to place, written before it is sent, then updated with its fate."""

    exchange = models.CharField(max_length=32, validators=[validate_exchange_id])
    symbol = models.CharField(max_length=64, validators=[validate_unified_symbol])
    level = models.ForeignKey(
        "trading.Level", null=True, blank=True, on_delete=models.SET_NULL, related_name="trades"
    )
    level_key = models.CharField(
        max_length=64,
        blank=True,
        help_text="The level's id as text, kept when the level is deleted; empty for a close "
        "of a whole side.",
    )
    side = models.CharField(max_length=5, choices=Side.choices)
    action = models.CharField(max_length=8, choices=TradeAction.choices)
    tiers = models.JSONField(default=list, blank=True, validators=[validate_tier_list])
    size = models.DecimalField(
        **PRICE, validators=[GreaterThanValidator(0, messages.TRADE_SIZE_POSITIVE)]
    )
    price = models.DecimalField(
        **PRICE,
        null=True,
        blank=True,
        validators=[GreaterThanValidator(0, messages.TRADE_PRICE_POSITIVE)],
        help_text="The average fill price; empty until the order fills.",
    )
    tick_price = models.DecimalField(
        **PRICE,
        null=True,
        blank=True,
        help_text="The price of the tick the decision was made on: the fill's reference.",
    )
    fee = models.DecimalField(
        **PRICE, default=Decimal(0), help_text="In the settle currency (USDT for BTC/USDT:USDT)."
    )
    reason = models.CharField(max_length=16, choices=TradeReason.choices)
    client_order_id = models.CharField(
        max_length=32, unique=True, validators=[validate_client_order_id]
    )
    exchange_order_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=8, choices=TradeStatus.choices, default=TradeStatus.INTENT)
    error = models.TextField(blank=True, help_text="The exchange's reason for a rejection.")
    event_ts_ms = models.BigIntegerField(help_text="Event time (ms) of the tick behind it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["exchange", "symbol", "created_at"], name="trading_trade_exch_sym_time"
            )
        ]
        constraints = [
            check("trading_trade_size_positive", Q(size__gt=0), messages.TRADE_SIZE_POSITIVE),
            check(
                "trading_trade_price_positive",
                Q(price__isnull=True) | Q(price__gt=0),
                messages.TRADE_PRICE_POSITIVE,
            ),
            check("trading_trade_side_valid", Q(side__in=Side.values), messages.SIDE_VALID),
            check(
                "trading_trade_action_valid",
                Q(action__in=TradeAction.values),
                messages.TRADE_ACTION_VALID,
            ),
            check(
                "trading_trade_reason_valid",
                Q(reason__in=TradeReason.values),
                messages.TRADE_REASON_VALID,
            ),
            check(
                "trading_trade_status_valid",
                Q(status__in=TradeStatus.values),
                messages.TRADE_STATUS_VALID,
            ),
            check("trading_trade_tiers_valid", Q(tiers__in=VALID_TIER_LISTS), TIER_LIST_MESSAGE),
            check(
                "trading_trade_client_order_id_present",
                ~Q(client_order_id=""),
                messages.CLIENT_ORDER_ID_PRESENT,
            ),
            check(
                "trading_trade_entry_names_level",
                Q(action=TradeAction.CLOSE) | ~Q(level_key=""),
                messages.TRADE_NEEDS_LEVEL_KEY,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.side} {plain(self.size)} {self.symbol} ({self.status})"

    def clean(self) -> None:
        if self.action in (TradeAction.OPEN, TradeAction.ADD) and not self.level_key:
            raise ValidationError({"level_key": messages.TRADE_NEEDS_LEVEL_KEY})
