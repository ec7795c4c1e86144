"""The order journal: what goes in comes back out exactly, a torn or damaged file is never
guessed at, one bot at a time holds a symbol's journal, and recorded entries are cut off."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.runtime.test_runner import EXCHANGE, SYMBOL, make_level, symbol
from trading.engine import LevelState, OrderIntent, SideState
from trading.models import TierState, Trade
from trading.runtime import journal as journal_module
from trading.runtime import store
from trading.runtime.journal import Decisions, Journal, JournalError, encode, journal_path, parse

__all__ = ["symbol"]  # the fixture, used by name
WHERE = ("bybit", "BTC/USDT:USDT")  # the journal's exchange and symbol
AT = datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC)

level_ids = st.one_of(st.integers(1, 10**9), st.text("abcdef0123456789-", min_size=1))
floats = st.floats(allow_nan=False, allow_infinity=False)
sides = st.builds(
    SideState,
    st.lists(st.integers(1, 3), max_size=3, unique=True).map(tuple),
    floats,
    st.integers(0, 10**6),
)
states = st.dictionaries(
    level_ids, st.builds(LevelState, st.one_of(st.none(), st.integers(0, 2**62)), sides, sides)
)
intents = st.builds(
    OrderIntent,
    st.integers(0, 2**62),
    st.one_of(st.none(), level_ids),
    st.sampled_from(["LONG", "SHORT"]),
    st.sampled_from(["open", "add", "close"]),
    st.lists(st.integers(1, 3), max_size=3).map(tuple),
    floats,
    floats,
    st.text(max_size=20),
    st.integers(0, 10**6),
)
orders = st.lists(st.tuples(intents, st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1)))


@given(states=states, orders=orders)
def test_an_entry_reads_back_exactly_as_it_was_written(states, orders, tmp_path_factory):
    path = tmp_path_factory.mktemp("journal") / "j.journal"
    decisions = Decisions(*WHERE, states, orders, AT)
    line = encode(decisions)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    (entry,) = parse(line, path, *WHERE)
    assert entry == decisions
    assert [type(k) for k in entry.states] == [type(k) for k in states]  # 7 stays 7, not "7"


def test_a_last_line_cut_short_is_left_out_and_any_other_damage_names_its_line(tmp_path):
    path = tmp_path / "j.journal"
    first = encode(Decisions(*WHERE, {1: LevelState(5)}, [], AT))
    second = encode(Decisions(*WHERE, {2: LevelState(6)}, [], AT))
    # The bot stopped while writing the last line: its orders never went out.
    assert [e.states for e in parse(first + second[:20], path, *WHERE)] == [{1: LevelState(5)}]
    named = re.escape(f"{path}, line 2: not an order journal entry")
    with pytest.raises(JournalError, match=named):
        parse(first + b'{"at": "x"}\n' + second, path, *WHERE)
    with pytest.raises(JournalError, match=r"line 1: .*time zone"):
        naive = Decisions(*WHERE, {}, [], AT.replace(tzinfo=None))
        parse(encode(naive), path, *WHERE)


def test_one_bot_at_a_time_holds_a_symbols_journal(tmp_path):
    path = journal_path(tmp_path, "abc123", *WHERE)
    held = Journal.open(path, *WHERE)
    with pytest.raises(JournalError, match="Another bot is trading this symbol"):
        Journal.open(path, *WHERE)
    held.close()
    Journal.open(path, *WHERE).close()  # free again once released


def test_each_symbol_has_a_journal_of_its_own(tmp_path):
    paths = {
        journal_path(tmp_path, "abc123", exchange, symbol)
        for exchange, symbol in [
            WHERE,
            ("bybit", "BTC_USDT_USDT"),  # the same once made safe for a file name
            ("binanceusdm", "BTC/USDT:USDT"),
        ]
    }
    assert len(paths) == 3
    assert journal_path(tmp_path, "xyz789", *WHERE) not in paths


def test_a_journal_that_cannot_be_opened_says_what_to_do(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(JournalError, match="LEVELBOT_JOURNAL_DIR"):
        Journal.open(blocked / "j.journal", *WHERE)  # its folder is a file


def test_recorded_entries_are_cut_off_once_all_are_recorded_and_the_file_has_grown(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(journal_module, "CUT_AT_BYTES", 200)
    journal = Journal.open(tmp_path / "j.journal", *WHERE)
    states = {1: LevelState(5, SideState((1,), 0.5, 0))}
    for _ in range(4):
        journal.append(Decisions(*WHERE, states, [], AT))
    assert journal.size > 200
    journal.recorded()
    journal.recorded()
    journal.recorded()
    assert len(parse(journal.path.read_bytes(), journal.path, *WHERE)) == 4  # one not recorded yet
    journal.recorded()
    assert journal.path.read_bytes() == b"" and journal.size == 0 and journal.caught_up
    journal.append(Decisions(*WHERE, states, [], AT))
    journal.recorded()  # small again: kept until it grows
    assert len(parse(journal.path.read_bytes(), journal.path, *WHERE)) == 1
    journal.close()
    assert not journal.path.exists()  # all of it recorded: removed at the stop


def test_a_journal_not_caught_up_is_kept_at_the_stop(tmp_path, monkeypatch):
    monkeypatch.setattr(journal_module, "CUT_AT_BYTES", 1)  # any recorded line would be cut
    journal = Journal.open(tmp_path / "j.journal", *WHERE)
    journal.append(Decisions(*WHERE, {}, [], AT))
    assert not journal.caught_up
    journal.close()
    journal.recorded()  # an answer after the stop: the released file is left as it is
    again = Journal.open(journal.path, *WHERE)
    assert len(again.entries) == 1
    again.close()  # what it held when opened is not recorded yet: still kept
    assert len(Journal.open(journal.path, *WHERE).entries) == 1


@pytest.mark.django_db
def test_the_database_takes_only_the_entries_it_does_not_hold(symbol):
    level = make_level("200")
    state = LevelState(1000, SideState((1,), 0.5, 0), SideState())

    def entry(cid: str, at: datetime) -> Decisions:
        intent = OrderIntent(1000, level.pk, "LONG", "open", (1,), 0.5, 196.5, "tier", 0)
        return Decisions(EXCHANGE, SYMBOL, {level.pk: state}, [(intent, cid)], at)

    held = entry("ABC1", AT)
    store.record_decisions(held)
    missing = entry("ABC2", AT + timedelta(seconds=2))
    assert store.record_journal([held, missing]) == 1
    rows = list(Trade.objects.order_by("id").values_list("client_order_id", "status", "created_at"))
    assert rows == [("ABC1", "intent", held.at), ("ABC2", "intent", missing.at)]
    tier = TierState.objects.get(level=level, side="LONG")
    assert (tier.fired_tiers, tier.filled_size) == ([1], Decimal("0.5"))
    level.refresh_from_db()
    assert level.last_trigger_ms == 1000
    assert store.record_journal([held, missing]) == 0  # nothing twice
