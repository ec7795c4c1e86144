"""What each kind of notification says: symbol, side, exchange, reason and numbers as a trader
writes them."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from trading.notify import Kind, Notification, texts
from trading.notify.notification import money, number, seconds
from trading.reports import DayTotals

D = Decimal
BTC = "BTC/USDT:USDT"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (61250.5, "61,250.5"),
        (D("62750.000000000000"), "62,750"),
        (D("0.004"), "0.004"),
        (0.1 + 0.2, "0.3"),
        (1234567, "1,234,567"),
        (D("0.00001234"), "0.00001234"),
        (0, "0"),
    ],
)
def test_numbers_read_as_a_trader_writes_them(value: object, text: str) -> None:
    assert number(value) == text  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "signed", "text"),
    [
        (-3.2149, True, "-3.21"),
        (4.5, True, "+4.50"),
        (1234.5, False, "1,234.50"),
        (0.0337, False, "0.0337"),
        (0.07, False, "0.07"),
        (D("0.5"), False, "0.50"),
        (0, True, "0.00"),
        (-0.000001, True, "0.00"),
    ],
)
def test_money_keeps_small_amounts_visible_and_signs_gains(
    value: object, signed: bool, text: str
) -> None:
    assert money(value, signed=signed) == text  # type: ignore[arg-type]


def test_durations_read_in_seconds_minutes_and_hours() -> None:
    assert [seconds(s) for s in (45.4, 185, 120, 7800)] == [
        "45 s",
        "3 min 5 s",
        "2 min",
        "2 h 10 min",
    ]


def test_position_closed_names_side_exchange_size_price_pnl_and_reason() -> None:
    note = texts.position_closed(
        exchange="bybit",
        symbol=BTC,
        side="LONG",
        size=D("0.004"),
        price=61250.5,
        realized_pnl=-3.2149,
        reason="sentiment_exit",
    )
    assert note.kind is Kind.POSITION_CLOSED
    assert note.text == (
        "BTC/USDT:USDT LONG closed on bybit: 0.004 at 61,250.5, PnL -3.21 USDT (sentiment exit)"
    )
    assert note.title == "BTC/USDT:USDT LONG closed, PnL -3.21 USDT"
    assert note.fields["realized_pnl"] == -3.2149
    assert note.fields["currency"] == "USDT"


def test_a_gain_reads_with_a_plus() -> None:
    note = texts.position_closed(
        exchange="okx",
        symbol="ETH/USDT:USDT",
        side="SHORT",
        size=0.5,
        price=2650,
        realized_pnl=12.3,
        reason="take_profit",
    )
    assert note.text.endswith("PnL +12.30 USDT (take profit)")


def test_tier_fired_says_which_tiers_where_and_the_order() -> None:
    note = texts.tier_fired(
        exchange="binanceusdm",
        symbol=BTC,
        side="SHORT",
        tiers=(1, 2),
        price=D("62938.75"),
        level_price=D("62750"),
        size=D("0.004"),
    )
    assert note.text == (
        "BTC/USDT:USDT SHORT tiers 1 and 2 fired on binanceusdm at 62,938.75 (level 62,750): "
        "order 0.004."
    )
    held = texts.tier_fired(
        exchange="bybit", symbol=BTC, side="LONG", tiers=[3], price=1, level_price=1, size=0
    )
    assert "tier 3 fired" in held.text
    assert held.text.endswith("target already held, no order.")


def test_order_filled_gives_fee_in_the_settle_currency_and_the_tiers() -> None:
    note = texts.order_filled(
        exchange="bybit",
        symbol=BTC,
        side="SHORT",
        action="add",
        size=D("0.002"),
        price=D("63064.5"),
        fee=D("0.0693"),
        reason="tier",
        tiers=(2,),
    )
    assert note.text == (
        "BTC/USDT:USDT SHORT add filled on bybit: 0.002 at 63,064.5, fee 0.0693 USDT (tier 2)."
    )


def test_order_rejected_quotes_the_exchange_on_one_line() -> None:
    note = texts.order_rejected(
        exchange="okx",
        symbol=BTC,
        side="LONG",
        action="close",
        size=D("0.004"),
        reason="stop_loss",
        error="Insufficient margin\n  (code 51008)",
    )
    assert note.text == (
        "BTC/USDT:USDT LONG close of 0.004 rejected on okx (stop loss): "
        "Insufficient margin (code 51008)"
    )
    assert note.fields["error"] == "Insufficient margin (code 51008)"


def test_feed_texts_say_how_long() -> None:
    stale = texts.feed_stale(exchange="bybit", symbol=BTC, silent_s=32.4)
    back = texts.feed_recovered(exchange="bybit", symbol=BTC, down_s=185)
    assert stale.text.startswith("bybit BTC/USDT:USDT: no market data for 32 s.")
    assert back.text == "bybit BTC/USDT:USDT: market data is back after 3 min 5 s."
    assert (stale.kind, back.kind) == (Kind.FEED_STALE, Kind.FEED_RECOVERED)


def test_limit_hit_names_the_limit_in_words_and_keeps_the_detail() -> None:
    note = texts.limit_hit(
        exchange="bybit",
        symbol=BTC,
        side="LONG",
        limit="max_position",
        price=D("60900"),
        detail="LONG tier 2 crossed, but the order would take the side past its maximum position.",
    )
    assert note.text.startswith(
        "BTC/USDT:USDT LONG entry at 60,900 not taken on bybit: it would pass its maximum "
        "position. LONG tier 2 crossed"
    )
    assert note.fields["limit"] == "max_position"


def test_kill_switch_says_what_still_runs() -> None:
    assert texts.kill_switch(on=True).text == (
        "Kill switch on: no new entry on any level; exits still run."
    )
    assert texts.kill_switch(on=False).fields == {"on": False}


def test_bot_lifecycle_texts_name_host_pid_and_what_to_do() -> None:
    session = uuid.uuid4()
    started = texts.bot_started(
        hostname="trader-box",
        pid=4242,
        live=False,
        feed="synthetic",
        symbols=[("binanceusdm", BTC), ("bybit", "ETH/USDT:USDT")],
        session_id=session,
    )
    assert started.text == (
        "Bot started on trader-box (pid 4242), paper, synthetic feed, trading 2 symbols: "
        "binanceusdm BTC/USDT:USDT, bybit ETH/USDT:USDT."
    )
    assert started.fields["session_id"] == str(session)
    stopped = texts.bot_stopped(hostname="trader-box", pid=4242, reason="SIGTERM")
    assert stopped.text.startswith("Bot stopped on trader-box (pid 4242): SIGTERM.")
    down = texts.bot_down(
        hostname="trader-box",
        pid=4242,
        last_seen=datetime(2024, 7, 18, 12, 0, 3, tzinfo=UTC),
        silent_s=45,
        session_id=session,
    )
    assert down.text.startswith(
        "No heartbeat from the bot on trader-box (pid 4242) for 45 s (last at 2024-07-18 "
        "12:00:03 UTC)"
    )
    assert down.text.endswith("Check the process and start it again.")


def test_position_drift_says_which_way_it_differs() -> None:
    more = texts.position_drift(
        exchange="bybit", symbol=BTC, side="LONG", account_size=D("0.006"), levels_size=D("0.002")
    )
    assert "the account holds 0.006, the levels' tier state adds up to 0.002" in more.text
    assert "0.004 is held that no level accounts for" in more.text
    less = texts.position_drift(
        exchange="bybit", symbol=BTC, side="SHORT", account_size=D(0), levels_size=D("0.002")
    )
    assert "the levels count 0.002 that is not held" in less.text


def test_daily_summary_lists_each_exchange_with_net() -> None:
    note = texts.daily_summary(
        day=date(2024, 7, 18),
        totals=[
            DayTotals("binanceusdm", "USDT", 3, 0, D("0.21"), D("-0.5")),
            DayTotals("bybit", "USDT", 1, 2, D("1.23"), D("4.56")),
        ],
    )
    assert note.title == "Daily summary 2024-07-18 (UTC)"
    assert note.text.splitlines() == [
        "2024-07-18 (UTC)",
        "binanceusdm: 3 fills, 0 rejected, realized PnL -0.50 USDT, fees 0.21 USDT, net -0.71 USDT",
        "bybit: 1 fill, 2 rejected, realized PnL +4.56 USDT, fees 1.23 USDT, net +3.33 USDT",
    ]
    assert texts.daily_summary(day=date(2024, 7, 18), totals=[]).text.endswith("No orders.")


def test_a_notification_travels_as_json_and_comes_back_equal() -> None:
    note = texts.order_filled(
        exchange="bybit",
        symbol=BTC,
        side="LONG",
        action="open",
        size=D("0.002"),
        price=D("61000"),
        fee=D("0.07"),
        reason="tier",
        tiers=(1,),
    )
    wire = json.loads(json.dumps(note.as_dict()))
    assert wire["kind"] == "order_filled"
    assert wire["fields"]["size"] == 0.002
    assert Notification.from_dict(wire) == note


def test_a_title_is_one_line() -> None:
    note = Notification(Kind.KILL_SWITCH, "two\nlines", "text")
    assert note.title == "two lines"
