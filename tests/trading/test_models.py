from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from tests.factories import (
    BotSessionFactory,
    BotSettingsFactory,
    LevelFactory,
    SymbolTiersFactory,
    TierStateFactory,
    TradeFactory,
)
from trading import messages
from trading.models import BotSettings, Level, Side, SymbolRisk, SymbolTiers, TierState, Trade
from trading.validators import TIER_LIST_MESSAGE

pytestmark = pytest.mark.django_db

D = Decimal
CHOICE = "is not a valid choice"

# factory, bad fields, constraint (None: Django's own PositiveIntegerField check), field, message
REFUSED: list[tuple[Any, dict[str, Any], str | None, str, str]] = [
    (LevelFactory, {"level_price": D(0)}, "trading_level_price_positive", "level_price",
     messages.LEVEL_PRICE_POSITIVE),
    (LevelFactory, {"level_price": D(-1)}, "trading_level_price_positive", "level_price",
     messages.LEVEL_PRICE_POSITIVE),
    (LevelFactory, {"base_size": D(0)}, "trading_level_base_size_positive", "base_size",
     messages.BASE_SIZE_POSITIVE),
    (LevelFactory, {"leverage": 0}, "trading_level_leverage_range", "leverage",
     messages.LEVERAGE_RANGE),
    (LevelFactory, {"leverage": 126}, "trading_level_leverage_range", "leverage",
     messages.LEVERAGE_RANGE),
    (LevelFactory, {"cool_down_ms": -1}, None, "cool_down_ms", messages.COOL_DOWN_NOT_NEGATIVE),
    (LevelFactory, {"margin_type": "hedge"}, "trading_level_margin_type_valid", "margin_type",
     CHOICE),
    (SymbolTiersFactory, {"tier1_pct": D("0.003")}, "trading_tiers_1_beyond_2", "tier1_pct",
     messages.TIER1_FARTHER),
    (SymbolTiersFactory, {"tier3_pct": D("0.003")}, "trading_tiers_2_beyond_3", "tier2_pct",
     messages.TIER2_FARTHER),
    (SymbolTiersFactory, {"tier3_pct": D(0)}, "trading_tiers_3_positive", "tier3_pct",
     messages.TIER3_POSITIVE),
    (SymbolTiersFactory, {"tier1_pct": D(1)}, "trading_tiers_1_below_one", "tier1_pct",
     "Tier 1 must be below 1 (1 is 100%)."),
    (TierStateFactory, {"side": "UP"}, "trading_tierstate_side_valid", "side", CHOICE),
    (TierStateFactory, {"fired_tiers": [2, 1]}, "trading_tierstate_fired_tiers_valid",
     "fired_tiers", TIER_LIST_MESSAGE),
    (TierStateFactory, {"fired_tiers": [4]}, "trading_tierstate_fired_tiers_valid",
     "fired_tiers", TIER_LIST_MESSAGE),
    (TierStateFactory, {"filled_size": D(-1)}, "trading_tierstate_filled_not_negative",
     "filled_size", messages.FILLED_SIZE_NOT_NEGATIVE),
    (TradeFactory, {"size": D(0)}, "trading_trade_size_positive", "size",
     messages.TRADE_SIZE_POSITIVE),
    (TradeFactory, {"price": D(0)}, "trading_trade_price_positive", "price",
     messages.TRADE_PRICE_POSITIVE),
    (TradeFactory, {"side": "FLAT"}, "trading_trade_side_valid", "side", CHOICE),
    (TradeFactory, {"action": "flip"}, "trading_trade_action_valid", "action", CHOICE),
    (TradeFactory, {"reason": "hunch"}, "trading_trade_reason_valid", "reason", CHOICE),
    (TradeFactory, {"status": "lost"}, "trading_trade_status_valid", "status", CHOICE),
    (TradeFactory, {"tiers": [3, 3]}, "trading_trade_tiers_valid", "tiers", TIER_LIST_MESSAGE),
    (TradeFactory, {"client_order_id": ""}, "trading_trade_client_order_id_present",
     "client_order_id", "cannot be blank"),
    (TradeFactory, {"level_key": ""}, "trading_trade_entry_names_level", "level_key",
     messages.TRADE_NEEDS_LEVEL_KEY),
    (BotSettingsFactory, {"id": 2}, "trading_botsettings_single_row", NON_FIELD_ERRORS,
     messages.SETTINGS_SINGLE_ROW),
    (BotSettingsFactory, {"levels_reload_ms": 99}, "trading_botsettings_reload_min",
     "levels_reload_ms", messages.RELOAD_AT_LEAST_100),
    (BotSettingsFactory, {"sentiment_window_s": 0}, "trading_botsettings_window_min",
     "sentiment_window_s", messages.WINDOW_AT_LEAST_1),
    (BotSettingsFactory, {"sentiment_threshold": D(1)}, "trading_botsettings_threshold_range",
     "sentiment_threshold", messages.THRESHOLD_RANGE),
    (BotSettingsFactory, {"sentiment_threshold": D("-0.1")},
     "trading_botsettings_threshold_range", "sentiment_threshold", messages.THRESHOLD_RANGE),
    (BotSettingsFactory, {"heartbeat_timeout_s": 0}, "trading_botsettings_heartbeat_min",
     "heartbeat_timeout_s", messages.HEARTBEAT_AT_LEAST_1),
    (BotSettingsFactory, {"paper_fee_rate": D("0.1")}, "trading_botsettings_fee_rate_range",
     "paper_fee_rate", "The paper fee rate must be at least 0 and below 0.1 (10%)."),
    (BotSettingsFactory, {"paper_fee_rate": D("-0.0001")},
     "trading_botsettings_fee_rate_range", "paper_fee_rate",
     "The paper fee rate must be at least 0 and below 0.1 (10%)."),
    (BotSettingsFactory, {"paper_slippage_bps": D(-1)},
     "trading_botsettings_slippage_not_negative", "paper_slippage_bps",
     messages.SLIPPAGE_NOT_NEGATIVE),
]  # fmt: skip


def case_id(case: tuple[Any, dict[str, Any], str | None, str, str]) -> str:
    factory, bad = case[0], case[1]
    return f"{factory._meta.model.__name__}-" + "-".join(f"{k}={v}" for k, v in bad.items())


@pytest.mark.parametrize(("factory", "bad", "constraint", "field", "message"), REFUSED, ids=[
    case_id(case) for case in REFUSED
])  # fmt: skip
def test_database_refuses_a_row_that_breaks_a_rule(
    factory: Any, bad: dict[str, Any], constraint: str | None, field: str, message: str
) -> None:
    model = factory._meta.model
    before = model.objects.count()
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        factory.create(**bad)
    if constraint is not None:
        assert constraint in str(refused.value)
    assert model.objects.count() == before


@pytest.mark.parametrize(("factory", "bad", "constraint", "field", "message"), REFUSED, ids=[
    case_id(case) for case in REFUSED
])  # fmt: skip
def test_full_clean_puts_the_plain_message_on_the_field(
    factory: Any, bad: dict[str, Any], constraint: str | None, field: str, message: str
) -> None:
    row = factory.build(**bad)
    if isinstance(row, TierState | Trade):
        row.level = LevelFactory.create()
        row.level_key = bad.get("level_key", str(row.level.pk))
    with pytest.raises(ValidationError) as refused:
        row.full_clean()
    errors = refused.value.message_dict
    assert list(errors) == [field]
    assert len(errors[field]) == 1
    assert message in errors[field][0]


def test_a_valid_row_of_each_model_passes_full_clean() -> None:
    level = LevelFactory.create()
    rows = [
        level,
        SymbolTiersFactory.create(),
        TierStateFactory.create(level=level, fired_tiers=[1, 3], filled_size=D("0.004")),
        TradeFactory.create(level=level),
        TradeFactory.create(level=None, level_key="", action="close", tiers=[], price=None),
        BotSessionFactory.create(),
        BotSettings.load(),
    ]
    for row in rows:
        row.full_clean()


def test_symbol_tiers_are_unique_per_exchange_and_symbol() -> None:
    SymbolTiersFactory.create()
    duplicate = SymbolTiers(
        exchange="binanceusdm",
        symbol="BTC/USDT:USDT",
        tier1_pct=D("0.01"),
        tier2_pct=D("0.005"),
        tier3_pct=D("0.001"),
    )
    with pytest.raises(ValidationError) as refused:
        duplicate.full_clean()
    assert "already have tiers" in refused.value.message_dict[NON_FIELD_ERRORS][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    assert SymbolTiers.objects.count() == 1
    SymbolTiersFactory.create(exchange="bybit")  # the same symbol on another exchange is fine
    assert SymbolTiers.objects.count() == 2


def test_tier_state_is_unique_per_level_and_side() -> None:
    state = TierStateFactory.create(side=Side.LONG)
    with pytest.raises(IntegrityError), transaction.atomic():
        TierStateFactory.create(level=state.level, side=Side.LONG)
    TierStateFactory.create(level=state.level, side=Side.SHORT)
    assert TierState.objects.filter(level=state.level).count() == 2


def test_deleting_a_level_deletes_its_tier_state() -> None:
    state = TierStateFactory.create(fired_tiers=[1])
    other = TierStateFactory.create()
    state.level.delete()
    assert list(TierState.objects.all()) == [other]


def test_a_trade_outlives_its_level_and_keeps_the_level_key() -> None:
    trade = TradeFactory.create()
    level_id = trade.level.pk
    trade.level.delete()
    trade.refresh_from_db()
    assert trade.level is None
    assert trade.level_key == str(level_id)


def test_bot_settings_is_a_single_row() -> None:
    first = BotSettings.load()
    first.levels_reload_ms = 2500
    first.save()
    again = BotSettings.load()
    assert again.pk == 1
    assert again.levels_reload_ms == 2500
    assert BotSettings.objects.count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        BotSettings.objects.create(id=2)
    assert BotSettings.objects.count() == 1


def test_bot_settings_defaults_match_the_design() -> None:
    defaults = BotSettings.load()
    assert defaults.levels_reload_ms == 5000
    assert defaults.sentiment_enabled is True
    assert defaults.sentiment_window_s == 60
    assert defaults.sentiment_threshold == D("0.6")
    assert defaults.paper_fee_rate == D("0.00055")


def test_client_order_id_has_letters_and_digits_only() -> None:
    trade = TradeFactory.build(level=LevelFactory.create(), level_key="1", client_order_id="a-1")
    with pytest.raises(ValidationError) as refused:
        trade.full_clean()
    assert refused.value.message_dict == {
        "client_order_id": ["A client order id has letters and digits only."]
    }


@pytest.mark.parametrize("symbol", ["BTCUSDT", "BTC/USDT", "BTC/USDT:USDT "])
def test_level_symbol_must_be_unified(symbol: str) -> None:
    with pytest.raises(ValidationError) as refused:
        LevelFactory.build(symbol=symbol).full_clean()
    assert "such as BTC/USDT:USDT" in refused.value.message_dict["symbol"][0]


def test_level_reads_as_exchange_symbol_and_price() -> None:
    level = LevelFactory.create(level_price=D("62750"))
    level.refresh_from_db()
    assert str(level) == "binanceusdm BTC/USDT:USDT @ 62750"
    assert str(LevelFactory.build(level_price=D("0.5"))) == "binanceusdm BTC/USDT:USDT @ 0.5"


def test_bot_session_is_alive_only_while_its_heartbeat_is_fresh() -> None:
    now = timezone.now()
    fresh = BotSessionFactory.build(heartbeat_at=now - timedelta(seconds=3))
    stale = BotSessionFactory.build(heartbeat_at=now - timedelta(seconds=11))
    stopped = BotSessionFactory.build(heartbeat_at=now, stopped_at=now)
    starting = BotSessionFactory.build(started_at=now, heartbeat_at=None)
    assert fresh.is_alive(10, now=now)
    assert not stale.is_alive(10, now=now)
    assert not stopped.is_alive(10, now=now)
    assert starting.is_alive(10, now=now)


def test_levels_list_in_a_stable_order() -> None:
    high = LevelFactory.create(level_price=D(65000))
    low = LevelFactory.create(level_price=D(60000))
    eth = LevelFactory.create(exchange="bybit", symbol="ETH/USDT:USDT", level_price=D(2650))
    assert list(Level.objects.all()) == [low, high, eth]


@pytest.mark.django_db
def test_symbol_risk_limits_must_be_positive_or_empty() -> None:
    row = SymbolRisk(exchange="bybit", symbol="ETH/USDT:USDT", max_position=Decimal("0"))
    with pytest.raises(ValidationError) as info:
        row.full_clean()
    assert "A limit must be above 0" in str(info.value.message_dict["max_position"])
    with pytest.raises(IntegrityError), transaction.atomic():
        row.save()
    assert not SymbolRisk.objects.exists()
    SymbolRisk.objects.create(exchange="bybit", symbol="ETH/USDT:USDT", max_levels=3)
    assert SymbolRisk.objects.get().to_engine().max_levels == 3
