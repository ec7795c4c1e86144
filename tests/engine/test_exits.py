"""Optional exits of a held side: stop-loss, take-profit, level touch (trading/engine/exits.py).

The fixture level sits at 200 with tiers 2% / 1% / 0.5%: LONG boundaries 196 / 198 / 199 (a
rising price crosses them), SHORT boundaries 204 / 202 / 201 (a falling price crosses them);
base size 0.5; cooldown 5 s. Ticks are 10 s apart unless a test says otherwise.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.test_properties import as_tuples
from tests.engine.test_rules import TIERS, brief, orders, walk
from trading.engine import (
    LONG,
    REASON_LEVEL_TOUCH,
    REASON_STOP_LOSS,
    REASON_TAKE_PROFIT,
    REASON_TIER,
    SHORT,
    LevelConfig,
    SentimentConfig,
    SymbolEngine,
)
from trading.engine.exits import SideExits, side_exits

OFF = SentimentConfig(enabled=False)


def engine_with(**exits) -> SymbolEngine:
    return SymbolEngine(TIERS, [LevelConfig("L", 200, 0.5, 5000, **exits)], OFF)


def closes(events) -> list[tuple]:
    return [(o.side, o.size, o.price, o.reason) for o in orders(events) if o.action == "close"]


def test_long_take_profit_closes_the_side_at_its_fraction_above_the_average_entry():
    engine = engine_with(take_profit_pct="0.005")
    events = walk(engine, 195, 196.5)  # tier 1 fills at 196.5: take profit at 197.4825
    assert brief(events) == [(LONG, "open", (1,), 0.5)]
    assert engine.entry[LONG] == 196.5
    assert closes(walk(engine, 197.48, start=30_000)) == []
    assert closes(walk(engine, 197.5, start=40_000)) == [(LONG, 0.5, 197.5, REASON_TAKE_PROFIT)]
    assert engine.position[LONG] == 0 and engine.level_state("L").long.fired == ()


def test_long_stop_loss_closes_below_the_average_entry_and_resets_the_side():
    engine = engine_with(stop_loss_pct="0.01")
    walk(engine, 195, 196.5)  # stop at 196.5 * 0.99 = 194.535
    assert closes(walk(engine, 195, start=30_000)) == []
    assert closes(walk(engine, 194.535, start=40_000)) == [(LONG, 0.5, 194.535, REASON_STOP_LOSS)]
    # Reset (rule 9): the next rise through tier 1 fires it again, outside the cooldown.
    assert brief(walk(engine, 196.5, start=60_000)) == [(LONG, "open", (1,), 0.5)]


def test_short_take_profit_and_stop_loss_mirror_the_long_side():
    engine = engine_with(take_profit_pct="0.005", stop_loss_pct="0.01")
    walk(engine, 205, 203.5)  # SHORT tier 1 (204) fills at 203.5
    assert engine.position[SHORT] == 0.5
    assert closes(walk(engine, 202.4825, start=30_000)) == [
        (SHORT, 0.5, 202.4825, REASON_TAKE_PROFIT)
    ]
    walk(engine, 205, 203.5, start=60_000)
    assert closes(walk(engine, 205.535, start=90_000)) == [(SHORT, 0.5, 205.535, REASON_STOP_LOSS)]


def test_level_touch_closes_when_the_price_comes_back_to_the_level():
    engine = engine_with(close_on_touch=True)
    walk(engine, 195, 196.5)
    assert closes(walk(engine, 199.9, start=30_000)) == []  # tiers 2 and 3 fire on the way
    assert engine.position[LONG] == 2.0
    assert closes(walk(engine, 200, start=40_000)) == [(LONG, 2.0, 200, REASON_LEVEL_TOUCH)]


def test_average_entry_follows_the_fills_of_the_side():
    engine = engine_with(take_profit_pct="0.02")
    walk(engine, 195, 196.5, 198.5)  # +0.5 at 196.5, +0.5 at 198.5
    assert engine.entry[LONG] == pytest.approx(197.5)
    assert engine.position[LONG] == 1.0


def test_exits_run_before_entries_on_the_same_tick():
    engine = engine_with(stop_loss_pct="0.001")
    walk(engine, 195, 196.5)  # stop at 196.3035
    walk(engine, 195.0, start=20_000)  # below the stop: closed
    events = walk(engine, 196.2, start=40_000)  # rises through tier 1 again: a fresh open
    assert brief(events) == [(LONG, "open", (1,), 0.5)]


def test_a_close_by_an_exit_keeps_the_cooldown_and_sets_no_trigger():
    engine = engine_with(stop_loss_pct="0.01")
    engine.run([(0, 195, 0.0), (1_000, 196.5, 0.0)])
    engine.run([(2_000, 194.0, 0.0)])  # stop-loss close at 2 s
    assert engine.level_state("L").last_trigger_ms == 1_000
    # At 4 s the cooldown (5 s from the fire at 1 s) still holds.
    events = engine.run([(4_000, 196.5, 0.0)])
    assert orders(events) == [] and engine.position[LONG] == 0


def test_only_the_levels_holding_the_side_bring_their_exits():
    a = LevelConfig("A", 200, 0.5, 0, stop_loss_pct="0.01")
    b = LevelConfig("B", 100, 0.5, 0)
    engine = SymbolEngine(TIERS, [a, b], OFF)
    walk(engine, 95, 98.5)  # B's LONG tier 1 (98) fills; A holds nothing
    assert closes(walk(engine, 90, start=30_000)) == []  # no stop: B has none


def test_a_position_reported_by_the_exchange_brings_its_entry_price():
    engine = engine_with(take_profit_pct="0.01")
    walk(engine, 195, 196.5)
    engine.set_position(LONG, 0.5, entry_price=190.0)  # the exchange's real average entry
    assert closes(walk(engine, 191.9, start=30_000)) == [(LONG, 0.5, 191.9, REASON_TAKE_PROFIT)]


@pytest.mark.parametrize("bad", ["0", "1", "-0.1"])
def test_exit_fractions_are_checked(bad):
    with pytest.raises(ValueError, match="take_profit_pct must be above 0 and below 1"):
        LevelConfig("L", 200, 0.5, 0, take_profit_pct=bad)


def test_the_nearest_threshold_wins_and_ties_go_to_the_stop():
    a = LevelConfig("A", 200, 1, 0, take_profit_pct="0.02", close_on_touch=True)
    b = LevelConfig("B", 201, 1, 0, take_profit_pct="0.01")
    exits = side_exits(LONG, 198.0, [a, b])
    assert exits.above == pytest.approx(198.0 * 1.01) and exits.above_reason == REASON_TAKE_PROFIT
    assert exits.below == float("-inf")
    both = SideExits(10.0, REASON_STOP_LOSS, 10.0, REASON_TAKE_PROFIT)
    assert both.reached(10.0) == REASON_STOP_LOSS


class SlowEngine(SymbolEngine):
    """No quiet interval: every tick takes the full path. The same events prove the quiet
    interval never hides an exit threshold."""

    def _bracket(self) -> None:
        super()._bracket()
        self._lo, self._hi = float("inf"), float("-inf")


# Random walks in quarter steps around both levels: they enter, wander inside the tiers and
# come back, which is where an exit threshold can sit inside a quiet interval.
walks = st.tuples(
    st.integers(min_value=780, max_value=824),
    st.lists(st.sampled_from([-4, -2, -1, 1, 2, 4]), min_size=2, max_size=80),
).map(lambda w: [(w[0] + sum(w[1][:i])) / 4 for i in range(len(w[1]) + 1)])


@settings(max_examples=300, deadline=None)
@given(
    path=walks,
    tp=st.sampled_from([None, "0.002", "0.01"]),
    sl=st.sampled_from([None, "0.003", "0.02"]),
    touch=st.booleans(),
)
def test_the_quiet_interval_never_skips_an_exit(path, tp, sl, touch):
    levels = [
        LevelConfig("A", 200, 0.5, 0, take_profit_pct=tp, stop_loss_pct=sl, close_on_touch=touch),
        LevelConfig("B", 201.5, 0.25, 1000, stop_loss_pct=sl),
    ]
    ticks = [(i * 700, p, 0.0) for i, p in enumerate(path)]
    fast, slow = SymbolEngine(TIERS, levels, OFF), SlowEngine(TIERS, levels, OFF)
    fast_events = as_tuples(fast.run(ticks))
    assert fast_events == as_tuples(slow.run(ticks))
    one_by_one = SymbolEngine(TIERS, levels, OFF)
    assert fast_events == as_tuples([e for t in ticks for e in one_by_one.run([t])])
    # Every order is a tier entry or one of the exits the levels carry.
    reasons = {e[8] for e in fast_events if e[0] == "order"}
    allowed = {REASON_TIER}
    allowed |= {REASON_TAKE_PROFIT} if tp else set()
    allowed |= {REASON_STOP_LOSS} if sl else set()
    allowed |= {REASON_LEVEL_TOUCH} if touch else set()
    assert reasons <= allowed
