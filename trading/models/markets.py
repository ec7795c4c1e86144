"""The markets the bot has loaded from its exchanges: the order rules a level must respect.

The bot writes them when it connects (and `manage.py sync_markets` on demand); the level form
reads them, so a level whose orders the exchange would refuse is never saved. A market not
loaded yet puts no rule on a level: the bot checks every order again before sending it.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.db import models, transaction

from trading.exchange.markets import MarketRules
from trading.models.base import PRICE


class Market(models.Model):
    exchange = models.CharField(max_length=32)
    symbol = models.CharField(max_length=64, help_text="Unified, as BTC/USDT:USDT.")
    market_id = models.CharField(max_length=64, help_text="The exchange's own id, as BTCUSDT.")
    amount_step = models.DecimalField(**PRICE, null=True, blank=True)
    min_amount = models.DecimalField(**PRICE, null=True, blank=True)
    min_notional = models.DecimalField(**PRICE, null=True, blank=True)
    contract_size = models.DecimalField(**PRICE, default=Decimal(1))
    max_leverage = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["exchange", "symbol"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol"], name="trading_market_unique")
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol}"

    def rules(self) -> MarketRules:
        return MarketRules(
            exchange=self.exchange,
            symbol=self.symbol,
            market_id=self.market_id,
            amount_step=self.amount_step,
            min_amount=self.min_amount,
            min_notional=self.min_notional,
            contract_size=self.contract_size,
            max_leverage=self.max_leverage,
        )

    @classmethod
    def rules_for(cls, exchange: str, symbol: str) -> MarketRules | None:
        row = cls.objects.filter(exchange=exchange, symbol=symbol).first()
        return row.rules() if row is not None else None

    @classmethod
    @transaction.atomic
    def store(cls, rules: Iterable[MarketRules]) -> int:
        """Insert or update these markets; returns how many."""
        count = 0
        for r in rules:
            cls.objects.update_or_create(
                exchange=r.exchange,
                symbol=r.symbol,
                defaults={
                    "market_id": r.market_id,
                    "amount_step": r.amount_step,
                    "min_amount": r.min_amount,
                    "min_notional": r.min_notional,
                    "contract_size": r.contract_size,
                    "max_leverage": r.max_leverage,
                },
            )
            count += 1
        return count
