"""The engine, driven tick by tick, reproduces every golden scenario's orders exactly."""

from __future__ import annotations

import csv
import json

import pytest

from tests.shared_data import GOLDEN, GOLDEN_SCENARIOS
from trading.engine import LevelConfig, OrderIntent, SentimentConfig, SymbolEngine, Tick, Tiers


def market_ticks(path):
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row.get("type", "MARKET") == "MARKET":
                yield Tick.trade(
                    int(row["timestamp"]), float(row["price"]), row["side"], float(row["amount"])
                )


@pytest.mark.parametrize("name", sorted(GOLDEN_SCENARIOS))
def test_engine_reproduces_golden_orders(name):
    scenario = json.loads((GOLDEN / f"{name}.scenario.json").read_text())
    engine = SymbolEngine(
        Tiers(**scenario["tiers"]),
        [
            LevelConfig(lv["id"], lv["level_price"], lv["base_size"], lv["cool_down_ms"])
            for lv in scenario["levels"]
        ],
        SentimentConfig(**scenario["sentiment"]),
    )
    got = [
        {
            "ts": e.ts,
            "level": e.level_id,
            "side": e.side,
            "action": e.action,
            "tiers": list(e.tiers),
            "size": pytest.approx(e.size, rel=1e-9),
            "price": e.price,
            "reason": e.reason,
        }
        for tick in market_ticks(GOLDEN_SCENARIOS[name])
        for e in engine.on_tick(*tick)
        if isinstance(e, OrderIntent)
    ]
    lines = (GOLDEN / f"{name}.orders.jsonl").read_text().splitlines()
    want = [json.loads(line) for line in lines if line.strip()]
    assert len(want) > 0
    assert want == got
