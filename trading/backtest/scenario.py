"""Backtest scenarios: the levels, tiers and sentiment settings a run replays against.

A scenario comes from a SCENARIO.json file (field names as in the specification) or from the
database; either way the runner sees the same `Scenario`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from trading.engine import LevelConfig, RiskLimits, SentimentConfig, Tiers

MARGIN_TYPES = ("isolated", "cross")


class ScenarioError(Exception):
    """A scenario that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class Scenario:
    exchange: str
    symbol: str
    tiers: Tiers
    sentiment: SentimentConfig
    levels: tuple[LevelConfig, ...]
    risk: RiskLimits = field(default_factory=RiskLimits)


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a SCENARIO.json file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ScenarioError(f"{path}: cannot be read ({e.strerror}).") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: is not UTF-8 text, so not a scenario's JSON.") from None
    except json.JSONDecodeError as e:
        raise ScenarioError(f"{path}, line {e.lineno}: not valid JSON ({e.msg}).") from None
    except ValueError:  # Python reads no whole number of more than 4300 digits
        raise ScenarioError(
            f"{path}: a number in it has thousands of digits, more than any price or size."
        ) from None
    except RecursionError:
        raise ScenarioError(f"{path}: its lists or objects are nested too deep.") from None
    try:
        return scenario_from_dict(data)
    except ScenarioError as e:
        raise ScenarioError(f"{path}: {e}") from None


def scenario_from_dict(data: Any) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError("the scenario must be a JSON object.")
    exchange = _text(data, "exchange")
    symbol = _text(data, "symbol")
    tiers_data = _object(data, "tiers")
    try:
        tiers = Tiers(*(_decimal(tiers_data, f"tier{k}_pct", "tiers.") for k in (1, 2, 3)))
    except ValueError as e:
        raise ScenarioError(f"tiers: {e}") from None
    sentiment_data = data.get("sentiment", {})
    if not isinstance(sentiment_data, dict):
        raise ScenarioError("sentiment must be an object.")
    try:
        sentiment = SentimentConfig(
            enabled=_bool(sentiment_data.get("enabled", True), "sentiment.enabled"),
            window_s=float(_decimal(sentiment_data, "window_s", "sentiment.", default=60)),
            threshold=float(_decimal(sentiment_data, "threshold", "sentiment.", default=0.6)),
        )
    except ValueError as e:
        raise ScenarioError(f"sentiment: {e}") from None
    levels = data.get("levels")
    if not isinstance(levels, list) or not levels:
        raise ScenarioError("levels must be a non-empty list.")
    configs = tuple(_level(item, i) for i, item in enumerate(levels))
    ids = [c.level_id for c in configs]
    duplicate = next((i for i in ids if ids.count(i) > 1), None)
    if duplicate is not None:
        raise ScenarioError(f"level id {duplicate!r} is used twice.")
    return Scenario(exchange, symbol, tiers, sentiment, configs, _risk(data.get("risk", {})))


def _risk(data: Any) -> RiskLimits:
    if not isinstance(data, dict):
        raise ScenarioError("risk must be an object.")
    limits: dict[str, Any] = {}
    for key in ("max_position", "max_notional", "min_liquidation_distance"):
        if data.get(key) is not None:
            limits[key] = float(_decimal(data, key, "risk."))
    if data.get("max_levels") is not None:
        limits["max_levels"] = _whole(data, "max_levels", "risk.", default=0)
    try:
        return RiskLimits(**limits)
    except ValueError as e:
        raise ScenarioError(f"risk: {e}") from None


def _level(item: Any, index: int) -> LevelConfig:
    where = f"levels[{index}]."
    if not isinstance(item, dict):
        raise ScenarioError(f"levels[{index}] must be an object.")
    level_id = item.get("id", str(index + 1))
    if not isinstance(level_id, str | int) or isinstance(level_id, bool) or level_id == "":
        raise ScenarioError(f"{where}id must be a string or a whole number.")
    price = _decimal(item, "level_price", where)
    size = _decimal(item, "base_size", where)
    leverage = _whole(item, "leverage", where, default=1)
    if leverage < 1:
        raise ScenarioError(f"{where}leverage must be at least 1.")
    margin = item.get("margin_type", "isolated")
    if margin not in MARGIN_TYPES:
        raise ScenarioError(f"{where}margin_type must be 'isolated' or 'cross', not {margin!r}.")
    cool_down = _whole(item, "cool_down_ms", where, default=0)
    exits = {
        key: _decimal(item, key, where) if item.get(key) is not None else None
        for key in ("take_profit_pct", "stop_loss_pct")
    }
    touch = _bool(item.get("close_on_touch", False), f"{where}close_on_touch")
    try:
        return LevelConfig(
            level_id, price, size, cool_down, **exits, close_on_touch=touch, leverage=leverage
        )
    except ValueError as e:
        raise ScenarioError(str(e)) from None


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ScenarioError(f"{key} must be a non-empty string.")
    return value


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise ScenarioError(f"{key} must be an object.")
    return value


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"{name} must be true or false.")
    return value


def _decimal(
    data: dict[str, Any], key: str, where: str, default: int | float | None = None
) -> Decimal:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ScenarioError(f"{where}{key} must be a number.")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ScenarioError(f"{where}{key} must be a number, not {value!r}.") from None
    if not number.is_finite():
        raise ScenarioError(f"{where}{key} must be a finite number.")
    return number


def _whole(data: dict[str, Any], key: str, where: str, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ScenarioError(f"{where}{key} must be a whole number.")
    return value


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario in SCENARIO.json's shape, numbers as exact strings where they are decimals."""
    sentiment = scenario.sentiment
    return {
        "exchange": scenario.exchange,
        "symbol": scenario.symbol,
        "tiers": {f"tier{k}_pct": str(t) for k, t in enumerate(scenario.tiers.pcts(), start=1)},
        "sentiment": {
            "enabled": sentiment.enabled,
            "window_s": sentiment.window_s,
            "threshold": sentiment.threshold,
        },
        "risk": {
            "max_position": scenario.risk.max_position,
            "max_notional": scenario.risk.max_notional,
            "max_levels": scenario.risk.max_levels,
            "min_liquidation_distance": scenario.risk.min_liquidation_distance,
        },
        "levels": [
            {
                "id": level.level_id,
                "level_price": str(level.level_price),
                "base_size": level.base_size,
                "cool_down_ms": level.cool_down_ms,
                **{
                    key: str(value)
                    for key, value in (
                        ("take_profit_pct", level.take_profit_pct),
                        ("stop_loss_pct", level.stop_loss_pct),
                    )
                    if value is not None
                },
                **({"close_on_touch": True} if level.close_on_touch else {}),
                **({"leverage": level.leverage} if level.leverage is not None else {}),
            }
            for level in scenario.levels
        ],
    }
