"""One or more tests per trading rule of DESIGN section 3, named after the rule they pin.

The fixture level sits at 200 with tiers 2% / 1% / 0.5%: SHORT boundaries 204 / 202 / 201,
LONG boundaries 196 / 198 / 199; base size 0.5; cooldown 5 s.
"""

from __future__ import annotations

import pytest

from trading.engine import (
    IGNORED_ALREADY_FIRED,
    IGNORED_COOLDOWN,
    IGNORED_PAUSED,
    IGNORED_SENTIMENT,
    LONG,
    SHORT,
    IgnoredCrossing,
    LevelConfig,
    LevelState,
    OrderIntent,
    SentimentConfig,
    SideState,
    SymbolEngine,
    TierFire,
    Tiers,
)

TIERS = Tiers("0.02", "0.01", "0.005")
OFF = SentimentConfig(enabled=False)


def make_engine(*levels: LevelConfig, sentiment: SentimentConfig = OFF) -> SymbolEngine:
    return SymbolEngine(TIERS, levels or (level(),), sentiment)


def level(level_id: str = "L", price: float = 200, base: float = 0.5, cool: int = 5000, **kw: bool):
    return LevelConfig(level_id, price, base, cool, **kw)


def walk(engine: SymbolEngine, *prices: float, start: int = 0, step: int = 10_000) -> list:
    """Feed prices as quote ticks 10 s apart (beyond the cooldown) and return the events."""
    return engine.run((start + i * step, p, 0.0) for i, p in enumerate(prices))


def orders(events: list) -> list[OrderIntent]:
    return [e for e in events if isinstance(e, OrderIntent)]


def ignored(events: list) -> list[IgnoredCrossing]:
    return [e for e in events if isinstance(e, IgnoredCrossing)]


def brief(events: list) -> list[tuple]:
    return [(o.side, o.action, o.tiers, o.size) for o in orders(events)]


# Rule 1 - side -----------------------------------------------------------------------------


def test_rule1_price_above_level_trades_short():
    assert brief(walk(make_engine(), 205, 203.9)) == [(SHORT, "open", (1,), 0.5)]


def test_rule1_price_below_level_trades_long():
    assert brief(walk(make_engine(), 195, 196.1)) == [(LONG, "open", (1,), 0.5)]


def test_rule1_touch_at_level_is_no_entry():
    engine = make_engine()
    assert walk(engine, 201.5, 200) == []  # 201 is passed, but at the level there is no side
    assert engine.prev == 200
    assert brief(walk(engine, 198.5, start=100_000)) == []  # moving away from a touch


# Rule 2 - boundaries -----------------------------------------------------------------------


def test_rule2_boundaries_are_level_times_one_plus_or_minus_tier():
    config = level(price=62750)
    assert config.boundary(SHORT, TIERS.tier1_pct) == 62750 * 1.02
    assert config.boundary(LONG, TIERS.tier3_pct) == pytest.approx(62750 * 0.995)


def test_rule2_boundary_is_exact_in_decimal():
    # 200 * (1 - 0.005) is 198.99999999999997 in naive floats; the rule says 199.
    assert level().boundary(LONG, TIERS.tier3_pct) == 199.0
    assert LevelConfig("x", 63870.3, 1, 0).boundary(
        SHORT, Tiers(0.0008, 0.0005, 0.0002).tier1_pct
    ) == (63921.39624)


# Rule 3 - crossing -------------------------------------------------------------------------


def test_rule3_first_tick_has_no_prev_and_crosses_nothing():
    engine = make_engine()
    assert walk(engine, 201.5) == []  # already inside tiers 1 and 2: never chased
    assert brief(walk(engine, 200.9, start=100_000)) == [(SHORT, "open", (3,), 2.0)]


def test_rule3_moving_away_from_the_level_crosses_nothing():
    assert walk(make_engine(), 199.5, 198.5, 197, 195, 190) == []
    assert walk(make_engine(), 200.5, 201.5, 203, 205, 210) == []


def test_rule3_tick_exactly_on_boundary_crosses_it():
    assert brief(walk(make_engine(), 205, 204)) == [(SHORT, "open", (1,), 0.5)]
    assert brief(walk(make_engine(), 195, 199)) == [(LONG, "open", (1, 2, 3), 2.0)]


def test_rule3_leaving_a_boundary_it_sits_on_crosses_nothing():
    engine = make_engine()
    walk(engine, 205, 204)  # fires tier 1 on the boundary
    assert walk(engine, 204.5, start=100_000) == []
    # back onto the boundary from above is a crossing again, ignored as already fired
    assert [e.reason for e in ignored(walk(engine, 204, start=200_000))] == [IGNORED_ALREADY_FIRED]


def test_rule3_jump_through_level_crosses_no_tier_of_the_side_it_left():
    engine = make_engine()
    assert walk(engine, 205, 195) == []  # SHORT boundaries passed, but the price is below L
    assert walk(engine, 205, start=100_000) == []  # LONG boundaries passed going up, above L


def test_rule3_long_and_short_paths_mirror():
    up = brief(walk(make_engine(), 195, 196.5, 198.5, 199.5))
    down = brief(walk(make_engine(), 205, 203.5, 201.5, 200.5))
    assert [o[2:] for o in up] == [o[2:] for o in down] == [((1,), 0.5), ((2,), 0.5), ((3,), 1.0)]


# Rule 4 - one fire per tier ----------------------------------------------------------------


def test_rule4_tier_fires_once_until_reset():
    engine = make_engine()
    first = walk(engine, 205, 203.5, 205, 203.5, 205, 203.5)
    assert brief(first) == [(SHORT, "open", (1,), 0.5)]
    assert [e.reason for e in ignored(first)] == [IGNORED_ALREADY_FIRED] * 2
    engine.reset_side(SHORT)
    assert brief(walk(engine, 205, 203.5, start=100_000)) == [(SHORT, "open", (1,), 0.5)]


def test_rule4_state_is_per_level_and_side():
    engine = make_engine()
    walk(engine, 205, 203.5)
    assert brief(walk(engine, 195, 196.5, start=100_000)) == [(LONG, "open", (1,), 0.5)]
    assert engine.level_state("L").short.fired == (1,)
    assert engine.level_state("L").long.fired == (1,)


# Rule 5 - several at once ------------------------------------------------------------------


def test_rule5_tiers_crossed_together_fire_as_one_order():
    events = walk(make_engine(), 205, 201.5)
    assert brief(events) == [(SHORT, "open", (1, 2), 1.0)]
    assert [type(e) for e in events] == [TierFire, OrderIntent]


def test_rule5_all_three_at_once_take_the_full_4x():
    assert brief(walk(make_engine(), 195, 199.5)) == [(LONG, "open", (1, 2, 3), 2.0)]


# Rule 6 - cooldown -------------------------------------------------------------------------


def test_rule6_crossing_inside_cooldown_is_ignored_with_time_left():
    engine = make_engine()
    events = engine.run([(0, 205, 0), (1000, 203.5, 0), (2000, 201.5, 0)])
    (skip,) = ignored(events)
    assert (skip.reason, skip.tiers, skip.cooldown_left_ms) == (IGNORED_COOLDOWN, (2,), 4000)
    assert "4000 ms left" in skip.describe()


def test_rule6_ignored_tier_stays_unfired_and_fires_on_a_later_crossing():
    engine = make_engine()
    engine.run([(0, 205, 0), (1000, 203.5, 0), (2000, 201.5, 0), (3000, 202.5, 0)])
    assert engine.level_state("L").short.fired == (1,)
    assert brief(engine.run([(6000, 201.5, 0)])) == [(SHORT, "add", (2,), 0.5)]


def test_rule6_cooldown_ends_exactly_at_cool_down_ms():
    engine = make_engine()
    engine.run([(0, 205, 0), (1000, 203.5, 0), (5999, 203, 0)])
    assert orders(engine.run([(6000, 201.5, 0)]))  # 6000 - 1000 == 5000: not < 5000


def test_rule6_cooldown_is_shared_by_both_sides_of_a_level():
    engine = make_engine()
    events = engine.run([(0, 205, 0), (1000, 203.5, 0), (2000, 195, 0), (3000, 196.5, 0)])
    assert [(e.side, e.reason) for e in ignored(events)] == [(LONG, IGNORED_COOLDOWN)]


def test_rule6_cooldown_is_per_level():
    engine = make_engine(level("A"), level("B", price=202))  # B SHORT: 206.04 / 204.02 / 203.01
    events = engine.run([(0, 207, 0), (1000, 205, 0), (2000, 203.5, 0)])
    assert [(o.level_id, o.tiers) for o in orders(events)] == [("B", (1,)), ("A", (1,))]
    assert [(e.level_id, e.tiers, e.reason) for e in ignored(events)] == [
        ("B", (2,), IGNORED_COOLDOWN)
    ]


def test_rule6_same_millisecond_is_a_later_tick():
    engine = make_engine(level(cool=0))
    assert len(orders(engine.run([(0, 205, 0), (0, 203.5, 0), (0, 201.5, 0)]))) == 2


# Rule 7 - sizing ---------------------------------------------------------------------------


def test_rule7_doubling_sequence_is_1x_1x_2x():
    events = walk(make_engine(), 205, 203.5, 201.5, 200.5)
    assert brief(events) == [
        (SHORT, "open", (1,), 0.5),
        (SHORT, "add", (2,), 0.5),
        (SHORT, "add", (3,), 1.0),
    ]


def test_rule7_skipped_tier_is_caught_up_by_the_next():
    engine = make_engine()
    engine.run([(0, 195, 0), (1000, 196.5, 0), (2000, 198.5, 0)])  # tier 2 in the cooldown
    assert brief(engine.run([(3000, 199.5, 0)])) == []  # still in the cooldown
    events = engine.run([(9000, 198.9, 0), (10_000, 199.5, 0)])
    assert brief(events) == [(LONG, "add", (3,), 1.5)]  # target 4x from 1x held
    assert engine.level_state("L").long.fired == (1, 3)


def test_rule7_late_tier1_after_tier2_holds_target_and_sets_trigger():
    engine = make_engine()
    engine.run([(0, 197, 0), (10_000, 198.5, 0)])  # started inside tier 1: tier 2 fires, 2x
    assert engine.position[LONG] == 1.0
    events = engine.run([(20_000, 195, 0), (30_000, 196.5, 0)])  # now tier 1 crosses
    (fire,) = events
    assert isinstance(fire, TierFire) and fire.tiers == (1,) and fire.size == 0.0
    assert engine.level_state("L").last_trigger_ms == 30_000
    assert engine.position[LONG] == 1.0


def test_rule7_orders_never_close_and_reopen():
    events = walk(make_engine(), 205, 203.5, 201.5, 200.5, 195, 196.5)
    assert {o.action for o in orders(events)} <= {"open", "add"}


# Rule 8 - sentiment ------------------------------------------------------------------------

ON = SentimentConfig(enabled=True, window_s=60, threshold=0.6)


def test_rule8_flow_exactly_at_threshold_is_not_beyond_it():
    engine = make_engine(sentiment=ON)
    engine.run([(0, 205, 0.8), (1, 205, -0.2)])  # S = 0.6 exactly: SHORT entries allowed
    assert engine.sentiment() == pytest.approx(0.6)
    assert brief(engine.run([(2, 203.5, 0)])) == [(SHORT, "open", (1,), 0.5)]


def test_rule8_long_entry_blocked_by_strong_selling():
    engine = make_engine(sentiment=ON)
    events = engine.run([(0, 195, -1.0), (1000, 196.5, 0.1)])
    (skip,) = ignored(events)
    assert skip.reason == IGNORED_SENTIMENT and skip.sentiment == pytest.approx(-0.9 / 1.1)
    assert engine.level_state("L").long.fired == ()


def test_rule8_short_entry_blocked_by_strong_buying():
    engine = make_engine(sentiment=ON)
    events = engine.run([(0, 205, 1.0), (1000, 203.5, 0)])
    assert [e.reason for e in ignored(events)] == [IGNORED_SENTIMENT]


def test_rule8_window_holds_trades_in_now_minus_window_to_now():
    engine = make_engine(sentiment=ON)
    engine.run([(0, 195, -1.0)])
    assert engine.sentiment() == -1.0
    engine.run([(59_999, 195, 0)])
    assert engine.sentiment() == -1.0
    engine.run([(60_000, 195, 0)])  # ts 0 is not > 60000 - 60000: evicted
    assert engine.sentiment() == 0.0
    assert brief(engine.run([(60_001, 196.5, 0)])) == [(LONG, "open", (1,), 0.5)]


def test_rule8_exit_closes_the_whole_side_summed_over_levels():
    engine = make_engine(level("A"), level("B", price=199), sentiment=ON)
    engine.run([(0, 195, 0), (10_000, 196.5, 0)])  # A tier 1 (196), B tier 1 (195.02)
    assert engine.position[LONG] == 1.0
    (close,) = orders(engine.run([(20_000, 196, -5.0)]))
    assert (close.level_id, close.side, close.action, close.tiers, close.size, close.reason) == (
        None,
        LONG,
        "close",
        (),
        1.0,
        "sentiment_exit",
    )
    assert engine.position[LONG] == 0.0
    assert engine.level_state("A").long == SideState(fired=(), filled=0.0, cycle=1)


def test_rule8_exit_ignores_cooldown_and_keeps_last_trigger():
    engine = make_engine(sentiment=ON)
    engine.run([(0, 205, 0), (1000, 203.5, 0)])
    assert orders(engine.run([(1001, 203.5, 10.0)]))[0].action == "close"
    assert engine.level_state("L").last_trigger_ms == 1000


def test_rule8_exit_needs_a_position():
    engine = make_engine(sentiment=ON)
    assert engine.run([(0, 205, 10.0), (1, 205, 10.0)]) == []


def test_rule8_disabled_turns_off_filter_and_exit():
    engine = make_engine(sentiment=SentimentConfig(enabled=False))
    events = engine.run([(0, 205, 10.0), (1000, 203.5, 10.0), (2000, 203.4, 10.0)])
    assert brief(events) == [(SHORT, "open", (1,), 0.5)]


def test_rule8_threshold_and_window_are_settings():
    engine = make_engine(sentiment=SentimentConfig(enabled=True, window_s=1, threshold=0.9))
    engine.run([(0, 205, 0.85), (1, 205, -0.1)])  # S = 0.79 < 0.9
    assert orders(engine.run([(2, 203.5, 0)]))
    assert engine.run([(1001, 204, 0)]) == [] and engine.sentiment() == 0.0


# Rule 9 - reset ----------------------------------------------------------------------------


def test_rule9_closing_a_side_resets_every_level_on_that_side_only():
    engine = make_engine(level("A"), level("B", price=199))
    engine.run([(0, 206, 0), (10_000, 203.5, 0), (20_000, 195, 0), (30_000, 196.5, 0)])
    engine.reset_side(LONG)
    assert engine.level_state("A").long.fired == () and engine.level_state("B").long.fired == ()
    assert engine.level_state("A").short.fired == (1,)
    assert engine.position == {LONG: 0.0, SHORT: 0.5}


def test_rule9_reset_keeps_last_trigger_so_the_cooldown_holds():
    engine = make_engine()
    engine.run([(0, 205, 0), (1000, 203.5, 0)])
    engine.reset_side(SHORT)
    events = engine.run([(2000, 205, 0), (3000, 203.5, 0)])
    assert [e.reason for e in ignored(events)] == [IGNORED_COOLDOWN]


def test_rule9_position_found_closed_on_the_exchange_resets():
    engine = make_engine()
    walk(engine, 205, 203.5)
    engine.set_position(SHORT, 0)
    assert engine.level_state("L").short == SideState(fired=(), filled=0.0, cycle=1)
    assert brief(walk(engine, 205, 203.5, start=100_000)) == [(SHORT, "open", (1,), 0.5)]


def test_rule9_each_reset_starts_a_new_cycle_for_order_ids():
    engine = make_engine(sentiment=ON)
    first = orders(engine.run([(0, 205, 0), (10_000, 203.5, 0)]))
    close = orders(engine.run([(10_001, 203.5, 5.0)]))
    again = orders(engine.run([(80_000, 205, 0), (90_000, 203.5, 0)]))
    assert [o.cycle for o in first + close + again] == [0, 0, 1]
    assert engine.close_cycle[SHORT] == 1


# Rule 10 - order of work -------------------------------------------------------------------


def test_rule10_sentiment_then_exits_then_entries_in_level_order():
    engine = make_engine(level("B", price=199.9), level("A"), sentiment=ON)
    engine.run([(0, 195, 0), (10_000, 196.5, 0), (20_000, 205, 0)])
    events = engine.run([(30_000, 202.5, -3.0)])  # the sell empties LONG, then SHORT tiers
    assert [(o.level_id, o.side, o.action) for o in orders(events)] == [
        (None, LONG, "close"),
        ("B", SHORT, "open"),
        ("A", SHORT, "open"),
    ]


# Rule 11 - deleting ------------------------------------------------------------------------


def test_rule11_deleting_a_level_drops_its_state_but_not_the_position():
    engine = make_engine(level("A"), level("B", price=199))
    walk(engine, 195, 196.5)
    engine.set_levels([level("B", price=199)])
    assert engine.level_ids == ["B"] and engine.position[LONG] == 1.0
    engine.set_levels([level("B", price=199), level("A")])  # re-created: a fresh state
    assert engine.level_state("A") == LevelState()


# Around the rules ---------------------------------------------------------------------------


def test_paused_level_ignores_crossings_and_resumes_with_tiers_unfired():
    engine = make_engine(level(is_active=False))
    events = walk(engine, 205, 203.5)
    assert [e.reason for e in ignored(events)] == [IGNORED_PAUSED]
    engine.set_levels([level()])
    assert brief(walk(engine, 205, 203.5, start=100_000)) == [(SHORT, "open", (1,), 0.5)]


def test_stale_feed_forgets_prev():
    engine = make_engine()
    walk(engine, 205)
    engine.mark_stale()
    assert walk(engine, 203.5, start=100_000) == []


def test_changed_tiers_apply_at_once_and_keep_fired_tiers():
    engine = make_engine()
    walk(engine, 205, 203.5)
    engine.set_tiers(Tiers("0.03", "0.02", "0.01"))  # SHORT 206 / 204 / 202
    events = walk(engine, 205, 203.5, start=100_000)
    assert brief(events) == [(SHORT, "add", (2,), 0.5)]


def test_restored_state_resumes_without_firing_again():
    engine = make_engine()
    walk(engine, 205, 201.5)
    saved = engine.level_state("L")
    fresh = make_engine()
    fresh.restore("L", saved)
    fresh.set_position(SHORT, 1.0)
    events = walk(fresh, 205, 201.5, 200.5, start=100_000)
    assert brief(events) == [(SHORT, "add", (3,), 1.0)]


def test_quiet_ticks_do_not_look_at_levels(monkeypatch):
    levels = [level(str(i), price=100 + i) for i in range(1000)]
    engine = SymbolEngine(TIERS, levels, OFF)
    engine.run([(0, 1500.0, 0.0)])
    calls = []
    monkeypatch.setattr(engine, "_step", lambda *a: calls.append(a))
    engine.run((i, 1500.0 + (i % 7) * 0.01, 0.0) for i in range(1, 10_000))
    assert calls == []


def test_non_prices_are_dropped_without_changing_state():
    engine = make_engine()
    walk(engine, 205)
    assert engine.run([(1, float("nan"), 0), (2, -1.0, 0), (3, float("inf"), 0)]) == []
    assert engine.prev == 205


def test_bad_configuration_is_refused_with_a_sentence():
    with pytest.raises(ValueError, match="tier 1 must be farther from the level than tier 2"):
        Tiers(0.003, 0.003, 0.001)
    with pytest.raises(ValueError, match="tier 3 must be above 0"):
        Tiers(0.003, 0.002, 0)
    with pytest.raises(ValueError, match="level_price must be above 0"):
        LevelConfig("x", 0, 1, 0)
    with pytest.raises(ValueError, match="listed twice"):
        make_engine(level(), level())
