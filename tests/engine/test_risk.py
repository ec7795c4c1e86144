"""Risk limits in the engine: an entry they block is an ignored crossing, tiers unfired."""

from __future__ import annotations

import pytest

from tests.engine.test_rules import TIERS, brief, ignored, level, orders, walk
from trading.engine import (
    IGNORED_KILL_SWITCH,
    IGNORED_MAX_LEVELS,
    IGNORED_MAX_NOTIONAL,
    IGNORED_MAX_POSITION,
    LONG,
    SHORT,
    RiskLimits,
    SentimentConfig,
    SymbolEngine,
)

OFF = SentimentConfig(enabled=False)


def engine(*levels, risk=None, sentiment=OFF):
    return SymbolEngine(TIERS, levels or (level(),), sentiment, risk)


def test_max_position_blocks_the_entry_that_would_pass_it_and_leaves_tiers_unfired():
    eng = engine(risk=RiskLimits(max_position=1.0))
    events = walk(eng, 205, 203.5, 201.5, 200.5)  # 0.5, +0.5 = 1.0, then +1.0 would be 2.0
    assert brief(events) == [(SHORT, "open", (1,), 0.5), (SHORT, "add", (2,), 0.5)]
    (skip,) = ignored(events)
    assert (skip.reason, skip.tiers) == (IGNORED_MAX_POSITION, (3,))
    assert "past its maximum position" in skip.describe()
    assert eng.level_state("L").short.fired == (1, 2)
    assert eng.level_state("L").last_trigger_ms == 20_000  # the blocked tier set nothing
    eng.set_risk(RiskLimits(max_position=2.0))
    assert brief(walk(eng, 201.5, 200.5, start=100_000)) == [(SHORT, "add", (3,), 1.0)]


def test_max_position_counts_the_whole_side_across_levels():
    eng = engine(level("A"), level("B", price=199), risk=RiskLimits(max_position=0.5))
    events = walk(eng, 195, 196.5)  # both levels' tier 1 at once: B's would make 1.0
    assert [(o.level_id, o.side, o.size) for o in orders(events)] == [("A", LONG, 0.5)]
    assert [(e.level_id, e.reason) for e in ignored(events)] == [("B", IGNORED_MAX_POSITION)]


def test_max_notional_uses_the_entry_price():
    eng = engine(risk=RiskLimits(max_notional=150.0))  # 0.5 at ~204 is 102; 1.0 would be 202
    events = walk(eng, 205, 203.5, 201.5)
    assert brief(events) == [(SHORT, "open", (1,), 0.5)]
    assert [e.reason for e in ignored(events)] == [IGNORED_MAX_NOTIONAL]


def test_max_levels_keeps_a_new_level_out_while_others_hold():
    eng = engine(level("A"), level("B", price=210), risk=RiskLimits(max_levels=1))
    first = walk(eng, 215, 213)  # B SHORT tier 1 (214.2)
    assert [o.level_id for o in first if getattr(o, "action", None)] == ["B"]
    second = walk(eng, 205, 203.5, start=100_000)  # A SHORT tier 1: A holds nothing yet
    assert [e.reason for e in ignored(second)] == [IGNORED_MAX_LEVELS]
    third = walk(eng, 213, 210.9, start=200_000)  # B may still add: it already holds
    assert [(o[1], o[2]) for o in brief(third)] == [("add", (2, 3))]
    eng.reset_side(SHORT)
    assert brief(walk(eng, 205, 203.5, start=300_000)) == [(SHORT, "open", (1,), 0.5)]


def test_a_fire_that_needs_no_order_is_never_blocked():
    eng = engine(risk=RiskLimits(max_position=1.0))
    eng.run([(0, 197, 0), (10_000, 198.5, 0)])  # started inside tier 1: tier 2 fires, 1.0
    eng.run([(20_000, 195, 0), (30_000, 196.5, 0)])  # tier 1 now: target held, no order
    assert eng.level_state("L").long.fired == (1, 2)


def test_kill_switch_ignores_every_crossing_but_exits_still_run():
    eng = engine(sentiment=SentimentConfig(enabled=True, window_s=60, threshold=0.6))
    eng.run([(0, 205, 0), (10_000, 203.5, 0)])
    eng.halt_entries(IGNORED_KILL_SWITCH)
    events = eng.run([(20_000, 201.5, 0), (20_001, 201.5, 9.0)])
    assert [e.reason for e in ignored(events)] == [IGNORED_KILL_SWITCH]
    assert [(o[0], o[1]) for o in brief(events)] == [(SHORT, "close")]
    eng.halt_entries(None)
    assert brief(eng.run([(90_000, 205, 0), (100_000, 203.5, 0)])) == [(SHORT, "open", (1,), 0.5)]


def test_limits_must_be_positive():
    with pytest.raises(ValueError, match="max_levels must be above 0"):
        RiskLimits(max_levels=0)
