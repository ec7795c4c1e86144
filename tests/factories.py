"""Factories for every model: valid rows by default, any field overridable."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.utils import timezone
from factory.django import DjangoModelFactory

from trading.models import (
    BotSession,
    BotSettings,
    FundingPayment,
    Level,
    MarginType,
    Side,
    SymbolTiers,
    TierState,
    Trade,
    TradeAction,
    TradeReason,
    TradeStatus,
)


class LevelFactory(DjangoModelFactory[Level]):
    class Meta:
        model = Level

    exchange = "binanceusdm"
    symbol = "BTC/USDT:USDT"
    level_price = factory.Sequence(lambda n: Decimal(62750) + n * 100)
    base_size = Decimal("0.002")
    leverage = 10
    margin_type = MarginType.ISOLATED
    cool_down_ms = 1000


class SymbolTiersFactory(DjangoModelFactory[SymbolTiers]):
    class Meta:
        model = SymbolTiers
        django_get_or_create = ("exchange", "symbol")

    exchange = "binanceusdm"
    symbol = "BTC/USDT:USDT"
    tier1_pct = Decimal("0.005")
    tier2_pct = Decimal("0.003")
    tier3_pct = Decimal("0.0015")


class TierStateFactory(DjangoModelFactory[TierState]):
    class Meta:
        model = TierState

    level = factory.SubFactory(LevelFactory)
    side = Side.SHORT
    fired_tiers = factory.LazyFunction(list)
    filled_size = Decimal(0)


class TradeFactory(DjangoModelFactory[Trade]):
    class Meta:
        model = Trade

    level = factory.SubFactory(LevelFactory)
    exchange = factory.LazyAttribute(lambda t: t.level.exchange if t.level else "binanceusdm")
    symbol = factory.LazyAttribute(lambda t: t.level.symbol if t.level else "BTC/USDT:USDT")
    level_key = factory.LazyAttribute(lambda t: str(t.level.pk) if t.level else "")
    side = Side.SHORT
    action = TradeAction.OPEN
    tiers = factory.LazyFunction(lambda: [1])
    size = Decimal("0.002")
    price = Decimal("63064.5")
    reason = TradeReason.TIER
    client_order_id = factory.Sequence(lambda n: f"lb{n:08d}")
    status = TradeStatus.FILLED
    event_ts_ms = factory.Sequence(lambda n: 1_721_347_217_599 + n)


class BotSessionFactory(DjangoModelFactory[BotSession]):
    class Meta:
        model = BotSession

    started_at = factory.LazyFunction(timezone.now)
    heartbeat_at = factory.LazyFunction(timezone.now)
    pid = 4242
    hostname = "trader-box"


class BotSettingsFactory(DjangoModelFactory[BotSettings]):
    class Meta:
        model = BotSettings
        django_get_or_create = ("id",)

    id = 1


class FundingPaymentFactory(DjangoModelFactory[FundingPayment]):
    class Meta:
        model = FundingPayment

    exchange = "bybit"
    symbol = "BTC/USDT:USDT"
    side = Side.LONG
    amount = Decimal("-0.0128")
    rate = Decimal("0.0001")
    paid_at = factory.LazyFunction(timezone.now)
    settlement_id = factory.Sequence(lambda n: f"funding-{n}")
