"""A side the exchange holds less of than the engine counts (`SymbolEngine.closed_outside`).

Two levels under the price: `near` at 200 (LONG tier 1 at 196) fires first, `far` at 210 (LONG
tier 1 at 205.8) later, each base size 0.5.
"""

from __future__ import annotations

from tests.engine.test_rules import level, make_engine, walk
from trading.engine import LONG, SymbolEngine


def two_held() -> SymbolEngine:
    engine = make_engine(level("near", 200), level("far", 210))
    walk(engine, 195, 196.5)  # near's tier 1: 0.5
    walk(engine, 204, 206.5, start=100_000)  # far's tier 1: 0.5 more
    assert engine.position[LONG] == 1.0
    return engine


def test_the_fills_older_than_the_close_reset_and_the_later_ones_keep_their_tiers():
    engine = two_held()
    # near's 0.5 was closed on the exchange before far entered: 0.5 held of the 1.0 counted.
    assert engine.closed_outside(LONG, 0.5) == ["near"]
    assert engine.position[LONG] == 0.5
    assert (
        engine.level_state("near").long.fired == () and engine.level_state("near").long.cycle == 1
    )
    assert (
        engine.level_state("far").long.fired == (1,)
        and engine.level_state("far").long.filled == 0.5
    )
    assert engine.close_cycle[LONG] == 0  # no close of the bot's own to tell apart from


def test_a_side_found_flat_resets_whole():
    engine = two_held()
    assert sorted(engine.closed_outside(LONG, 0.0)) == ["far", "near"]
    assert engine.position[LONG] == 0.0
    assert engine.level_state("far").long.fired == ()
    assert engine.close_cycle[LONG] == 1


def test_a_reduction_no_set_of_earliest_fills_explains_resets_the_whole_side():
    engine = two_held()
    assert sorted(engine.closed_outside(LONG, 0.8)) == ["far", "near"]  # 0.2 taken off by hand
    assert engine.position[LONG] == 0.8
    assert engine.level_state("near").long.fired == engine.level_state("far").long.fired == ()


def test_a_reset_level_fires_again_on_its_next_crossing():
    engine = two_held()
    engine.closed_outside(LONG, 0.5)
    events = walk(engine, 194, 196.5, start=200_000)  # up through near's tier 1 again
    assert [(e.level_id, e.tiers) for e in events if hasattr(e, "action")] == [("near", (1,))]
