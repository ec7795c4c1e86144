"""A close the exchange refused (`SymbolEngine.close_refused`): the side was never closed.

Two levels under the price, as in test_closed_outside: `near` at 200 and `far` at 210 hold
0.5 each on the LONG side; the bot closes the side (a close on request, or an exit).
"""

from __future__ import annotations

from tests.engine.test_closed_outside import two_held
from tests.engine.test_rules import walk
from trading.engine import LONG


def test_a_refused_close_puts_the_side_back_as_it_was():
    engine = two_held()
    before = {level_id: engine.level_state(level_id) for level_id in engine.level_ids}
    entry = engine.entry[LONG]
    close = engine.close(300_000, LONG, 207.0, "manual")
    assert close is not None and close.size == 1.0 and engine.position[LONG] == 0.0
    engine.close_refused(close, close.size)
    assert {level_id: engine.level_state(level_id) for level_id in engine.level_ids} == before
    assert engine.position[LONG] == 1.0 and engine.entry[LONG] == entry
    assert engine.close_cycle[LONG] == 1  # the next close is another order, with another id
    again = engine.close(300_001, LONG, 207.0, "manual")
    assert again is not None and again.cycle == close.cycle + 1 and again.size == 1.0


def test_a_refused_close_leaves_a_level_that_fired_since_as_it_is():
    engine = two_held()
    close = engine.close(300_000, LONG, 207.0, "manual")
    assert close is not None
    walk(engine, 195, 196.5, start=400_000)  # near fires tier 1 again, in its new cycle
    fired_since = engine.level_state("near")
    assert fired_since.long.fired == (1,) and fired_since.long.cycle == 1
    engine.close_refused(close, close.size)
    assert engine.level_state("near") == fired_since
    assert engine.level_state("far").long.fired == (1,)  # back, as before the close
    assert engine.position[LONG] == 1.5  # the 1.0 never closed and the new 0.5


def test_a_close_filled_in_part_counts_what_is_left_and_stays_reset():
    engine = two_held()
    close = engine.close(300_000, LONG, 207.0, "manual")
    assert close is not None
    engine.close_refused(close, 0.4)
    assert engine.position[LONG] == 0.4
    assert engine.level_state("near").long.fired == engine.level_state("far").long.fired == ()
