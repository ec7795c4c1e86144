"""Bybit v5's JSON shapes: the REST envelope and the order, execution, position, wallet,
ticker, trade and order-book records, as ccxt's bybit class parses them.

Numbers are strings, as Bybit writes them: prices with the instrument's price scale,
quantities with its quantity step, money with 8 decimals. Records on the private websocket
carry `category`; REST records do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trading.engine import LONG
from trading.exchange.simulator.account import Account, Fill, FundingCharge, Order, SideBook
from trading.exchange.simulator.market import MarketState, Tick, now_ms
from trading.numbers import plain

CATEGORY = "linear"
TICKER_DELTA_KEYS = (
    "symbol",
    "tickDirection",
    "lastPrice",
    "markPrice",
    "indexPrice",
    "bid1Price",
    "bid1Size",
    "ask1Price",
    "ask1Size",
    "highPrice24h",
    "lowPrice24h",
    "price24hPcnt",
    "volume24h",
    "turnover24h",
)


def money(value: float) -> str:
    return f"{value:.8f}"


def envelope(
    result: Any, code: int = 0, message: str = "OK", ext: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "retCode": code,
        "retMsg": message,
        "result": result if result is not None else {},
        "retExtInfo": ext or {},
        "time": now_ms(),
    }


@dataclass(frozen=True, slots=True)
class Extended:
    """A handler's result with a `retExtInfo` of its own: a batch's codes, order by order."""

    result: dict[str, Any]
    ext: dict[str, Any]


def order_record(order: Order, account: Account, *, pushed: bool = False) -> dict[str, Any]:
    instrument = account.instrument
    stop = order.stop
    record = {
        "orderId": order.order_id,
        "orderLinkId": order.order_link_id,
        "blockTradeId": "",
        "symbol": instrument.symbol,
        "price": instrument.price_text(order.avg_price),
        "qty": instrument.qty_text(order.qty),
        "side": order.side,
        "isLeverage": "",
        "positionIdx": order.position_idx,
        "orderStatus": "Filled",
        "createType": order.create_type,
        "cancelType": "UNKNOWN",
        "rejectReason": "EC_NoError",
        "avgPrice": instrument.price_text(order.avg_price),
        "leavesQty": "0",
        "leavesValue": "0",
        "cumExecQty": instrument.qty_text(order.filled_qty),
        "cumExecValue": money(order.value),
        "cumExecFee": money(order.fee),
        "cumFeeDetail": {"USDT": money(order.fee)},
        "timeInForce": "IOC",
        "orderType": "Market",
        "stopOrderType": "StopLoss" if stop else "",
        "orderIv": "",
        "triggerPrice": instrument.price_text(float(stop.price)) if stop else "",
        "takeProfit": "",
        "stopLoss": "",
        "tpslMode": "",
        "tpLimitPrice": "",
        "slLimitPrice": "",
        "tpTriggerBy": "",
        "slTriggerBy": "",
        "triggerDirection": 0,
        "triggerBy": stop.trigger_by if stop else "",
        "lastPriceOnCreated": instrument.price_text(order.last_price),
        "reduceOnly": order.reduce_only,
        "closeOnTrigger": False,
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "placeType": "",
        "createdTime": str(order.created_ms),
        "updatedTime": str(order.created_ms),
    }
    if pushed:
        record["category"] = CATEGORY
    return record


def execution_record(
    order: Order, fill: Fill, account: Account, mark: float, *, pushed: bool = False
) -> dict[str, Any]:
    instrument = account.instrument
    record = {
        "symbol": instrument.symbol,
        "orderId": order.order_id,
        "orderLinkId": order.order_link_id,
        "side": order.side,
        "orderPrice": instrument.price_text(order.avg_price),
        "orderQty": instrument.qty_text(order.qty),
        "leavesQty": "0",
        "createType": order.create_type,
        "orderType": "Market",
        "stopOrderType": "StopLoss" if order.stop else "",
        "execFee": money(fill.fee),
        "feeCurrency": "USDT",
        "execId": fill.exec_id,
        "execPrice": instrument.price_text(fill.price),
        "execQty": instrument.qty_text(fill.qty),
        "execType": "Trade",
        "execValue": money(float(fill.qty) * fill.price),
        "execTime": str(order.created_ms),
        "isMaker": False,
        "feeRate": str(account.fee_rate),
        "tradeIv": "",
        "markIv": "",
        "markPrice": instrument.price_text(mark),
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": instrument.qty_text(fill.qty) if fill.action == "close" else "0",
        "seq": 0,
    }
    if pushed:
        record["category"] = CATEGORY
    return record


def funding_record(charge: FundingCharge, account: Account) -> dict[str, Any]:
    """A funding settlement as `/v5/execution/list` lists it (execType Funding): the position's
    side (Buy for a long), its size and value at the mark price, the rate as `feeRate`, and as
    `execFee` the value times the rate, whatever the side."""
    instrument = account.instrument
    value = float(charge.qty) * charge.mark
    side = "Buy" if charge.side == LONG else "Sell"
    return {
        "symbol": instrument.symbol,
        "orderId": f"{charge.time_ms // 1000}-{instrument.symbol}-{side}",
        "orderLinkId": "",
        "side": side,
        "orderPrice": "0",
        "orderQty": "0",
        "leavesQty": "0",
        "createType": "",
        "orderType": "UNKNOWN",
        "stopOrderType": "UNKNOWN",
        "execFee": money(value * charge.rate),
        "feeCurrency": "",
        "execId": charge.exec_id,
        "execPrice": instrument.price_text(charge.mark),
        "execQty": instrument.qty_text(charge.qty),
        "execType": "Funding",
        "execValue": money(value),
        "execTime": str(charge.time_ms),
        "isMaker": False,
        "feeRate": plain(charge.rate),
        "tradeIv": "",
        "markIv": "",
        "markPrice": instrument.price_text(charge.mark),
        "indexPrice": "",
        "underlyingPrice": "",
        "blockTradeId": "",
        "closedSize": "0",
        "seq": 0,
    }


def position_record(
    account: Account, index: int, side: str | None, mark: float, *, pushed: bool = False
) -> dict[str, Any]:
    """A position as `/v5/position/list` and the `position` topic show it; `side` None is the
    flat one-way slot."""
    instrument = account.instrument
    book = account.books[side] if side else SideBook()
    held = account.position(side) if side else None
    size = held.size if held else 0.0
    entry = held.entry_price if held and size else 0.0
    value = size * entry
    margin = value / float(account.leverage)
    stop = account.stops.get(side) if side else None
    record = {
        "positionIdx": index,
        "riskId": 1,
        "riskLimitValue": "2000000",
        "symbol": instrument.symbol,
        "side": ("Buy" if side == LONG else "Sell") if size else "",
        "size": instrument.qty_text(size),
        "avgPrice": instrument.price_text(entry),
        "positionValue": money(value),
        "tradeMode": 0,
        "positionStatus": "Normal",
        "autoAddMargin": 0,
        "adlRankIndicator": 2 if size else 0,
        "leverage": str(account.leverage),
        "positionBalance": money(margin),
        "markPrice": instrument.price_text(mark),
        "liqPrice": "",
        "bustPrice": "",
        "positionIM": money(margin),
        "tpslMode": "Full",
        "takeProfit": "",
        "stopLoss": instrument.price_text(float(stop.price)) if stop else "",
        "trailingStop": "0",
        "unrealisedPnl": money(held.unrealized(side, mark) if held and side else 0.0),
        "curRealisedPnl": money(book.cur_realised),
        "cumRealisedPnl": money(book.cum_realised),
        "sessionAvgPrice": "",
        "isReduceOnly": False,
        "createdTime": str(book.created_ms),
        "updatedTime": str(book.updated_ms),
        "seq": 0,
    }
    if pushed:
        record["category"] = CATEGORY
        record["entryPrice"] = record["avgPrice"]
    return record


def wallet_record(account: Account, mark: float) -> dict[str, Any]:
    """The unified account's one coin, USDT, as `/v5/account/wallet-balance` lists it."""
    wallet = account.wallet_balance()
    upnl = account.unrealised(mark)
    margin = account.position_margin()
    coin = {
        "coin": "USDT",
        "equity": money(wallet + upnl),
        "usdValue": money(wallet + upnl),
        "walletBalance": money(wallet),
        "free": "",
        "locked": "0",
        "spotHedgingQty": "0",
        "borrowAmount": "",
        "availableToWithdraw": "",
        "availableToBorrow": "",
        "accruedInterest": "",
        "totalOrderIM": "0",
        "totalPositionIM": money(margin),
        "totalPositionMM": "0",
        "unrealisedPnl": money(upnl),
        "cumRealisedPnl": money(sum(b.cum_realised for b in account.books.values())),
        "bonus": "0",
        "marginCollateral": True,
        "collateralSwitch": True,
    }
    return {
        "accountType": "UNIFIED",
        "accountLTV": "0",
        "accountIMRate": money(margin / (wallet + upnl)) if wallet + upnl > 0 else "0",
        "accountMMRate": "0",
        "totalEquity": coin["equity"],
        "totalWalletBalance": coin["walletBalance"],
        "totalMarginBalance": coin["equity"],
        "totalAvailableBalance": money(account.available(mark)),
        "totalPerpUPL": coin["unrealisedPnl"],
        "totalInitialMargin": coin["totalPositionIM"],
        "totalMaintenanceMargin": "0",
        "coin": [coin],
    }


def ticker_record(market: MarketState) -> dict[str, Any]:
    """The full ticker (a snapshot); `ticker_delta` keeps the fields a trade changes. The
    quote sizes say "any market order fills here": the largest market order allowed."""
    instrument = market.instrument
    quote = market.quote()
    depth = instrument.qty_text(instrument.max_market_qty)
    last = instrument.price_text(market.last)
    return {
        "symbol": instrument.symbol,
        "tickDirection": market.direction,
        "price24hPcnt": f"{market.last / market.open - 1:.6f}",
        "lastPrice": last,
        "prevPrice24h": instrument.price_text(market.open),
        "highPrice24h": instrument.price_text(market.high),
        "lowPrice24h": instrument.price_text(market.low),
        "prevPrice1h": instrument.price_text(market.open),
        "markPrice": last,
        "indexPrice": last,
        "openInterest": "0",
        "openInterestValue": "0.00",
        "turnover24h": f"{market.turnover:.4f}",
        "volume24h": f"{market.volume:.4f}",
        "fundingRate": plain(market.funding_rate),
        "nextFundingTime": str(market.next_funding_ms(now_ms())),
        "bid1Price": instrument.price_text(quote.bid),
        "bid1Size": depth,
        "ask1Price": instrument.price_text(quote.ask),
        "ask1Size": depth,
        "deliveryTime": "0",
        "predictedDeliveryPrice": "",
        "basisRate": "",
        "deliveryFeeRate": "",
        "basis": "",
    }


def ticker_delta(market: MarketState) -> dict[str, Any]:
    full = ticker_record(market)
    return {key: full[key] for key in TICKER_DELTA_KEYS}


def trade_record(tick: Tick, market: MarketState, trade_id: str) -> dict[str, Any]:
    instrument = market.instrument
    return {
        "T": tick.ts,
        "s": instrument.symbol,
        "S": "Buy" if tick.qty > 0 else "Sell",
        "v": instrument.qty_text(abs(tick.qty)),
        "p": instrument.price_text(tick.price),
        "L": market.direction,
        "i": trade_id,
        "BT": False,
        "RPI": False,
        "seq": market.seq,
    }


def book_record(market: MarketState) -> dict[str, Any]:
    instrument = market.instrument
    quote = market.quote()
    depth = instrument.qty_text(instrument.max_market_qty)
    return {
        "s": instrument.symbol,
        "b": [[instrument.price_text(quote.bid), depth]],
        "a": [[instrument.price_text(quote.ask), depth]],
        "u": market.seq,
        "seq": market.seq,
    }


def page(rows: list[Any], query: dict[str, Any], *, default: int, maximum: int) -> dict[str, Any]:
    """`limit` rows from `cursor` with the cursor of the next page ("" on the last one), as
    Bybit's list endpoints answer. The cursor is an offset here; clients treat it as opaque."""
    limit = max(1, min(_int(query.get("limit"), default), maximum))
    start = max(0, _int(query.get("cursor"), 0))
    end = start + limit
    return {"list": rows[start:end], "nextPageCursor": str(end) if end < len(rows) else ""}


def _int(text: Any, default: int) -> int:
    try:
        return int(str(text)) if text not in (None, "") else default
    except ValueError:
        return default
