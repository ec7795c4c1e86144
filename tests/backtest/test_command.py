"""`manage.py backtest`: the command-line contract, end to end."""

from __future__ import annotations

import json
import os
import pty
import random
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.factories import LevelFactory, SymbolTiersFactory
from tests.shared_data import GOLDEN, GOLDEN_SCENARIOS, SHARED
from trading.backtest.scenario import load_scenario
from trading.engine import OrderIntent, SymbolEngine
from trading.models import BacktestRun, BotSettings

ROOT = Path(__file__).resolve().parents[2]
ETH_NAME = "ethusdt_2024-08-08"
FTX = SHARED / "data" / "ohlcv" / "ftx_BTC-PERP_1m_2021-12-31_2022-02-01_nautilus.csv"
SUMMARY_KEYS = {
    "ticks",
    "skipped_rows",
    "orders",
    "volume",
    "fees",
    "realized_pnl",
    "unrealized_pnl",
    "win_rate",
    "max_drawdown",
    "max_exposure",
    "ignored",
    "ticks_per_second",
}


def backtest(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("backtest", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def read_orders(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(GOLDEN_SCENARIOS))
def test_golden_scenarios_give_exactly_their_orders(name, tmp_path):
    out = tmp_path / "orders.jsonl"
    scenario = GOLDEN / f"{name}.scenario.json"
    backtest(
        "--data", str(GOLDEN_SCENARIOS[name]), "--config", str(scenario), "--orders-out", str(out)
    )
    assert out.read_text() == (GOLDEN / f"{name}.orders.jsonl").read_text()


@pytest.mark.django_db
def test_json_summary_has_the_promised_keys(tmp_path):
    out, _ = backtest(
        "--data",
        str(GOLDEN_SCENARIOS["handmade_edges"]),
        "--config",
        str(GOLDEN / "handmade_edges.scenario.json"),
        "--json",
    )
    summary = json.loads(out)
    assert summary.keys() >= SUMMARY_KEYS
    assert (summary["ticks"], summary["skipped_rows"], summary["orders"]) == (28, 1, 9)
    assert summary["max_exposure"] == {"LONG": 2.0, "SHORT": 2.0}
    assert summary["ticks_per_second"] > 0


@pytest.mark.django_db
def test_text_report_names_what_happened():
    out, _ = backtest(
        "--data",
        str(GOLDEN_SCENARIOS["handmade_edges"]),
        "--config",
        str(GOLDEN / "handmade_edges.scenario.json"),
        "--fee-rate",
        "0.001",
    )
    assert "orders    9; volume 1,906.00; fees 1.91" in out
    assert "cooldown 6" in out and "(1 ADL)" in out


@pytest.mark.django_db
def test_levels_from_the_database_trade_like_the_same_scenario(tmp_path):
    scenario = load_scenario(GOLDEN / "btcusdt_2024-07-19.scenario.json")
    SymbolTiersFactory(
        exchange="binanceusdm",
        symbol="BTC/USDT:USDT",
        tier1_pct="0.0008",
        tier2_pct="0.0005",
        tier3_pct="0.0002",
    )
    ids = {}
    for level in scenario.levels:
        ids[level.level_id] = LevelFactory(
            exchange="binanceusdm",
            symbol="BTC/USDT:USDT",
            level_price=level.level_price,
            base_size=str(level.base_size),
            cool_down_ms=level.cool_down_ms,
        ).pk
    LevelFactory(exchange="binanceusdm", symbol="BTC/USDT:USDT", level_price=63900, is_active=False)
    BotSettings.load()
    out = tmp_path / "orders.jsonl"
    data = str(GOLDEN_SCENARIOS["btcusdt_2024-07-19"])
    backtest(
        "--data",
        data,
        "--exchange",
        "binanceusdm",
        "--symbol",
        "BTC/USDT:USDT",
        "--orders-out",
        str(out),
    )
    want = read_orders(GOLDEN / "btcusdt_2024-07-19.orders.jsonl")
    for order in want:
        order["level"] = ids.get(order["level"])
    assert read_orders(out) == want


@pytest.mark.django_db
def test_save_stores_the_run_with_its_curve():
    out, _ = backtest(
        "--data",
        str(GOLDEN_SCENARIOS["ethusdt_2024-08-08"]),
        "--config",
        str(GOLDEN / "ethusdt_2024-08-08.scenario.json"),
        "--save",
        "--json",
    )
    run = BacktestRun.objects.get()
    assert json.loads(out)["saved_run"] == run.pk
    assert run.summary["orders"] == len(run.orders) == 10
    assert run.scenario["levels"][0]["level_price"] == "2680.47"
    assert len(run.equity_curve) >= 10 and not run.candles


@pytest.mark.django_db
def test_candles_run_four_ticks_each_without_sentiment():
    out, err = backtest(
        "--data", str(FTX), "--config", str(GOLDEN / "btcusdt_2024-07-19.scenario.json"), "--json"
    )
    summary = json.loads(out)
    assert summary["ticks"] == 4 * 45_031 and summary["candles"] is True
    out, err = backtest(
        "--data", str(FTX), "--config", str(GOLDEN / "btcusdt_2024-07-19.scenario.json")
    )
    assert "candles hide the true price path" in err and "sentiment off" in out


@pytest.mark.django_db
def test_a_random_path_through_many_tiers_gives_the_live_engines_orders(tmp_path):
    rng = random.Random(7)
    price, lines = 100.0, ["timestamp,price,amount,side"]
    for i in range(3000):
        price = max(80.0, min(120.0, price + rng.choice([-1, 1]) * rng.choice([0.1, 0.3, 2.5])))
        lines.append(
            f"{i * 700},{price:.2f},{rng.choice([0.1, 1, 5])},{rng.choice(['buy', 'sell'])}"
        )
    data = tmp_path / "path.csv"
    data.write_text("\n".join(lines) + "\n")
    config = tmp_path / "scenario.json"
    config.write_text(
        json.dumps(
            {
                "exchange": "bybit",
                "symbol": "ETH/USDT:USDT",
                "tiers": {"tier1_pct": 0.05, "tier2_pct": 0.02, "tier3_pct": 0.01},
                "sentiment": {"enabled": True, "window_s": 10, "threshold": 0.5},
                "levels": [
                    {"id": f"L{p}", "level_price": p, "base_size": 1, "cool_down_ms": 1500}
                    for p in (90, 97, 100, 104, 111)
                ],
            }
        )
    )
    out = tmp_path / "orders.jsonl"
    backtest("--data", str(data), "--config", str(config), "--orders-out", str(out))
    scenario = load_scenario(config)
    engine = SymbolEngine(scenario.tiers, scenario.levels, scenario.sentiment)
    live = []
    for line in lines[1:]:
        ts, px, amount, side = line.split(",")
        qty = float(amount) if side == "buy" else -float(amount)
        live += [e for e in engine.on_tick(int(ts), float(px), qty) if isinstance(e, OrderIntent)]
    got = read_orders(out)
    assert len(got) > 20
    assert [(o["ts"], o["level"], o["side"], o["action"], o["size"]) for o in got] == [
        (o.ts, o.level_id, o.side, o.action, o.size) for o in live
    ]


# Bad input -------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "missing.csv", "--config", "x.json"], "x.json: cannot be read"),
        (["--data", "{handmade}"], "Say what to replay"),
        (
            ["--data", "{handmade}", "--config", "{scenario}", "--exchange", "bybit"],
            "not both",
        ),
        (["--data", "{handmade}", "--config", "{scenario}", "--fee-rate", "x"], "--fee-rate must"),
        (["--data", "{handmade}", "--config", "{scenario}", "--slippage-bps", "-1"], "0 or more"),
        (["--data", "{handmade}", "--exchange", "bybit", "--symbol", "X/USDT:USDT"], "no tiers"),
        (["--data", "nowhere.csv", "--config", "{scenario}"], "nowhere.csv"),
    ],
)
def test_bad_arguments_are_clear_errors(args, message):
    fill = {
        "handmade": str(GOLDEN_SCENARIOS["handmade_edges"]),
        "scenario": str(GOLDEN / "handmade_edges.scenario.json"),
    }
    with pytest.raises(CommandError, match=message):
        backtest(*(a.format(**fill) for a in args))


@pytest.mark.django_db
def test_a_bad_line_names_file_and_line_and_saves_nothing(tmp_path):
    data = tmp_path / "bad.csv"
    data.write_text("timestamp,price,amount,side\n1000,100,1,buy\n2000,abc,1,sell\n")
    out = tmp_path / "orders.jsonl"
    with pytest.raises(CommandError, match=r"bad\.csv, line 3"):
        backtest(
            "--data",
            str(data),
            "--config",
            str(GOLDEN / "handmade_edges.scenario.json"),
            "--orders-out",
            str(out),
            "--save",
        )
    assert not BacktestRun.objects.exists()
    assert not out.exists()


def test_errors_exit_non_zero_without_a_traceback(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "backtest",
            "--data",
            str(tmp_path / "none.csv"),
            "--config",
            "x.json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "x.json: cannot be read" in result.stderr
    assert "Traceback" not in result.stderr


def _run_with_terminal_stderr(args: list[str]) -> tuple[int, str]:
    """Run manage.py with stderr on a pseudo-terminal, as a trader's shell would have it."""
    leader, follower = pty.openpty()
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        timeout=120,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    return result.returncode, b"".join(chunks).decode(errors="replace")


def test_progress_bar_shows_on_a_terminal_only(tmp_path):
    args = [
        "backtest",
        "--data",
        str(GOLDEN_SCENARIOS[ETH_NAME]),
        "--config",
        str(GOLDEN / f"{ETH_NAME}.scenario.json"),
    ]
    code, terminal = _run_with_terminal_stderr(args)
    assert code == 0 and "[" + "#" * 30 + "] 100.0%" in terminal
    piped = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert piped.returncode == 0 and "#" not in piped.stderr
