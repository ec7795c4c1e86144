"""The stop-loss that rests on the exchange beside the bot's own, so that it holds if the bot dies.

One per held side, by the mark price, closing the whole side at the market once reached:
- Bybit: the position's own stop-loss (`/v5/position/trading-stop`, tpslMode Full). Setting it
  again replaces it, and Bybit drops it when the position closes.
- Binance USD-M: a STOP_MARKET order with `closePosition`, `positionSide` LONG or SHORT and
  `workingType` MARK_PRICE, through the algo order API (`/fapi/v1/algoOrder`): Binance takes
  conditional futures orders only there (`/fapi/v1/order` answers -4120), as ccxt does too.
- OKX: a conditional algo order (`/api/v5/trade/order-algo`) with `closeFraction` 1, `posSide`,
  `slTriggerPxType` mark and `slOrdPx` -1 (market), in the symbol's margin mode.

On Binance and OKX the stop is an order of its own under a client id made from the market and
the side (`stop_client_id`), so that it is found again after a restart. A new price cancels
the old order first and then places the new one: both exchanges hold one whole-position stop
per position side, and the id is reused, so placing first would be refused. For the moment
between the two the bot's own stop holds (it is running: it is the one asking); a placement
refused after the cancel returns its reason and the bot asks again later. A stop set by hand,
under another id, is never touched.
"""

from __future__ import annotations

import hashlib
import math
import re
from abc import ABC, abstractmethod
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

from trading.engine import LONG, SHORT
from trading.exchange.live import ALREADY_SO
from trading.exchange.sending import _errors, describe_error, order_side
from trading.numbers import plain

if TYPE_CHECKING:
    from trading.exchange.live import CcxtExchange

# The mark price: one stray trade on a thin book cannot fire the stop, and it is the price
# exchanges liquidate by. The bot's own stop reacts to trades first.
BYBIT_TRIGGER = "MarkPrice"
BINANCE_TRIGGER = "MARK_PRICE"
OKX_TRIGGER = "mark"

# The stop is gone already (cancelled, or fired) when the cancel arrives: Binance -2011
# (unknown order) and -2013 (does not exist), OKX 51400 (does not exist), 51401 (already
# cancelled), 51402 (already completed).
GONE_ANSWER = re.compile(r'"(?:code|sCode)"\s*:\s*"?(?:-2011|-2013|51400|51401|51402)"?\s*[,}]')
MAX_ID_LENGTH = 32


def stop_level(price: float, side: str, tick: object) -> Decimal:
    """A stop price on the market's tick (a step, as ccxt states it), rounded away from the
    position: down for a LONG, up for a SHORT. 0 for a price that is not one."""
    if not math.isfinite(price) or price <= 0:
        return Decimal(0)
    value = Decimal(repr(price))
    step = Decimal(str(tick)) if tick else Decimal(0)
    if step > 0:
        rounding = ROUND_FLOOR if side == LONG else ROUND_CEILING
        value = (value / step).to_integral_value(rounding=rounding) * step
    return value.normalize() if value > 0 else Decimal(0)


def stop_client_id(market_id: str, side: str) -> str:
    """The client id of a side's stop order: `SL`, `L` or `S`, the market id's letters and
    digits. It starts with an upper-case letter, where every entry and close id starts with
    the installation's prefix of lower-case letters and digits, so the two never meet. It names
    the position, not a decision: the stop belongs to the account's side of the market, and is
    found under the same id after a restart. At most 32 letters and digits."""
    body = re.sub(r"[^0-9A-Za-z]", "", market_id)
    cid = f"SL{side[0]}{body}"
    if len(cid) > MAX_ID_LENGTH:
        digest = hashlib.sha256(market_id.encode()).hexdigest()
        cid = f"SL{side[0]}{digest[: MAX_ID_LENGTH - 3]}"
    return cid


async def protect(
    exchange: CcxtExchange, symbol: str, side: str, stop_price: float | None
) -> str | None:
    """`CcxtExchange.protect`: see its docstring."""
    if side not in (LONG, SHORT):
        raise ValueError(f"The side is {LONG} or {SHORT}, not {side!r}.")
    keeper = KEEPERS.get(exchange.name)
    if keeper is None:
        return (
            f"A stop-loss on the exchange is not supported on {exchange.name}: the bot's own "
            "stop is the only one, and it holds only while the bot runs."
        )
    market = (exchange.client.markets or {}).get(symbol)
    if market is None:
        return f"{exchange.name} has no market {symbol} loaded."
    price: Decimal | None = None
    if stop_price is not None:
        price = stop_level(stop_price, side, (market.get("precision") or {}).get("price"))
        if price <= 0:
            return f"{stop_price!r} is no stop price: give a price above 0."
    ccxt = _errors()
    try:
        await keeper(exchange, market, side).set(price)
    except ccxt.BaseError as e:
        reason = describe_error(e)
        exchange.log.warning("stop-loss refused", symbol=symbol, side=side, error=reason)
        return reason
    if price is None:
        exchange.log.info("stop-loss removed", symbol=symbol, side=side)
    else:
        exchange.log.info("stop-loss set", symbol=symbol, side=side, stop_price=plain(price))
    return None


class StopKeeper(ABC):
    """One side's stop on one market of one exchange; `set(None)` removes it."""

    def __init__(self, exchange: CcxtExchange, market: dict[str, Any], side: str) -> None:
        self.exchange = exchange
        self.client = exchange.client
        self.market = market
        self.side = side

    async def call(self, method: str, request: Any) -> Any:
        # Paced with the lookups and settings, not the orders: a stop never holds an entry
        # or a close back.
        await self.exchange.queries.acquire()
        return await getattr(self.client, method)(request)

    @abstractmethod
    async def set(self, price: Decimal | None) -> None: ...


class BybitStop(StopKeeper):
    """The position's own stop-loss: one call sets, moves or (price "0") removes it."""

    async def set(self, price: Decimal | None) -> None:
        request = {
            "category": "linear",
            "symbol": self.market["id"],
            "positionIdx": 1 if self.side == LONG else 2,
            "tpslMode": "Full",
            "stopLoss": plain(price or 0),  # "0" cancels the stop
            "slTriggerBy": BYBIT_TRIGGER,
            "slOrderType": "Market",
        }
        ccxt = _errors()
        try:
            await self.call("privatePostV5PositionTradingStop", request)
        except ccxt.BaseError as e:
            text = str(e).lower()
            if any(words in text for words in ALREADY_SO):
                return  # unchanged
            if price is None and "zero position" in text:
                return  # a flat side has no stop left to remove
            raise


class StopOrder(StopKeeper):
    """A stop that is an order of its own, under the side's client id: the one held is kept
    when it is already so, else cancelled before the new one is placed."""

    @property
    def client_id(self) -> str:
        return stop_client_id(self.market["id"], self.side)

    async def set(self, price: Decimal | None) -> None:
        held = await self.held()
        if price is not None and len(held) == 1 and self.same(held[0], price):
            return
        ccxt = _errors()
        for order in held:
            try:
                await self.cancel(order)
            except ccxt.BaseError as e:
                if not isinstance(e, ccxt.OrderNotFound) and not GONE_ANSWER.search(str(e)):
                    raise
        if price is not None:
            await self.place(price)

    @abstractmethod
    async def held(self) -> list[dict[str, Any]]:
        """The side's open stop orders under its client id."""

    @abstractmethod
    def same(self, order: dict[str, Any], price: Decimal) -> bool:
        """Whether the order held stops at `price` already."""

    @abstractmethod
    async def cancel(self, order: dict[str, Any]) -> None: ...

    @abstractmethod
    async def place(self, price: Decimal) -> None: ...


class BinanceStop(StopOrder):
    """A conditional STOP_MARKET algo order closing the whole position side (Binance USD-M)."""

    async def held(self) -> list[dict[str, Any]]:
        request = {"symbol": self.market["id"], "algoType": "CONDITIONAL"}
        rows = await self.call("fapiPrivateGetOpenAlgoOrders", request)
        return [row for row in rows or [] if row.get("clientAlgoId") == self.client_id]

    def same(self, order: dict[str, Any], price: Decimal) -> bool:
        return (
            order.get("orderType") == "STOP_MARKET"
            and order.get("positionSide") == self.side
            and str(order.get("closePosition")).lower() == "true"
            and order.get("workingType") == BINANCE_TRIGGER
            and Decimal(str(order.get("triggerPrice") or 0)) == price
        )

    async def cancel(self, order: dict[str, Any]) -> None:
        await self.call("fapiPrivateDeleteAlgoOrder", {"algoId": order["algoId"]})

    async def place(self, price: Decimal) -> None:
        request = {
            "algoType": "CONDITIONAL",
            "symbol": self.market["id"],
            "side": order_side(self.side, "close").upper(),
            "positionSide": self.side,
            "type": "STOP_MARKET",
            "triggerPrice": plain(price),
            "workingType": BINANCE_TRIGGER,
            "closePosition": "true",  # the whole side; no quantity, no reduce-only flag
            "clientAlgoId": self.client_id,
        }
        await self.call("fapiPrivatePostAlgoOrder", request)


class OkxStop(StopOrder):
    """A conditional stop-loss algo order closing the whole position side (OKX)."""

    async def held(self) -> list[dict[str, Any]]:
        request = {"ordType": "conditional", "instType": "SWAP", "instId": self.market["id"]}
        answer = await self.call("privateGetTradeOrdersAlgoPending", request)
        rows = answer.get("data") or []
        return [row for row in rows if row.get("algoClOrdId") == self.client_id]

    def same(self, order: dict[str, Any], price: Decimal) -> bool:
        return (
            order.get("posSide") == self.side.lower()
            and order.get("closeFraction") == "1"
            and order.get("slTriggerPxType") == OKX_TRIGGER
            and order.get("slOrdPx") == "-1"
            and Decimal(str(order.get("slTriggerPx") or 0)) == price
        )

    async def cancel(self, order: dict[str, Any]) -> None:
        # A list: the endpoint cancels a batch.
        await self.call(
            "privatePostTradeCancelAlgos",
            [{"algoId": order["algoId"], "instId": self.market["id"]}],
        )

    async def place(self, price: Decimal) -> None:
        setup = self.exchange.setups.get(self.market["symbol"])
        request = {
            "instId": self.market["id"],
            "tdMode": setup.margin_mode if setup else "isolated",
            "side": order_side(self.side, "close"),
            "posSide": self.side.lower(),
            "ordType": "conditional",
            "slTriggerPx": plain(price),
            "slTriggerPxType": OKX_TRIGGER,
            "slOrdPx": "-1",  # at the market
            "closeFraction": "1",  # the whole side, whatever its size then
            "reduceOnly": True,
            "algoClOrdId": self.client_id,
        }
        await self.call("privatePostTradeOrderAlgo", request)


KEEPERS: dict[str, type[StopKeeper]] = {
    "bybit": BybitStop,
    "binanceusdm": BinanceStop,
    "okx": OkxStop,
}
