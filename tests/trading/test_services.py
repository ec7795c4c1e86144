from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from tests.factories import SymbolTiersFactory, TierStateFactory, TradeFactory
from trading import messages, services
from trading.models import Level, Side, SymbolTiers, TierState, Trade

pytestmark = pytest.mark.django_db

D = Decimal


def make_level(**overrides: object) -> Level:
    fields: dict[str, object] = {
        "exchange": "bybit",
        "symbol": "ETH/USDT:USDT",
        "level_price": D("2650.5"),
        "base_size": D("0.05"),
        "leverage": 10,
    }
    return services.level_create(**{**fields, **overrides})


def test_level_create_saves_the_level_with_untouched_tier_state_for_both_sides() -> None:
    level = make_level(margin_type="cross", cool_down_ms=2000, note="weekly high")
    level.refresh_from_db()
    assert (level.level_price, level.base_size, level.leverage) == (D("2650.5"), D("0.05"), 10)
    assert (level.margin_type, level.cool_down_ms, level.note) == ("cross", 2000, "weekly high")
    assert level.source == "manual-web"
    assert level.is_active
    assert level.last_trigger_ms is None
    states = {state.side: state for state in level.tier_states.all()}
    assert set(states) == {Side.LONG, Side.SHORT}
    for state in states.values():
        assert (state.fired_tiers, state.filled_size, state.cycle) == ([], 0, 0)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"level_price": D(0)}, "level_price"),
        ({"base_size": D("-0.1")}, "base_size"),
        ({"leverage": 200}, "leverage"),
        ({"margin_type": "portfolio"}, "margin_type"),
        ({"symbol": "ETHUSDT"}, "symbol"),
    ],
)
def test_level_create_refuses_bad_input_and_saves_nothing(
    bad: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        make_level(**bad)
    assert field in refused.value.message_dict
    assert not Level.objects.exists()
    assert not TierState.objects.exists()


def test_level_delete_drops_tier_state_and_keeps_trades() -> None:
    level = make_level()
    kept = make_level(level_price=D(2700))
    trade = TradeFactory.create(level=level)
    level_id = level.pk
    services.level_delete(level=level)
    assert not Level.objects.filter(pk=level_id).exists()
    assert set(TierState.objects.values_list("level_id", flat=True)) == {kept.pk}
    trade.refresh_from_db()
    assert trade.level is None
    assert trade.level_key == str(level_id)
    assert Trade.objects.count() == 1


def test_level_set_active_pauses_and_resumes_keeping_tier_state() -> None:
    level = make_level()
    level.tier_states.filter(side=Side.SHORT).update(fired_tiers=[1], filled_size=D("0.05"))
    services.level_set_active(level=level, is_active=False)
    level.refresh_from_db()
    assert not level.is_active
    services.level_set_active(level=level, is_active=True)
    level.refresh_from_db()
    assert level.is_active
    short = level.tier_states.get(side=Side.SHORT)
    assert (short.fired_tiers, short.filled_size) == ([1], D("0.05"))


def test_level_reset_tier_state_clears_both_sides_and_counts_a_cycle() -> None:
    level = make_level()
    Level.objects.filter(pk=level.pk).update(last_trigger_ms=1_723_161_258_670)
    level.tier_states.filter(side=Side.SHORT).update(
        fired_tiers=[1, 2], filled_size=D("0.1"), cycle=3
    )
    level.tier_states.filter(side=Side.LONG).update(fired_tiers=[1], filled_size=D("0.05"))
    states = services.level_reset_tier_state(level=level)
    assert [(s.side, s.fired_tiers, s.filled_size, s.cycle) for s in states] == [
        (Side.LONG, [], 0, 1),
        (Side.SHORT, [], 0, 4),
    ]
    level.refresh_from_db()
    assert level.last_trigger_ms == 1_723_161_258_670  # the cooldown outlives a reset


def test_level_reset_tier_state_creates_a_missing_side() -> None:
    state = TierStateFactory.create(side=Side.LONG, fired_tiers=[1, 2, 3], filled_size=D(1))
    states = services.level_reset_tier_state(level=state.level)
    assert [(s.side, s.fired_tiers, s.cycle) for s in states] == [
        (Side.LONG, [], 1),
        (Side.SHORT, [], 1),
    ]


def test_level_reset_tier_state_leaves_other_levels_alone() -> None:
    level, other = make_level(), make_level(level_price=D(2700))
    other.tier_states.update(fired_tiers=[1], filled_size=D("0.05"))
    services.level_reset_tier_state(level=level)
    assert {(s.fired_tiers[0], s.cycle) for s in other.tier_states.all()} == {(1, 0)}


def test_symbol_tiers_set_creates_then_changes_the_one_row() -> None:
    created = services.symbol_tiers_set(
        exchange="bybit",
        symbol="ETH/USDT:USDT",
        tier1_pct=D("0.006"),
        tier2_pct=D("0.004"),
        tier3_pct=D("0.002"),
    )
    changed = services.symbol_tiers_set(
        exchange="bybit",
        symbol="ETH/USDT:USDT",
        tier1_pct=D("0.005"),
        tier2_pct=D("0.003"),
        tier3_pct=D("0.0015"),
    )
    assert changed.pk == created.pk
    row = SymbolTiers.objects.get()
    assert (row.tier1_pct, row.tier2_pct, row.tier3_pct) == (D("0.005"), D("0.003"), D("0.0015"))


def test_symbol_tiers_set_refuses_tiers_out_of_order_and_keeps_the_old_ones() -> None:
    SymbolTiersFactory.create(exchange="bybit", symbol="ETH/USDT:USDT")
    with pytest.raises(ValidationError) as refused:
        services.symbol_tiers_set(
            exchange="bybit",
            symbol="ETH/USDT:USDT",
            tier1_pct=D("0.002"),
            tier2_pct=D("0.003"),
            tier3_pct=D("0.001"),
        )
    assert refused.value.message_dict == {"tier1_pct": [messages.TIER1_FARTHER]}
    row = SymbolTiers.objects.get()
    assert (row.tier1_pct, row.tier2_pct, row.tier3_pct) == (D("0.005"), D("0.003"), D("0.0015"))


def test_symbol_tiers_of_one_symbol_do_not_touch_another() -> None:
    SymbolTiersFactory.create()
    services.symbol_tiers_set(
        exchange="bybit",
        symbol="BTC/USDT:USDT",
        tier1_pct=D("0.01"),
        tier2_pct=D("0.005"),
        tier3_pct=D("0.001"),
    )
    binance = SymbolTiers.objects.get(exchange="binanceusdm")
    assert binance.tier1_pct == D("0.005")
    assert SymbolTiers.objects.count() == 2


def test_services_log_what_they_changed_once_committed(
    caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    with (
        caplog.at_level("INFO", logger="trading.services"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        level = make_level()
        level_id = level.pk
        services.level_set_active(level=level, is_active=False)
        services.level_delete(level=level)
    assert [record.getMessage() for record in caplog.records] == [
        f"level added: bybit ETH/USDT:USDT @ 2650.5 (id {level_id})",
        f"level paused: bybit ETH/USDT:USDT @ 2650.5 (id {level_id})",
        f"level removed: bybit ETH/USDT:USDT @ 2650.5 (id {level_id})",
    ]
