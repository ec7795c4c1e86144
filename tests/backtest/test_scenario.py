"""SCENARIO.json files: what a valid one gives and how a bad one is refused."""

import json
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.shared_data import GOLDEN
from trading.backtest.scenario import ScenarioError, load_scenario, scenario_to_dict
from trading.models import BotSettings, Level, SymbolTiers

VALID = {
    "exchange": "binanceusdm",
    "symbol": "BTC/USDT:USDT",
    "tiers": {"tier1_pct": 0.005, "tier2_pct": 0.003, "tier3_pct": 0.0015},
    "sentiment": {"enabled": True, "window_s": 60, "threshold": 0.6},
    "levels": [
        {
            "id": "L1",
            "level_price": 62750,
            "base_size": 0.01,
            "leverage": 5,
            "margin_type": "isolated",
            "cool_down_ms": 1000,
        }
    ],
}


def write(tmp_path, data):
    path = tmp_path / "scenario.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_golden_scenarios_load():
    for path in GOLDEN.glob("*.scenario.json"):
        scenario = load_scenario(path)
        assert scenario.levels and scenario.exchange == "binanceusdm"


def test_valid_scenario_keeps_ids_order_and_exact_tiers(tmp_path):
    scenario = load_scenario(write(tmp_path, VALID))
    assert [lv.level_id for lv in scenario.levels] == ["L1"]
    assert str(scenario.tiers.tier3_pct) == "0.0015"
    assert scenario.sentiment.window_s == 60 and scenario.sentiment.enabled


def broken(**changes):
    data = json.loads(json.dumps(VALID))
    for dotted, value in changes.items():
        target = data
        *path, last = dotted.split("__")
        for key in path:
            target = target[int(key)] if key.isdigit() else target[key]
        target[last] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "line 1: not valid JSON"),
        ([], "must be a JSON object"),
        (broken(exchange=""), "exchange must be a non-empty string"),
        (broken(tiers__tier2_pct=0.006), "tier 1 must be farther from the level than tier 2"),
        (broken(tiers__tier3_pct="x"), "tiers.tier3_pct must be a number, not 'x'"),
        (broken(sentiment__threshold=1.5), "threshold must be at least 0 and below 1"),
        (broken(sentiment__enabled="yes"), "sentiment.enabled must be true or false"),
        (broken(levels=[]), "levels must be a non-empty list"),
        (broken(levels__0__level_price=-1), "level_price must be above 0"),
        (broken(levels__0__base_size=0), "base_size must be above 0"),
        (broken(levels__0__leverage=0), "levels[0].leverage must be at least 1"),
        (broken(levels__0__leverage=2.5), "levels[0].leverage must be a whole number"),
        (broken(levels__0__margin_type="hedge"), "margin_type must be 'isolated' or 'cross'"),
        (broken(levels__0__cool_down_ms=-5), "cool_down_ms cannot be negative"),
        (broken(levels__0__take_profit_pct=1), "take_profit_pct must be above 0 and below 1"),
        (broken(levels__0__stop_loss_pct="x"), "levels[0].stop_loss_pct must be a number"),
        (broken(levels__0__close_on_touch="yes"), "levels[0].close_on_touch must be true or false"),
        (broken(risk={"max_position": 0}), "max_position must be above 0"),
        (broken(risk={"max_levels": 1.5}), "risk.max_levels must be a whole number"),
        (broken(risk=[]), "risk must be an object"),
    ],
)
def test_bad_scenario_is_refused_naming_file_and_field(tmp_path, data, message):
    path = write(tmp_path, data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_duplicate_level_ids_are_refused(tmp_path):
    data = broken()
    data["levels"].append(dict(data["levels"][0], level_price=60000))
    with pytest.raises(ScenarioError, match="level id 'L1' is used twice"):
        load_scenario(write(tmp_path, data))


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ScenarioError, match="cannot be read"):
        load_scenario(tmp_path / "nope.json")


@pytest.mark.django_db
def test_import_scenario_creates_its_tiers_and_levels_all_or_nothing(tmp_path):
    out = StringIO()
    call_command(
        "import_scenario", str(GOLDEN / "btcusdt_2024-07-19.scenario.json"), "--json", stdout=out
    )
    ids = json.loads(out.getvalue())
    far = Level.objects.get(pk=ids["far"])
    assert (far.leverage, far.margin_type, far.cool_down_ms, far.source) == (
        5,
        "cross",
        30000,
        "scenario",
    )
    assert str(SymbolTiers.objects.get().tier1_pct.normalize()) == "0.0008"
    data = broken(levels__0__base_size=1)
    data["levels"].append(dict(data["levels"][0], id="L2", leverage=500))
    data["sentiment"]["window_s"] = 10
    with pytest.raises(CommandError, match="Leverage must be between 1 and 125"):
        call_command("import_scenario", str(write(tmp_path, data)), "--sentiment")
    assert Level.objects.count() == 2  # the bad file added nothing
    assert BotSettings.load().sentiment_window_s == 60


def test_risk_limits_are_read_and_imported(tmp_path):
    data = broken(risk={"max_position": 0.5, "max_levels": 2})
    scenario = load_scenario(write(tmp_path, data))
    assert (scenario.risk.max_position, scenario.risk.max_notional, scenario.risk.max_levels) == (
        0.5,
        None,
        2,
    )


def test_level_exits_load_and_write_back(tmp_path):
    data = json.loads(json.dumps(VALID))
    data["levels"][0].update(take_profit_pct="0.01", stop_loss_pct=0.02, close_on_touch=True)
    scenario = load_scenario(write(tmp_path, data))
    (level,) = scenario.levels
    assert (level.take_profit_pct, level.stop_loss_pct, level.close_on_touch) == (
        Decimal("0.01"),
        Decimal("0.02"),
        True,
    )
    again = load_scenario(write(tmp_path, scenario_to_dict(scenario)))
    assert again.levels == scenario.levels
