"""The shutdown drill (drills/shutdown.py), small: SIGTERM while an order is on its way (the
exchange answers it 2 s late) stops runbot with status 0 within 10 s, the order's answer
recorded."""

from __future__ import annotations

from drills import shutdown


def test_sigterm_with_an_order_on_its_way_exits_0_in_time_with_the_answer_recorded(tmp_path):
    summary = shutdown.run(runs=1, folder=tmp_path / "shutdown")
    (run,) = summary["run_log"]
    assert run["orders_in_flight"], "an order was on its way when the signal came"
    assert run["exit_code"] == 0
    assert run["exit_s"] < 10
    assert set(run["recorded"].values()) == {"filled"}
    assert run["stopped_cleanly"]
    assert summary["ok"], summary["failures"]
