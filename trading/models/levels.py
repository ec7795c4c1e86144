"""Levels, the tiers of their symbol, and the tier state the bot keeps per level and side."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q

from trading import messages
from trading.choices import MAX_LEVERAGE, MarginType, Side
from trading.engine import LevelConfig, RiskLimits, Tiers
from trading.models.base import PRICE, TIER, check
from trading.numbers import plain
from trading.validators import (
    TIER_LIST_MESSAGE,
    VALID_TIER_LISTS,
    GreaterThanValidator,
    LessThanValidator,
    validate_exchange_id,
    validate_tier_list,
    validate_unified_symbol,
)


class Level(models.Model):
    """An anchor price the bot defends on one (exchange, symbol), with its order parameters."""

    exchange = models.CharField(
        max_length=32,
        validators=[validate_exchange_id],
        help_text="The ccxt exchange id, such as binanceusdm, bybit or okx.",
    )
    symbol = models.CharField(
        max_length=64,
        validators=[validate_unified_symbol],
        help_text="The unified perpetual symbol, such as BTC/USDT:USDT.",
    )
    level_price = models.DecimalField(
        **PRICE,
        validators=[GreaterThanValidator(0, messages.LEVEL_PRICE_POSITIVE)],
        help_text="The anchor price L: above it the bot shorts, below it the bot longs.",
    )
    base_size = models.DecimalField(
        **PRICE,
        validators=[GreaterThanValidator(0, messages.BASE_SIZE_POSITIVE)],
        help_text="Tier 1's order in base units (BTC for BTC/USDT:USDT); tiers 2 and 3 bring "
        "the side to 2x and 4x.",
    )
    leverage = models.PositiveIntegerField(
        validators=[
            MinValueValidator(1, messages.LEVERAGE_RANGE),
            MaxValueValidator(MAX_LEVERAGE, messages.LEVERAGE_RANGE),
        ],
        help_text=f"From 1 to {MAX_LEVERAGE}; the exchange may allow less on this market.",
    )
    margin_type = models.CharField(
        max_length=8, choices=MarginType.choices, default=MarginType.ISOLATED
    )
    cool_down_ms = models.PositiveIntegerField(
        default=1000,
        validators=[MinValueValidator(0, messages.COOL_DOWN_NOT_NEGATIVE)],
        help_text="After tiers fire on this level, newly crossed tiers of either side are "
        "ignored for this long (ms).",
    )
    take_profit_pct = models.DecimalField(
        **TIER,
        null=True,
        blank=True,
        validators=[
            GreaterThanValidator(0, messages.EXIT_PCT_RANGE),
            LessThanValidator(1, messages.EXIT_PCT_RANGE),
        ],
        help_text="Optional: close the side this level holds at this fraction above (long) or "
        "below (short) the side's average entry: 0.01 is 1%.",
    )
    stop_loss_pct = models.DecimalField(
        **TIER,
        null=True,
        blank=True,
        validators=[
            GreaterThanValidator(0, messages.EXIT_PCT_RANGE),
            LessThanValidator(1, messages.EXIT_PCT_RANGE),
        ],
        help_text="Optional: close the side this level holds at this fraction below (long) or "
        "above (short) the side's average entry: 0.01 is 1%.",
    )
    close_on_touch = models.BooleanField(
        default=False,
        help_text="Close the side this level holds when the price comes back to the level.",
    )
    source = models.CharField(max_length=64, default="manual-web", blank=True)
    note = models.TextField(blank=True)
    is_active = models.BooleanField(
        default=True, help_text="A paused level fires no tiers; its tier state is kept."
    )
    last_trigger_ms = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="Event time (ms) when tiers last fired on this level, either side.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["exchange", "symbol", "level_price", "id"]
        indexes = [models.Index(fields=["exchange", "symbol"], name="trading_level_exch_sym")]
        constraints = [
            check(
                "trading_level_price_positive", Q(level_price__gt=0), messages.LEVEL_PRICE_POSITIVE
            ),
            check(
                "trading_level_base_size_positive", Q(base_size__gt=0), messages.BASE_SIZE_POSITIVE
            ),
            check(
                "trading_level_leverage_range",
                Q(leverage__gte=1, leverage__lte=MAX_LEVERAGE),
                messages.LEVERAGE_RANGE,
            ),
            check(
                "trading_level_cool_down_not_negative",
                Q(cool_down_ms__gte=0),
                messages.COOL_DOWN_NOT_NEGATIVE,
            ),
            check(
                "trading_level_take_profit_range",
                Q(take_profit_pct__isnull=True) | Q(take_profit_pct__gt=0, take_profit_pct__lt=1),
                messages.EXIT_PCT_RANGE,
            ),
            check(
                "trading_level_stop_loss_range",
                Q(stop_loss_pct__isnull=True) | Q(stop_loss_pct__gt=0, stop_loss_pct__lt=1),
                messages.EXIT_PCT_RANGE,
            ),
            check(
                "trading_level_margin_type_valid",
                Q(margin_type__in=MarginType.values),
                messages.MARGIN_TYPE_VALID,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} @ {plain(self.level_price)}"

    def clean(self) -> None:
        """Where the bot has loaded this market, the level's orders must be ones the exchange
        takes: its smallest order (the base size) at the lowest price an entry fires at."""
        from trading.models.markets import Market

        price, size = self.level_price, self.base_size
        if not (isinstance(price, Decimal) and isinstance(size, Decimal) and price > 0 < size):
            return  # the field validators have said what is wrong
        rules = Market.rules_for(self.exchange, self.symbol)
        if rules is None:
            return
        tiers = SymbolTiers.objects.filter(exchange=self.exchange, symbol=self.symbol).first()
        lowest = price * (1 - tiers.tier1_pct) if tiers is not None else price
        if problems := rules.level_problems(size, lowest):
            raise ValidationError({"base_size": problems})

    def to_engine(self) -> LevelConfig:
        """The level as the engine sees it; the database id is its key."""
        return LevelConfig(
            self.pk,
            self.level_price,
            self.base_size,
            self.cool_down_ms,
            self.is_active,
            take_profit_pct=self.take_profit_pct,
            stop_loss_pct=self.stop_loss_pct,
            close_on_touch=self.close_on_touch,
            leverage=self.leverage,
        )


class SymbolTiers(models.Model):
    """The three tier distances shared by every level of one (exchange, symbol)."""

    exchange = models.CharField(max_length=32, validators=[validate_exchange_id])
    symbol = models.CharField(max_length=64, validators=[validate_unified_symbol])
    tier1_pct = models.DecimalField(
        **TIER,
        validators=[LessThanValidator(1, messages.TIER1_BELOW_ONE)],
        help_text="Farthest from the level, as a fraction: 0.005 is 0.5%.",
    )
    tier2_pct = models.DecimalField(**TIER, help_text="Between tier 1 and tier 3.")
    tier3_pct = models.DecimalField(
        **TIER,
        validators=[GreaterThanValidator(0, messages.TIER3_POSITIVE)],
        help_text="Closest to the level.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "symbol tiers"
        verbose_name_plural = "symbol tiers"
        ordering = ["exchange", "symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol"],
                name="trading_symboltiers_one_per_symbol",
                violation_error_message="This exchange and symbol already have tiers: "
                "change those instead.",
            ),
            check(
                "trading_tiers_1_beyond_2", Q(tier1_pct__gt=F("tier2_pct")), messages.TIER1_FARTHER
            ),
            check(
                "trading_tiers_2_beyond_3", Q(tier2_pct__gt=F("tier3_pct")), messages.TIER2_FARTHER
            ),
            check("trading_tiers_3_positive", Q(tier3_pct__gt=0), messages.TIER3_POSITIVE),
            check("trading_tiers_1_below_one", Q(tier1_pct__lt=1), messages.TIER1_BELOW_ONE),
        ]

    def __str__(self) -> str:
        tiers = " / ".join(plain(t) for t in (self.tier1_pct, self.tier2_pct, self.tier3_pct))
        return f"{self.exchange} {self.symbol} tiers {tiers}"

    def to_engine(self) -> Tiers:
        return Tiers(self.tier1_pct, self.tier2_pct, self.tier3_pct)

    def clean(self) -> None:
        t1, t2, t3 = self.tier1_pct, self.tier2_pct, self.tier3_pct
        errors = {}
        if isinstance(t1, Decimal) and isinstance(t2, Decimal) and not t1 > t2:
            errors["tier1_pct"] = messages.TIER1_FARTHER
        if isinstance(t2, Decimal) and isinstance(t3, Decimal) and not t2 > t3:
            errors["tier2_pct"] = messages.TIER2_FARTHER
        if errors:
            raise ValidationError(errors)


class TierState(models.Model):
    """Runtime tier state of one (level, side): which tiers fired and what they filled."""

    level = models.ForeignKey(Level, on_delete=models.CASCADE, related_name="tier_states")
    side = models.CharField(max_length=5, choices=Side.choices)
    fired_tiers = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_tier_list],
        help_text="Tier numbers fired since the last reset, ascending.",
    )
    filled_size = models.DecimalField(
        **PRICE,
        default=Decimal(0),
        validators=[MinValueValidator(0, messages.FILLED_SIZE_NOT_NEGATIVE)],
    )
    cycle = models.PositiveIntegerField(
        default=0, help_text="How many times this level-side has been reset."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "tier state"
        ordering = ["level", "side"]
        constraints = [
            models.UniqueConstraint(
                fields=["level", "side"], name="trading_tierstate_one_per_level_side"
            ),
            check("trading_tierstate_side_valid", Q(side__in=Side.values), messages.SIDE_VALID),
            check(
                "trading_tierstate_fired_tiers_valid",
                Q(fired_tiers__in=VALID_TIER_LISTS),
                TIER_LIST_MESSAGE,
            ),
            check(
                "trading_tierstate_filled_not_negative",
                Q(filled_size__gte=0),
                messages.FILLED_SIZE_NOT_NEGATIVE,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.level} {self.side}"


class SymbolRisk(models.Model):
    """Risk limits of one (exchange, symbol); an empty limit is no limit."""

    exchange = models.CharField(max_length=32, validators=[validate_exchange_id])
    symbol = models.CharField(max_length=64, validators=[validate_unified_symbol])
    max_position = models.DecimalField(
        **PRICE,
        null=True,
        blank=True,
        validators=[GreaterThanValidator(0, messages.LIMIT_POSITIVE)],
        help_text="The most a side may hold, in base units (BTC for BTC/USDT:USDT).",
    )
    max_notional = models.DecimalField(
        **PRICE,
        null=True,
        blank=True,
        validators=[GreaterThanValidator(0, messages.LIMIT_POSITIVE)],
        help_text="The most a side may hold, in the quote currency at the entry's price.",
    )
    max_levels = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1, messages.LIMIT_POSITIVE)],
        help_text="The most levels that may hold a position at once.",
    )
    min_liquidation_distance = models.DecimalField(
        **TIER,
        null=True,
        blank=True,
        validators=[GreaterThanValidator(0, messages.LIMIT_POSITIVE)],
        help_text="No entry whose side's liquidation price (isolated margin at the level's "
        "leverage) would come within this fraction of the level price: 0.05 is 5%.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "symbol risk limits"
        verbose_name_plural = "symbol risk limits"
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "symbol"], name="trading_symbolrisk_one_per_symbol"
            ),
            check(
                "trading_symbolrisk_limits_positive",
                (Q(max_position__isnull=True) | Q(max_position__gt=0))
                & (Q(max_notional__isnull=True) | Q(max_notional__gt=0))
                & (Q(max_levels__isnull=True) | Q(max_levels__gt=0))
                & (Q(min_liquidation_distance__isnull=True) | Q(min_liquidation_distance__gt=0)),
                messages.LIMIT_POSITIVE,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange} {self.symbol} risk limits"

    def to_engine(self) -> RiskLimits:
        return RiskLimits(
            max_position=None if self.max_position is None else float(self.max_position),
            max_notional=None if self.max_notional is None else float(self.max_notional),
            max_levels=self.max_levels,
            min_liquidation_distance=None
            if self.min_liquidation_distance is None
            else float(self.min_liquidation_distance),
        )


class AccountRisk(models.Model):
    """Limits of one exchange account, over all its symbols; an empty limit is no limit."""

    exchange = models.CharField(max_length=32, unique=True, validators=[validate_exchange_id])
    daily_loss_limit = models.DecimalField(
        **PRICE,
        null=True,
        blank=True,
        validators=[GreaterThanValidator(0, messages.LIMIT_POSITIVE)],
        help_text="When the day's realized PnL net of fees (UTC, settle currency) falls to "
        "minus this much, every entry on the account pauses until the next UTC day; exits run.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "account risk limits"
        verbose_name_plural = "account risk limits"
        constraints = [
            check(
                "trading_accountrisk_limit_positive",
                Q(daily_loss_limit__isnull=True) | Q(daily_loss_limit__gt=0),
                messages.LIMIT_POSITIVE,
            )
        ]

    def __str__(self) -> str:
        return f"{self.exchange} account risk limits"
