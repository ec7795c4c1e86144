"""What an exchange lets one order be on a market: its amount step, minimum amount and minimum
notional, in base units.

One `MarketRules` serves both places that need it: the level form, which refuses a level whose
orders the exchange would refuse, and the live adapter, which checks and rounds every order
before it is sent. Exchanges that trade contracts (OKX swaps: 0.01 BTC a contract) state their
rules in contracts; `from_ccxt` turns them into base units with the market's `contractSize`,
and `to_contracts` turns an order back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from trading.numbers import plain


def _decimal(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    number = Decimal(str(value))
    return number if number > 0 else None


@dataclass(frozen=True, slots=True)
class MarketRules:
    exchange: str
    symbol: str  # unified, BTC/USDT:USDT
    market_id: str  # the exchange's own, BTCUSDT
    amount_step: Decimal | None = None  # base units
    min_amount: Decimal | None = None  # base units
    min_notional: Decimal | None = None  # quote currency
    contract_size: Decimal = Decimal(1)  # base units in one contract
    max_leverage: int | None = None

    @classmethod
    def from_ccxt(cls, exchange: str, market: dict[str, object]) -> MarketRules:
        """From a ccxt market (`load_markets`); ccxt states amounts in contracts for contract
        markets, with the precision as a step (TICK_SIZE mode, as every supported exchange)."""
        contract = _decimal(market.get("contractSize")) or Decimal(1)
        limits: dict[str, dict[str, object]] = market.get("limits") or {}  # type: ignore[assignment]
        precision: dict[str, object] = market.get("precision") or {}  # type: ignore[assignment]
        step = _decimal(precision.get("amount"))
        minimum = _decimal((limits.get("amount") or {}).get("min"))
        leverage = _decimal((limits.get("leverage") or {}).get("max"))
        return cls(
            exchange=exchange,
            symbol=str(market["symbol"]),
            market_id=str(market["id"]),
            amount_step=step * contract if step else None,
            min_amount=minimum * contract if minimum else None,
            min_notional=_decimal((limits.get("cost") or {}).get("min")),
            contract_size=contract,
            max_leverage=int(leverage) if leverage else None,
        )

    def round_amount(self, size: Decimal) -> Decimal:
        """The size the exchange can take, rounded down to the amount step (never up: an
        order never exceeds what the rules asked for)."""
        if self.amount_step is None:
            return size
        steps = (size / self.amount_step).to_integral_value(rounding=ROUND_DOWN)
        return (steps * self.amount_step).normalize()

    def to_contracts(self, size: Decimal) -> Decimal:
        return (size / self.contract_size).normalize()

    def problem(self, size: Decimal, price: Decimal) -> str | None:
        """Why an order of `size` base units at `price` would be refused, or None."""
        rounded = self.round_amount(size)
        if self.min_amount is not None and rounded < self.min_amount:
            return (
                f"{plain(size)} is below the minimum order of {plain(self.min_amount)} "
                f"on {self.exchange} {self.symbol}."
            )
        if rounded <= 0:
            return f"{plain(size)} rounds to nothing on {self.exchange} {self.symbol}."
        if self.min_notional is not None and rounded * price < self.min_notional:
            return (
                f"{plain(rounded)} at {plain(price)} is worth {plain(rounded * price)}, below "
                f"the minimum order value of {plain(self.min_notional)} on {self.exchange}."
            )
        return None

    def level_problems(self, base_size: Decimal, lowest_price: Decimal) -> list[str]:
        """Why a level's orders would be refused. Its smallest order is the base size (tier 1;
        tiers 2 and 3 add 1x and 2x), so the base size must be a whole number of amount steps
        and tradable at the lowest price an entry fires at (the long side's tier 1)."""
        problems = []
        if self.amount_step is not None and self.round_amount(base_size) != base_size:
            problems.append(
                f"{plain(base_size)} is not a multiple of the amount step "
                f"{plain(self.amount_step)} on {self.exchange} {self.symbol}."
            )
        problem = self.problem(base_size, lowest_price)
        if problem is not None:
            problems.append(problem)
        return problems


def by_symbol(rules: Iterable[MarketRules]) -> dict[str, MarketRules]:
    return {r.symbol: r for r in rules}
