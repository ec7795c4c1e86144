"""The crash drill (drills/crash.py), small: runbot trading live on the exchange simulator,
killed with SIGKILL three times (some kills between an order's send and the record of its
answer) and restarted on the same database, leaves no duplicate order, no fill unrecorded and
no tier fired twice."""

from __future__ import annotations

from drills import crash


def test_kills_leave_no_duplicate_no_missing_fill_and_no_tier_fired_twice(tmp_path):
    summary = crash.run(kills=3, seed=1, folder=tmp_path / "crash")
    assert summary["kills"] == 3
    assert summary["kills_in_flight"] >= 1, "a kill fell between an order's send and its record"
    assert summary["orders"] > 0 and summary["fills"] == summary["orders"]
    assert summary["duplicates"] == 0
    assert summary["fills_missing"] == 0
    assert summary["tiers_fired_twice"] == 0
    assert summary["final_exit_code"] == 0
    assert summary["ok"], summary["failures"]


def test_kills_before_the_database_holds_the_intents_are_made_good_from_the_journal(tmp_path):
    """The database's write lock held (as by a long write of another process) while orders go
    out: the kill falls with their intents in the journal alone."""
    summary = crash.run(kills=2, seed=1, aimed=0, held=1, folder=tmp_path / "crash")
    assert summary["kills_before_the_database"] >= 1
    assert summary["batches_from_journal"] >= summary["kills_before_the_database"]
    assert summary["orders"] > 0 and summary["fills"] == summary["orders"]
    assert summary["duplicates"] == summary["fills_missing"] == summary["tiers_fired_twice"] == 0
    assert summary["final_exit_code"] == 0
    assert summary["ok"], summary["failures"]
