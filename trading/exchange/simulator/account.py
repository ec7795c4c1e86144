"""One simulated Bybit unified account trading one linear symbol: settings, checks and fills.

Plain Python, no I/O. Orders are market orders that fill at once, in full, at the quote (buys at
the ask, sells at the bid), through the same `Ledger` as the backtest and the paper exchange:
one aggregate position per side with an average entry price, fees on every fill, PnL realized
on closes. An order the account refuses raises `BybitError` with Bybit's retCode and message,
so that ccxt raises the exception it would raise against the real exchange.

Position modes, as on Bybit: one-way (`positionIdx` 0, the default of a new account) nets buys
against sells; hedge (`positionIdx` 1 long, 2 short) keeps both sides, where the opposite
order on a side closes it. Closes larger than the position are cut to it; closes of nothing
are refused.

Margin is one pool: an opening order needs notional / leverage plus its fee out of equity less
the margin of the positions held. The margin mode is recorded and answered, not simulated:
there are no liquidations (`close_side` plays one) and no maintenance margin. Funding is
settled when the simulator calls `settle_funding` at a funding time: each open side pays or
receives its value at the mark price times the rate, counted in its realized PnL and the
wallet, as on Bybit.

Each side may hold a stop-loss (`stops`, set through `stops.set_stop`); `close_side` with the
stop closes the side when the price reaches it, and a side that goes flat loses its stop, as
Bybit cancels a position's stop with the position.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from trading.accounting import Ledger, SidePosition
from trading.engine import LONG, SHORT
from trading.exchange.simulator.instruments import Instrument
from trading.exchange.simulator.market import Quote

OPEN = "open"
CLOSE = "close"
ONE_WAY, HEDGE = 0, 3  # Bybit's position mode numbers
MARGIN_MODES = ("REGULAR_MARGIN", "ISOLATED_MARGIN", "PORTFOLIO_MARGIN")
HEDGE_INDEX = {LONG: 1, SHORT: 2}
MAX_LINK_ID = 36


@dataclass(frozen=True, slots=True)
class Stop:
    """A position's stop-loss (tpslMode Full): the whole side closes at the market once the
    price reaches `price`."""

    price: Decimal
    trigger_by: str  # LastPrice, MarkPrice or IndexPrice: one and the same price here


class BybitError(Exception):
    """A refusal, as Bybit answers it: a retCode and its message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Fill:
    exec_id: str
    side: str  # LONG or SHORT: the position the fill changed
    action: str  # OPEN or CLOSE
    qty: Decimal
    price: float
    fee: float
    realized_pnl: float


@dataclass(frozen=True, slots=True)
class FundingCharge:
    """One side's funding at one funding time."""

    exec_id: str
    side: str  # LONG or SHORT
    qty: Decimal  # the position held
    mark: float
    rate: float
    amount: float  # received above 0, paid below 0
    time_ms: int


@dataclass(slots=True)
class Order:
    """An accepted order; it filled the moment it was accepted."""

    order_id: str
    order_link_id: str
    side: str  # Bybit's Buy or Sell
    position_idx: int
    qty: Decimal
    reduce_only: bool
    created_ms: int
    last_price: float
    create_type: str = "CreateByUser"
    stop: Stop | None = None  # the stop-loss that triggered it, if one did
    # Bybit's slippage tolerance ("Percent", "0.5"), recorded as sent; the simulator fills at
    # its quote, so it never reaches it.
    slippage_tolerance: tuple[str, str] | None = None
    fills: list[Fill] = field(default_factory=list)

    @property
    def filled_qty(self) -> Decimal:
        return sum((f.qty for f in self.fills), Decimal(0))

    @property
    def value(self) -> float:
        return sum(float(f.qty) * f.price for f in self.fills)

    @property
    def fee(self) -> float:
        return sum(f.fee for f in self.fills)

    @property
    def avg_price(self) -> float:
        filled = float(self.filled_qty)
        return self.value / filled if filled else 0.0


@dataclass(slots=True)
class SideBook:
    """What Bybit reports of a position beyond the ledger: its realized PnL net of fees (since
    it opened, and ever) and when it was created and last changed."""

    cur_realised: float = 0.0
    cum_realised: float = 0.0
    created_ms: int = 0
    updated_ms: int = 0


class Account:
    def __init__(
        self, instrument: Instrument, *, balance: float, fee_rate: float, now: int
    ) -> None:
        self.instrument = instrument
        self.deposit = balance
        self.fee_rate = fee_rate
        self.ledger = Ledger(fee_rate=fee_rate)
        self.mode = ONE_WAY
        self.margin_mode = "REGULAR_MARGIN"
        self.leverage = Decimal(10)
        self.orders: list[Order] = []
        self._by_link_id: dict[str, Order] = {}
        self.books = {LONG: SideBook(created_ms=now), SHORT: SideBook(created_ms=now)}
        self.stops: dict[str, Stop] = {}  # LONG/SHORT -> its stop-loss, where one is set
        self.fundings: list[FundingCharge] = []  # oldest first

    # Settings -------------------------------------------------------------------------------

    def switch_mode(self, mode: Any) -> None:
        if str(mode) not in (str(ONE_WAY), str(HEDGE)):
            raise BybitError(10001, "mode invalid: 0 is one-way, 3 is hedge.")
        if int(mode) == self.mode:
            raise BybitError(110025, "Position mode is not modified")
        if any(self.held(side) for side in (LONG, SHORT)):
            raise BybitError(
                110024, "You have an existing position, so position mode cannot be switched"
            )
        self.mode = int(mode)

    def set_leverage(self, buy: Any, sell: Any) -> None:
        leverage = _decimal(buy, "buyLeverage")
        if leverage != _decimal(sell, "sellLeverage"):
            raise BybitError(10001, "buyLeverage must equal sellLeverage on a unified account.")
        low, high = self.instrument.min_leverage, self.instrument.max_leverage
        if not low <= leverage <= high:
            raise BybitError(10001, f"leverage invalid: it must be from {low} to {high}.")
        if leverage == self.leverage:
            raise BybitError(110043, "Set leverage not modified")
        self.leverage = leverage

    def set_margin_mode(self, mode: Any) -> None:
        if mode not in MARGIN_MODES:
            raise BybitError(10001, f"setMarginMode invalid: one of {', '.join(MARGIN_MODES)}.")
        if mode == self.margin_mode:
            raise BybitError(110026, "Cross/isolated margin mode is not modified")
        self.margin_mode = mode

    # Money ----------------------------------------------------------------------------------

    def position(self, side: str) -> SidePosition:
        return self.ledger.positions[side]

    def held(self, side: str) -> Decimal:
        return Decimal(repr(self.position(side).size)).quantize(self.instrument.qty_step)

    def wallet_balance(self) -> float:
        ledger = self.ledger
        return self.deposit + ledger.realized_pnl - ledger.fees + ledger.funding

    def unrealised(self, mark: float) -> float:
        return self.ledger.unrealized_pnl(mark)

    def position_margin(self) -> float:
        notional = sum(p.size * p.entry_price for p in self.ledger.positions.values())
        return notional / float(self.leverage)

    def available(self, mark: float) -> float:
        return self.wallet_balance() + self.unrealised(mark) - self.position_margin()

    def slots(self) -> list[tuple[int, str | None]]:
        """The (positionIdx, side) pairs Bybit lists: both sides in hedge mode; in one-way
        mode the one net position, None when flat."""
        if self.mode == HEDGE:
            return [(HEDGE_INDEX[LONG], LONG), (HEDGE_INDEX[SHORT], SHORT)]
        held = [side for side in (LONG, SHORT) if self.held(side)]
        return [(0, held[0] if held else None)]

    def settle_funding(self, rate: float, mark: float, now: int) -> list[FundingCharge]:
        """Funding at `rate` for each open side, on its value at the `mark` price (longs pay a
        positive rate, shorts receive it); counted in the side's realized PnL."""
        held = {side: self.held(side) for side in (LONG, SHORT)}
        charges = []
        for side, amount in self.ledger.settle_funding(rate, mark).items():
            book = self.books[side]
            book.cur_realised += amount
            book.cum_realised += amount
            book.updated_ms = now
            charges.append(
                FundingCharge(str(uuid.uuid4()), side, held[side], mark, rate, amount, now)
            )
        self.fundings.extend(charges)
        return charges

    # Orders ---------------------------------------------------------------------------------

    def place(self, request: dict[str, Any], quote: Quote, now: int) -> Order:
        """Check a `/v5/order/create` request as Bybit does, then fill it at the quote."""
        link_id = str(request.get("orderLinkId") or "")
        if not link_id:
            raise BybitError(
                10001, "orderLinkId is required here: the simulator finds orders by it."
            )
        if len(link_id) > MAX_LINK_ID:
            raise BybitError(10001, f"orderLinkId is longer than {MAX_LINK_ID} characters.")
        if link_id in self._by_link_id:
            raise BybitError(110072, "OrderLinkedID is duplicate")
        if request.get("orderType") != "Market":
            raise BybitError(10001, "The simulator fills market orders only: orderType Market.")
        side = request.get("side")
        if side not in ("Buy", "Sell"):
            raise BybitError(10001, "Side invalid: Buy or Sell.")
        qty = self._checked_qty(request.get("qty"))
        reduce_only = str(request.get("reduceOnly", "")).lower() in ("true", "1")
        index = position_index(request.get("positionIdx", 0))
        legs = self._legs(side, index, qty, reduce_only)
        price = quote.ask if side == "Buy" else quote.bid
        opening = sum((q for _, action, q in legs if action == OPEN), Decimal(0))
        if opening:
            self._check_can_open(opening, price, quote.last)
        order = Order(
            order_id=str(uuid.uuid4()),
            order_link_id=link_id,
            side=side,
            position_idx=index,
            qty=sum((q for _, _, q in legs), Decimal(0)),
            reduce_only=reduce_only,
            created_ms=now,
            last_price=quote.last,
            slippage_tolerance=_slippage(request),
        )
        return self._execute(order, legs, price, now)

    def close_side(self, side: str, quote: Quote, now: int, stop: Stop | None = None) -> Order:
        """Close a whole side behind the client's back, as a liquidation or a click would, or
        as its stop-loss `stop` does once the price reaches it."""
        held = self.held(side)
        if not held:
            raise ValueError(f"There is no {side} position to close.")
        order = Order(
            order_id=str(uuid.uuid4()),
            order_link_id="",
            side="Sell" if side == LONG else "Buy",
            position_idx=HEDGE_INDEX[side] if self.mode == HEDGE else 0,
            qty=held,
            reduce_only=True,
            created_ms=now,
            last_price=quote.last,
            create_type="CreateByStopLoss" if stop else "CreateByClosing",
            stop=stop,
        )
        price = quote.bid if side == LONG else quote.ask
        return self._execute(order, [(side, CLOSE, held)], price, now)

    def find(self, *, order_id: str | None = None, link_id: str | None = None) -> list[Order]:
        """Orders matching the ids given (both must match when both are), newest first."""
        found = self.orders[::-1]
        if link_id:
            found = [o for o in found if o.order_link_id == link_id]
        if order_id:
            found = [o for o in found if o.order_id == order_id]
        return found

    def _checked_qty(self, text: Any) -> Decimal:
        instrument = self.instrument
        try:
            qty = Decimal(str(text))
        except InvalidOperation:
            raise BybitError(10001, "Qty invalid") from None
        if not qty.is_finite() or qty <= 0 or qty % instrument.qty_step:
            raise BybitError(10001, "Qty invalid")
        if qty < instrument.min_qty:
            raise BybitError(10001, "The number of contracts exceeds minimum limit allowed")
        if qty > instrument.max_market_qty:
            raise BybitError(
                10001, "The number of contracts exceeds maximum limit allowed: too large"
            )
        return qty

    def _legs(
        self, side: str, index: int, qty: Decimal, reduce_only: bool
    ) -> list[tuple[str, str, Decimal]]:
        """Which positions an order changes: (LONG/SHORT, OPEN/CLOSE, qty) in fill order."""
        buying = side == "Buy"
        if self.mode == HEDGE:
            if index not in HEDGE_INDEX.values():
                raise BybitError(10001, "position idx not match position mode")
            position = LONG if index == HEDGE_INDEX[LONG] else SHORT
            closing = buying == (position == SHORT)
            if not closing:
                if reduce_only:
                    raise BybitError(110017, "Reduce-only rule not satisfied")
                return [(position, OPEN, qty)]
            return [(position, CLOSE, self._closable(position, qty))]
        if index != 0:
            raise BybitError(10001, "position idx not match position mode")
        opposite, same = (SHORT, LONG) if buying else (LONG, SHORT)
        legs = []
        if self.held(opposite):
            legs.append((opposite, CLOSE, min(qty, self.held(opposite))))
        rest = qty - sum((q for _, _, q in legs), Decimal(0))
        if rest and not reduce_only:
            legs.append((same, OPEN, rest))
        if not legs:
            raise BybitError(110017, "current position is zero, cannot fix reduce-only order qty")
        return legs

    def _closable(self, side: str, qty: Decimal) -> Decimal:
        held = self.held(side)
        if not held:
            raise BybitError(110017, "current position is zero, cannot fix reduce-only order qty")
        return min(qty, held)

    def _check_can_open(self, qty: Decimal, price: float, mark: float) -> None:
        notional = float(qty) * price
        if notional < float(self.instrument.min_notional):
            raise BybitError(
                110094,
                f"Order does not meet minimum order value {self.instrument.min_notional}USDT",
            )
        needed = notional / float(self.leverage) + notional * self.fee_rate
        if needed > self.available(mark):
            raise BybitError(110007, "ab not enough for new order")

    def _execute(
        self, order: Order, legs: list[tuple[str, str, Decimal]], price: float, now: int
    ) -> Order:
        for side, action, qty in legs:
            book = self.books[side]
            if action == OPEN and not self.held(side):
                book.created_ms, book.cur_realised = now, 0.0
            done = self.ledger.fill(side, action, float(qty), price)
            net = done.realized_pnl - done.fee  # Bybit counts fees in realized PnL
            book.cur_realised += net
            book.cum_realised += net
            book.updated_ms = now
            fill = Fill(str(uuid.uuid4()), side, action, qty, price, done.fee, done.realized_pnl)
            order.fills.append(fill)
        for side in {fill.side for fill in order.fills}:
            if not self.held(side):
                self.stops.pop(side, None)  # Bybit cancels a position's stop with the position
        self.orders.append(order)
        if order.order_link_id:
            self._by_link_id[order.order_link_id] = order
        return order


def _decimal(value: Any, name: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BybitError(10001, f"{name} invalid") from None
    if not number.is_finite():
        raise BybitError(10001, f"{name} invalid")
    return number


def position_index(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BybitError(10001, "positionIdx invalid: 0, 1 or 2.") from None


def _slippage(request: dict[str, Any]) -> tuple[str, str] | None:
    kind, value = request.get("slippageToleranceType"), request.get("slippageTolerance")
    if kind is None and value is None:
        return None
    if kind not in ("TickSize", "Percent") or value is None:
        raise BybitError(10001, "slippageToleranceType is TickSize or Percent, with a value.")
    return str(kind), str(value)
