"""Live ticks: quotes set the price; a trade seen while quotes do is no tick (DESIGN 3).

Such a trade travels as `(ts, TRADE_ONLY, qty)`: it moves the sentiment window and nothing
else. The fixture is the rules' level at 200 with tiers 2% / 1% / 0.5% (LONG tier 1 at 196,
crossed by a price rising through it).
"""

from __future__ import annotations

from tests.engine.test_rules import brief, make_engine, orders
from trading.engine import (
    IGNORED_SENTIMENT,
    LONG,
    REASON_SENTIMENT_EXIT,
    TRADE_ONLY,
    IgnoredCrossing,
    OrderIntent,
    SentimentConfig,
)

ON = SentimentConfig(enabled=True, window_s=60, threshold=0.6)


def test_trade_only_records_change_no_price_and_cross_nothing():
    quotes = [(0, 197.0, 0.0), (1_000, 195.0, 0.0), (2_000, 197.5, 0.0), (3_000, 197.9, 0.0)]
    mixed = [quotes[0], (500, TRADE_ONLY, 1.0), quotes[1], (1_500, TRADE_ONLY, -1.0), *quotes[2:]]
    plain = make_engine().run(quotes)
    with_trades = make_engine()
    events = with_trades.run(mixed)
    assert brief(events) == brief(plain) != []
    assert with_trades.prev == 197.9


def test_first_records_trade_only_leave_no_previous_price():
    engine = make_engine()
    assert engine.run([(0, TRADE_ONLY, 2.0), (1, TRADE_ONLY, -1.0)]) == []
    assert engine.prev is None
    # The first quote has no prev either: no crossing on it, even inside tier 1.
    assert engine.run([(2, 195.0, 0.0)]) == []


def test_trade_only_flow_feeds_the_entry_filter():
    engine = make_engine(sentiment=ON)
    engine.run([(0, 195.0, 0.0)])
    events = engine.run([(100, TRADE_ONLY, -5.0), (200, 196.5, 0.0)])  # sellers: S = -1
    assert [type(e) for e in events] == [IgnoredCrossing]
    assert events[0].reason == IGNORED_SENTIMENT and events[0].side == LONG


def test_sentiment_exit_waits_for_the_next_quote_and_closes_at_its_price():
    engine = make_engine(sentiment=ON)
    engine.run([(0, 195.0, 0.0), (100, 196.5, 0.0)])
    assert engine.position[LONG] == 0.5
    assert engine.run([(200, TRADE_ONLY, -3.0)]) == []  # no tick: no exit at a price of 0
    assert engine.position[LONG] == 0.5
    (close,) = orders(engine.run([(300, 196.7, 0.0)]))
    assert isinstance(close, OrderIntent) and close.reason == REASON_SENTIMENT_EXIT
    assert (close.side, close.action, close.price, close.size) == (LONG, "close", 196.7, 0.5)
