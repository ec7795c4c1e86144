"""The fault drill (drills/faults.py), small: one run of each fault that meets an order or a
position, against runbot --live on the exchange simulator (the dropped and stalled websockets,
and the rate limit, are played in tests/exchange/test_runbot_live.py). Each is noticed, trading
goes on, and the exchange's orders and the database agree: no duplicate, no fill missing, no
tier fired twice."""

from __future__ import annotations

import pytest

from drills import faults

SMALL = ("late_answer", "insufficient_balance", "below_minimum", "position_closed")
KNOWN_BAD = "position_closed_then_entry"


@pytest.fixture(scope="module")
def summary() -> dict:
    return faults.drill([*SMALL, KNOWN_BAD], runs=1)


@pytest.mark.parametrize("name", SMALL)
def test_each_fault_is_noticed_and_trading_goes_on_with_the_zeros_kept(summary, name):
    (run,) = summary["faults"][name]["runs"]
    assert run["zeros"] == {"duplicates": 0, "fills_missing": 0, "tiers_fired_twice": 0}
    assert run["broken"] == {}, run
    assert run["detect_s"] is not None, f"{name} was not noticed: {run}"
    assert run["recover_s"] is not None, f"trading did not go on after {name}: {run}"
    assert run["bot_exit"] == 0


def test_a_late_answer_is_noticed_at_the_rest_timeout_and_found_by_its_id(summary):
    (run,) = summary["faults"]["late_answer"]["runs"]
    assert run["found_by_id"] == "order filled"
    # Noticed when the 500 ms timeout ran out, before the simulator's 1.5 s answer.
    assert faults.REST_TIMEOUT_MS / 1000 <= run["detect_s"] < faults.LATE_S


def test_refused_orders_are_recorded_with_the_reason(summary):
    (poor,) = summary["faults"]["insufficient_balance"]["runs"]
    assert poor["recorded"] and "110007" in poor["error"]
    (small,) = summary["faults"]["below_minimum"]["runs"]
    assert small["recorded"] and "below the minimum" in small["error"]


def test_a_side_closed_and_entered_again_before_the_bot_looks_is_still_reset(summary):
    (run,) = summary["faults"][KNOWN_BAD]["runs"]
    assert run["detect_s"] is not None, run
    assert run["recover_s"] is not None, run  # the side's levels reset: they can enter again
    assert run["broken"] == {}, run
