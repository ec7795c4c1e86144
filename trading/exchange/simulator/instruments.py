"""Bybit's linear instruments as recorded, read at runtime from the shared data directory.

The file is Bybit's own `GET /v5/market/instruments-info?category=linear` answer, captured
once; it is never copied into the project. `Instrument` holds the few rules the simulator
enforces (tick size, quantity step, minimum and maximum market quantity, minimum notional,
leverage range) as Decimals, so that "is a multiple of the step" is exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

# The project lives at <root>/main and the recorded exchange data at <root>/shared.
SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "exchange"
DEFAULT_INSTRUMENTS = SHARED_DATA / "http_v5_market_instruments-info_linear_2026-08-09.json"


class InstrumentsError(ValueError):
    """The instruments file is missing, unreadable or lacks the asked symbol."""


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    settle_coin: str
    tick_size: Decimal
    price_scale: int
    qty_step: Decimal
    min_qty: Decimal
    max_market_qty: Decimal
    min_notional: Decimal
    min_leverage: Decimal
    max_leverage: Decimal

    @classmethod
    def from_info(cls, info: dict[str, Any]) -> Instrument:
        lots, prices, leverage = info["lotSizeFilter"], info["priceFilter"], info["leverageFilter"]
        return cls(
            symbol=info["symbol"],
            settle_coin=info["settleCoin"],
            tick_size=Decimal(prices["tickSize"]),
            price_scale=int(info["priceScale"]),
            qty_step=Decimal(lots["qtyStep"]),
            min_qty=Decimal(lots["minOrderQty"]),
            max_market_qty=Decimal(lots.get("maxMktOrderQty") or lots["maxOrderQty"]),
            min_notional=Decimal(lots.get("minNotionalValue") or "0"),
            min_leverage=Decimal(leverage["minLeverage"]),
            max_leverage=Decimal(leverage["maxLeverage"]),
        )

    def qty_text(self, qty: Decimal | float) -> str:
        """A quantity as Bybit writes it, with as many decimals as the quantity step has
        (more when a replayed trade from another venue has them: never rounded away)."""
        value = qty if isinstance(qty, Decimal) else Decimal(repr(qty))
        stepped = value.quantize(self.qty_step)
        return str(stepped) if stepped == value else format(value.normalize(), "f")

    def price_text(self, price: float) -> str:
        return f"{price:.{self.price_scale}f}"


class Instruments:
    """The recorded instrument list, with the filters and paging of the REST endpoint."""

    def __init__(self, path: Path = DEFAULT_INSTRUMENTS) -> None:
        try:
            with open(path, encoding="utf-8") as f:
                answer = json.load(f)
            self.rows: list[dict[str, Any]] = answer["result"]["list"]
        except FileNotFoundError:
            raise InstrumentsError(
                f"The instruments file {path} does not exist: the simulator reads Bybit's "
                "recorded linear instruments from the shared data directory."
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InstrumentsError(
                f"The instruments file {path} is not a Bybit instruments-info answer ({e})."
            ) from None
        self.path = path
        self._by_symbol = {row["symbol"]: row for row in self.rows}

    def get(self, symbol: str) -> Instrument:
        info = self._by_symbol.get(symbol)
        if info is None:
            raise InstrumentsError(
                f"{symbol} is not a linear contract in {self.path.name}: give a Bybit linear "
                "symbol such as BTCUSDT."
            )
        return Instrument.from_info(info)

    def select(self, query: dict[str, str]) -> list[dict[str, Any]]:
        """The rows instruments-info answers for `query`: symbol, status and baseCoin filters."""
        rows = self.rows
        for key in ("symbol", "status", "baseCoin"):
            if query.get(key):
                rows = [row for row in rows if row.get(key) == query[key]]
        return rows
