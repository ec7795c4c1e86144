"""A position's stop-loss, as Bybit v5 keeps it: `POST /v5/position/trading-stop` sets, moves or
cancels it (`stopLoss` "0"), and the price reaching it closes the whole side at the market.

Only what a protective stop needs is simulated: tpslMode Full (the whole position), a market
close, any of Bybit's three trigger prices (the simulator's mark and index price are its last
price). Take-profits and trailing stops are refused rather than ignored. The checks follow
Bybit's: no stop on a side with no position (10001), a LONG stop below the price and a SHORT
stop above it (10001), and an unchanged stop "not modified" (34040). A price off the tick size
is refused too, stricter than Bybit may be, so that a client's rounding is checked.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from trading.engine import LONG, SHORT
from trading.exchange.simulator.account import (
    HEDGE,
    HEDGE_INDEX,
    Account,
    BybitError,
    Stop,
    position_index,
)

TRIGGERS = ("LastPrice", "MarkPrice", "IndexPrice")
CANCEL = Decimal(0)


def set_stop(account: Account, request: dict[str, Any], price: float) -> str:
    """Check a trading-stop request as Bybit does at the current `price`, then set, move or
    cancel the stop of the side it names; returns that side (LONG or SHORT)."""
    if request.get("tpslMode") != "Full":
        raise BybitError(10001, "tpslMode invalid: the simulator sets Full stops only.")
    for key in ("takeProfit", "trailingStop"):
        if str(request.get(key) or "0") != "0":
            raise BybitError(10001, f"The simulator sets stopLoss only, not {key}.")
    if request.get("slOrderType", "Market") != "Market":
        raise BybitError(10001, "slOrderType invalid: a Full stop closes at the market.")
    trigger_by = str(request.get("slTriggerBy") or "LastPrice")  # Bybit's default
    if trigger_by not in TRIGGERS:
        raise BybitError(10001, f"slTriggerBy invalid: one of {', '.join(TRIGGERS)}.")
    side = _side(account, request.get("positionIdx", 0))
    stop_price = _stop_price(account, request.get("stopLoss"))
    if not account.held(side):
        raise BybitError(10001, "can not set tp/sl/ts for zero position")
    current = account.stops.get(side)
    if stop_price == CANCEL:
        if current is None:
            raise BybitError(34040, "not modified")
        del account.stops[side]
        return side
    if current == Stop(stop_price, trigger_by):
        raise BybitError(34040, "not modified")
    base = Decimal(repr(price))
    if (side == LONG and stop_price >= base) or (side == SHORT and stop_price <= base):
        # Bybit writes both prices as scaled integers; the simulator writes them as prices.
        text = account.instrument.price_text
        position, should = ("Buy", "lower") if side == LONG else ("Sell", "higher")
        raise BybitError(
            10001,
            f"StopLoss:{text(float(stop_price))} set for {position} position should {should} "
            f"than base_price:{text(price)}??{trigger_by}",
        )
    account.stops[side] = Stop(stop_price, trigger_by)
    return side


def reached(account: Account, price: float) -> list[tuple[str, Stop]]:
    """The sides whose stop the price has reached (a LONG's at or below it, a SHORT's at or
    above it), with their stops."""
    last = Decimal(repr(price))
    return [
        (side, stop)
        for side, stop in account.stops.items()
        if account.held(side) and (last <= stop.price if side == LONG else last >= stop.price)
    ]


def _side(account: Account, value: Any) -> str:
    index = position_index(value)
    if account.mode == HEDGE:
        for side, hedge_index in HEDGE_INDEX.items():
            if index == hedge_index:
                return side
        raise BybitError(10001, "position idx not match position mode")
    if index != 0:
        raise BybitError(10001, "position idx not match position mode")
    held = [side for side in (LONG, SHORT) if account.held(side)]
    if not held:
        raise BybitError(10001, "can not set tp/sl/ts for zero position")
    return held[0]


def _stop_price(account: Account, text: Any) -> Decimal:
    if text is None or text == "":
        raise BybitError(10001, "stopLoss is required: a price, or 0 to cancel the stop.")
    try:
        price = Decimal(str(text))
    except InvalidOperation:
        raise BybitError(10001, "stopLoss invalid") from None
    tick = account.instrument.tick_size
    if not price.is_finite() or price < 0 or price % tick:
        raise BybitError(10001, f"stopLoss invalid: a multiple of the tick size {tick}, or 0.")
    return price
