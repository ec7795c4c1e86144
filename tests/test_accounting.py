"""The fill ledger shared by backtests and the paper exchange."""

import pytest

from trading.accounting import Ledger
from trading.engine import LONG, SHORT


def test_long_round_trip_realizes_price_move_times_size():
    ledger = Ledger()
    ledger.fill(LONG, "open", 1.0, 100.0)
    ledger.fill(LONG, "add", 1.0, 90.0)
    assert ledger.positions[LONG].entry_price == 95.0
    fill = ledger.fill(LONG, "close", 2.0, 99.0)
    assert fill.realized_pnl == pytest.approx(8.0)
    assert ledger.realized_pnl == pytest.approx(8.0)
    assert ledger.positions[LONG].size == 0
    assert (ledger.round_trips, ledger.wins) == (1, 1)


def test_short_profits_when_price_falls():
    ledger = Ledger()
    ledger.fill(SHORT, "open", 2.0, 100.0)
    assert ledger.unrealized_pnl(97.0) == pytest.approx(6.0)
    ledger.fill(SHORT, "close", 2.0, 97.0)
    assert ledger.realized_pnl == pytest.approx(6.0)


def test_fees_are_charged_on_notional_and_decide_a_win():
    ledger = Ledger(fee_rate=0.001)
    ledger.fill(LONG, "open", 1.0, 100.0)
    fill = ledger.fill(LONG, "close", 1.0, 100.15)
    assert fill.fee == pytest.approx(0.10015)
    assert ledger.fees == pytest.approx(0.2001500)
    assert ledger.volume == pytest.approx(200.15)
    assert ledger.win_rate == 0.0  # +0.15 gross, but 0.20 in fees


def test_slippage_moves_every_fill_against_us():
    ledger = Ledger(slippage_bps=10)
    assert ledger.fill(LONG, "open", 1.0, 100.0).price == pytest.approx(100.1)
    assert ledger.fill(LONG, "close", 1.0, 100.0).price == pytest.approx(99.9)
    assert ledger.fill(SHORT, "open", 1.0, 100.0).price == pytest.approx(99.9)
    assert ledger.fill(SHORT, "close", 1.0, 100.0).price == pytest.approx(100.1)


def test_close_larger_than_position_closes_what_is_there():
    ledger = Ledger()
    ledger.fill(SHORT, "open", 1.0, 100.0)
    assert ledger.fill(SHORT, "close", 1.0000001, 100.0).size == 1.0


def test_equity_line_marks_both_sides_to_market():
    ledger = Ledger(fee_rate=0.0005)
    ledger.fill(LONG, "open", 2.0, 100.0)
    ledger.fill(SHORT, "open", 0.5, 110.0)
    a, b = ledger.equity_line()
    for price in (90.0, 100.0, 123.0):
        assert a + b * price == pytest.approx(ledger.unrealized_pnl(price) - ledger.fees)
