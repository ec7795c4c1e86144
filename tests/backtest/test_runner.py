"""The backtest runner: golden orders, accounting, and the equity curve marked on every tick."""

import csv
import json
from dataclasses import replace

import numpy as np
import pytest

from tests.shared_data import GOLDEN, GOLDEN_SCENARIOS
from trading.accounting import Ledger
from trading.backtest.runner import Backtest
from trading.backtest.scenario import load_scenario
from trading.engine import LevelConfig, RiskLimits, SentimentConfig, SymbolEngine


def arrays(path):
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("type", "MARKET") == "MARKET"]
    ts = np.array([int(r["timestamp"]) for r in rows], dtype=np.int64)
    price = np.array([float(r["price"]) for r in rows])
    sign = np.array([1.0 if r["side"] == "buy" else -1.0 for r in rows])
    return ts, price, sign * np.array([float(r["amount"]) for r in rows])


def run(name, batch=None, **kw):
    backtest = Backtest(load_scenario(GOLDEN / f"{name}.scenario.json"), **kw)
    ts, price, qty = arrays(GOLDEN_SCENARIOS[name])
    step = batch or len(ts)
    for i in range(0, len(ts), step):
        backtest.feed(ts[i : i + step], price[i : i + step], qty[i : i + step])
    return backtest


@pytest.mark.parametrize("name", sorted(GOLDEN_SCENARIOS))
def test_runner_reproduces_golden_orders(name):
    lines = (GOLDEN / f"{name}.orders.jsonl").read_text().splitlines()
    want = [json.loads(line) for line in lines if line.strip()]
    got = run(name).result.orders
    assert [{**o, "size": pytest.approx(o["size"])} for o in got] == want


@pytest.mark.parametrize("batch", [1, 7, 1000])
def test_batch_size_changes_nothing(batch):
    whole = run("btcusdt_2024-07-19", fee_rate=0.0005)
    split = run("btcusdt_2024-07-19", batch=batch, fee_rate=0.0005)
    assert split.result.orders == whole.result.orders
    assert split.summary() == whole.summary()


def test_drawdown_equals_a_tick_by_tick_mark_to_market():
    backtest = run("ethusdt_2024-08-08", fee_rate=0.0004, slippage_bps=2)
    # Recompute independently: replay, apply each order's fill, mark every tick.
    scenario = load_scenario(GOLDEN / "ethusdt_2024-08-08.scenario.json")
    engine = SymbolEngine(scenario.tiers, scenario.levels, scenario.sentiment)
    ledger = Ledger(fee_rate=0.0004, slippage_bps=2)
    peak, worst = 0.0, 0.0
    ticks = arrays(GOLDEN_SCENARIOS["ethusdt_2024-08-08"])
    for tick in zip(*(a.tolist() for a in ticks), strict=True):
        for e in engine.on_tick(*tick):
            if getattr(e, "action", None):
                ledger.fill(e.side, e.action, e.size, e.price)
        equity = ledger.realized_pnl - ledger.fees + ledger.unrealized_pnl(tick[1])
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    assert worst > 0
    assert backtest.result.max_drawdown == pytest.approx(worst)


def test_summary_accounts_fees_slippage_and_exposure():
    plain = run("handmade_edges").summary()
    costly = run("handmade_edges", fee_rate=0.001, slippage_bps=10).summary()
    assert plain["orders"] == costly["orders"] == 9
    assert plain["fees"] == 0 and costly["fees"] == pytest.approx(costly["volume"] * 0.001)
    assert costly["realized_pnl"] < plain["realized_pnl"]
    assert plain["max_exposure"] == {"LONG": pytest.approx(2.0), "SHORT": pytest.approx(2.0)}
    # cooldown at 12000, 23000, 91000, 93000, 99000 and 100000; tier 2 again at 93000
    assert plain["ignored"] == {"already_fired": 1, "cooldown": 6, "sentiment": 1}
    assert plain["round_trips"] == 3
    assert plain["open_position"] == {"LONG": 0.0, "SHORT": 0.5}


def test_fill_prices_follow_slippage_and_plain_runs_fill_at_the_tick():
    plain = run("handmade_edges").result.orders
    slipped = run("handmade_edges", slippage_bps=100).result.orders
    assert plain[0]["price"] == 201.5  # SHORT open: a sell at the tick's price
    assert slipped[0]["price"] == pytest.approx(201.5 * 0.99)


def test_equity_points_are_thinned_keeping_the_ends():
    backtest = run("btcusdt_2024-07-19", batch=3)
    curve = backtest.result.equity_curve
    assert len(curve) > 2000
    points = backtest.equity_points()
    assert len(points) == 2000 and points[0] == curve[0] and points[-1] == curve[-1]


def test_risk_limits_in_the_scenario_block_entries_in_the_backtest():
    scenario = load_scenario(GOLDEN / "ethusdt_2024-08-08.scenario.json")
    free = Backtest(scenario)
    capped = Backtest(replace(scenario, risk=RiskLimits(max_position=0.2)))
    ts, price, qty = arrays(GOLDEN_SCENARIOS["ethusdt_2024-08-08"])
    free.feed(ts, price, qty)
    capped.feed(ts, price, qty)
    assert max(free.result.max_exposure.values()) > 0.2
    assert max(capped.result.max_exposure.values()) <= 0.2
    assert capped.result.ignored["max_position"] > 0


@pytest.mark.parametrize(
    ("exits", "reason"),
    [
        ({"stop_loss_pct": "0.0005"}, "stop_loss"),
        ({"take_profit_pct": "0.0005"}, "take_profit"),
        ({"close_on_touch": True}, "level_touch"),
    ],
)
def test_level_exits_close_sides_in_the_backtest(exits, reason):
    """Real ETH trades: with an exit on every level, closes carry that reason, each at a price
    the exit allows, and the side's entries before it explain the threshold."""
    scenario = load_scenario(GOLDEN / "ethusdt_2024-08-08.scenario.json")
    levels = tuple(
        LevelConfig(
            lv.level_id, lv.level_price, lv.base_size, lv.cool_down_ms, lv.is_active, **exits
        )
        for lv in scenario.levels
    )
    backtest = Backtest(replace(scenario, levels=levels, sentiment=SentimentConfig(False)))
    backtest.feed(*arrays(GOLDEN_SCENARIOS["ethusdt_2024-08-08"]))
    orders = backtest.result.orders
    closes = [o for o in orders if o["action"] == "close"]
    assert closes and {o["reason"] for o in closes} == {reason}
    held: dict[str, list[tuple[float, float]]] = {"LONG": [], "SHORT": []}
    for order in orders:
        side = order["side"]
        if order["action"] != "close":
            held[side].append((float(order["size"]), float(order["price"])))
            continue
        size = sum(s for s, _ in held[side])
        entry = sum(s * p for s, p in held[side]) / size
        price = float(order["price"])
        assert float(order["size"]) == pytest.approx(size)
        long = side == "LONG"
        if reason == "stop_loss":
            assert price <= entry * (1 - 0.0005) if long else price >= entry * (1 + 0.0005)
        elif reason == "take_profit":
            assert price >= entry * (1 + 0.0005) if long else price <= entry * (1 - 0.0005)
        else:
            prices = [float(lv.level_price) for lv in levels]
            assert any(price >= p if long else price <= p for p in prices)
        held[side] = []
