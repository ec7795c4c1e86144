"""Real accounts through ccxt: Bybit, Binance USD-M and OKX linear USDT perpetuals, hedge mode.

`CcxtExchange` is the live side of the one exchange interface (`base.Exchange`):
- `connect` loads the linear markets, stores their order rules for the level form, and sets
  each traded symbol to hedge mode with the levels' margin mode and leverage. A symbol the
  account cannot switch stays off, with the exchange's reason.
- Orders (`place_order`, `place_orders`, `find_order`) are `sending.CcxtOrders`: checked,
  paced, sent under the client id whose intent is already written, and looked up by that id
  when their outcome is unclear, never sent twice.
- `protect` rests a side's stop-loss on the exchange; positions, free margin and funding are
  read through ccxt, and the private streams followed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import structlog

from trading.engine import LONG, SHORT
from trading.exchange.accounts import AccountConfig, make_client
from trading.exchange.base import (
    FundingSettlement,
    PositionInfo,
)
from trading.exchange.funding import funding_settlement
from trading.exchange.markets import MarketRules
from trading.exchange.ratelimit import TokenBucket
from trading.exchange.sending import (
    CcxtOrders,
    _errors,
    describe_error,
)
from trading.exchange.streams import OrderWaiters, follow
from trading.notify.notification import settle_currency

log = structlog.get_logger("levelbot.exchange")

# An exchange's "it is already so" answers to a settings call, as their texts say them.
ALREADY_SO = ("not modified", "no need to change")


class SymbolSetupError(Exception):
    """The account cannot trade this symbol as levelbot needs; the message says why."""


@dataclass(frozen=True)
class SymbolSetup:
    """How the levels of one symbol want it traded."""

    symbol: str
    leverage: int
    margin_mode: str  # isolated or cross


class CcxtExchange(CcxtOrders):
    def __init__(self, config: AccountConfig, *, client: Any = None) -> None:
        self.config = config
        self.name = config.exchange
        self.client = client if client is not None else make_client(config)
        # Orders and every other private call (settings, lookups, positions, balance) are
        # paced apart, as exchanges limit them apart: lookups never hold an order back.
        self.bucket = TokenBucket.for_exchange(config.exchange)
        self.queries = TokenBucket.for_exchange(config.exchange, queries=True)
        self.rules: dict[str, MarketRules] = {}
        self.waiters = OrderWaiters()
        self.setups: dict[str, SymbolSetup] = {}
        self.quotes: dict[str, tuple[float, float]] = {}  # symbol -> (bid, ask), from the feed
        self.max_spread_bps: float | None = None
        self.max_slippage_bps: float | None = None
        self.log = log.bind(exchange=self.name, venue=config.venue)

    # -- start-up ------------------------------------------------------------------------

    async def load_rules(self) -> dict[str, MarketRules]:
        """The linear USDT perpetuals' order rules, by unified symbol."""
        markets = await self.client.load_markets()
        self.rules = {
            symbol: MarketRules.from_ccxt(self.name, market)
            for symbol, market in markets.items()
            if market.get("swap")
            and market.get("linear")
            and market.get("settle") == "USDT"
            and market.get("active") is not False
        }
        return self.rules

    async def prepare(self, setup: SymbolSetup) -> None:
        """Hedge mode, margin mode and leverage for one symbol. "Already so" answers are fine;
        any other refusal raises SymbolSetupError with the exchange's reason."""
        ccxt = _errors()
        if setup.symbol not in self.rules:
            raise SymbolSetupError(
                f"{self.name} has no linear USDT perpetual {setup.symbol}: check the symbol."
            )
        rules = self.rules[setup.symbol]
        if rules.max_leverage is not None and setup.leverage > rules.max_leverage:
            raise SymbolSetupError(
                f"Leverage {setup.leverage} is above {self.name}'s maximum of "
                f"{rules.max_leverage} for {setup.symbol}."
            )
        for what, call, args, params in self._setup_steps(setup):
            await self.queries.acquire()
            try:
                await call(*args, params)
            except (ccxt.NoChange, ccxt.MarginModeAlreadySet):
                pass
            except ccxt.BaseError as e:
                if not any(words in str(e).lower() for words in ALREADY_SO):
                    raise SymbolSetupError(
                        f"{setup.symbol}: cannot set {what}: {describe_error(e)}"
                    ) from None
        self.setups[setup.symbol] = setup
        self.log.info(
            "symbol ready",
            symbol=setup.symbol,
            leverage=setup.leverage,
            margin_mode=setup.margin_mode,
        )

    def _setup_steps(self, setup: SymbolSetup) -> list[tuple[str, Any, tuple[Any, ...], dict]]:
        """(what, call, args, params) to put a symbol in hedge mode with its margin mode and
        leverage. OKX sets the margin mode with the leverage (its margin-mode call needs the
        leverage too), once per position side when isolated."""
        client, symbol = self.client, setup.symbol
        steps: list[tuple[str, Any, tuple[Any, ...], dict]] = [
            ("hedge mode", client.set_position_mode, (True, symbol), {})
        ]
        if self.name != "okx":
            steps.append(("margin mode", client.set_margin_mode, (setup.margin_mode, symbol), {}))
            steps.append(("leverage", client.set_leverage, (setup.leverage, symbol), {}))
        elif setup.margin_mode == "isolated":
            for pos_side in ("long", "short"):
                params = {"marginMode": "isolated", "posSide": pos_side}
                steps.append(("leverage", client.set_leverage, (setup.leverage, symbol), params))
        else:
            params = {"marginMode": "cross"}
            steps.append(("leverage", client.set_leverage, (setup.leverage, symbol), params))
        return steps

    # -- the stop-loss on the exchange ---------------------------------------------------

    async def protect(self, symbol: str, side: str, stop_price: float | None) -> str | None:
        """Rest a stop-loss for one side's position on the exchange, so that it holds if the
        bot dies; `stop_price` None removes it. The price goes to the market's tick, away from
        the position (down for a LONG, up for a SHORT): never tighter than asked. A call
        replaces the side's previous stop: there is never more than one.

        Returns None once the exchange holds it so (an unchanged stop, or a removal from a
        side already flat, included), else the reason in one line: a refusal never raises,
        the bot keeps its own stop either way. Each exchange holds it its own way, by the
        mark price, closing the whole side at the market (`trading.exchange.stops`): Bybit
        as the position's own stop-loss, Binance USD-M as a closePosition STOP_MARKET order,
        OKX as a conditional algo order with closeFraction 1."""
        from trading.exchange import stops  # it builds on this module's helpers

        return await stops.protect(self, symbol, side, stop_price)

    # -- positions -----------------------------------------------------------------------

    async def positions(self, symbol: str) -> dict[str, PositionInfo]:
        await self.queries.acquire()
        rules = self.rules.get(symbol)
        contract = float(rules.contract_size) if rules else 1.0
        held: dict[str, PositionInfo] = {}
        for row in await self.client.fetch_positions([symbol]):
            size = float(row.get("contracts") or 0) * contract
            side = {"long": LONG, "short": SHORT}.get(str(row.get("side")))
            if side is None or size <= 0:
                continue
            held[side] = PositionInfo(
                side,
                size,
                float(row.get("entryPrice") or 0),
                float(row.get("unrealizedPnl") or 0),
            )
        return held

    async def watch_account(self, on_change: Callable[[set[str]], Awaitable[None]]) -> None:
        """Follow the account's private streams until cancelled: positions (`on_change` hears
        the symbols whose positions moved: a fill, a liquidation, a close by hand; it only
        says where to look, the positions themselves are read over REST, the source of truth)
        and, where the exchange streams them, orders (settling the orders on their way)."""

        async def moved(updates: list[dict[str, Any]]) -> None:
            symbols = {str(p.get("symbol")) for p in updates if p.get("symbol")}
            if symbols:
                await on_change(symbols)

        streams = [follow(self.client.watch_positions, moved, name="position stream", log=self.log)]
        if self.client.has.get("watchOrders"):
            streams.append(
                follow(
                    self.client.watch_orders,
                    self._orders_told,
                    name="order stream",
                    log=self.log,
                    on_state=self._order_stream_up,
                )
            )
        await asyncio.gather(*streams)

    async def _orders_told(self, orders: list[dict[str, Any]]) -> None:
        for order in orders:
            cid = str(order.get("clientOrderId") or "")
            symbol = str(order.get("symbol") or "")
            if cid in self.waiters.waiting:
                result = self._result(order, cid, symbol)
                if result is not None:
                    self.waiters.settle(result)

    def _order_stream_up(self, up: bool) -> None:
        self.waiters.live = up

    async def free_margin(self, symbol: str) -> float | None:
        """The account's free balance in the symbol's settle currency (USDT), over REST."""
        if symbol not in self.rules:
            return None
        await self.queries.acquire()
        balance = await self.client.fetch_balance()
        free = (balance.get(settle_currency(symbol)) or {}).get("free")
        return None if free is None else float(free)

    # -- funding -------------------------------------------------------------------------

    async def funding_settlements(self, symbol: str, since_ms: int) -> list[FundingSettlement]:
        """The funding the exchange settled on the account's positions of `symbol` from
        `since_ms` on, oldest first, through ccxt's `fetch_funding_history` (Bybit: executions
        of type Funding, every page; Binance USD-M: income FUNDING_FEE; OKX: bills of type 8).
        Raises ccxt's errors: the caller tries again later."""
        await self.queries.acquire()
        # Bybit lists newest first, a page at a time: read every page back to `since_ms`.
        params = {"paginate": True} if self.name == "bybit" else {}
        rows = await self.client.fetch_funding_history(symbol, since_ms, None, params)
        found = (funding_settlement(row) for row in rows if row.get("symbol") == symbol)
        # Pages of a list that grew while it was read may repeat a row: one each.
        unique = {s.settlement_id: s for s in found if s is not None}
        return sorted(unique.values(), key=lambda s: s.ts_ms)

    async def close(self) -> None:
        await self.client.close()


def setups_for(levels: Iterable[Any]) -> dict[str, SymbolSetup]:
    """One setup per symbol from its levels: the lowest leverage any level asks for (an
    exchange holds one per symbol, and less leverage is the safer reading), and isolated
    margin unless every level asks for cross."""
    by_symbol: dict[str, list[Any]] = {}
    for level in levels:
        by_symbol.setdefault(level.symbol, []).append(level)
    return {
        symbol: SymbolSetup(
            symbol,
            min(level.leverage for level in group),
            "cross" if all(level.margin_type == "cross" for level in group) else "isolated",
        )
        for symbol, group in by_symbol.items()
    }
