"""Simulated fills and the PnL they make: one ledger for backtests and the paper exchange.

Plain Python. A side's position is one aggregate (hedge mode, spec 6.1) with an average entry
price; fees are charged on the notional of every fill; slippage moves every fill against us.
Funding, where a backtest is given rates or the exchange simulator settles it, is paid and
received on the open sides' value (`funding_amount`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trading.engine import LONG, SHORT, SIZE_DECIMALS


@dataclass(slots=True)
class SidePosition:
    size: float = 0.0
    entry_price: float = 0.0
    # Fees paid since the side was opened: a round trip wins when its PnL beats them.
    round_trip_fees: float = 0.0

    def unrealized(self, side: str, price: float) -> float:
        if not self.size:
            return 0.0
        move = price - self.entry_price if side == LONG else self.entry_price - price
        return move * self.size


def funding_amount(side: str, size: float, price: float, rate: float) -> float:
    """What one side receives at a funding time (negative: what it pays): longs pay
    `size * price * rate` to shorts when the rate is positive, shorts pay longs when it is
    negative."""
    value = size * price * rate
    return -value if side == LONG else value


@dataclass(frozen=True, slots=True)
class Fill:
    side: str
    action: str
    size: float
    price: float
    fee: float
    realized_pnl: float


@dataclass(slots=True)
class Ledger:
    """Positions per side, realized PnL, fees and traded volume of one (exchange, symbol)."""

    fee_rate: float = 0.0
    slippage_bps: float = 0.0
    positions: dict[str, SidePosition] = field(
        default_factory=lambda: {LONG: SidePosition(), SHORT: SidePosition()}
    )
    realized_pnl: float = 0.0
    fees: float = 0.0
    volume: float = 0.0
    round_trips: int = 0
    wins: int = 0
    funding: float = 0.0  # received less paid, over every funding time settled

    def fill_price(self, side: str, action: str, price: float) -> float:
        """The price after slippage: buys fill higher, sells lower."""
        if not self.slippage_bps:
            return price
        buying = (side == LONG) != (action == "close")
        slip = self.slippage_bps / 10_000
        return price * (1 + slip) if buying else price * (1 - slip)

    def fill(self, side: str, action: str, size: float, price: float) -> Fill:
        """Apply a market order of `size` at the quoted `price`; a close takes the whole side.

        `size` of a close larger than the position (rounding) closes what is there.
        """
        position = self.positions[side]
        at = self.fill_price(side, action, price)
        if action == "close":
            size = min(size, position.size)
        notional = size * at
        fee = notional * self.fee_rate
        self.fees += fee
        self.volume += notional
        position.round_trip_fees += fee
        realized = 0.0
        if action == "close":
            move = at - position.entry_price if side == LONG else position.entry_price - at
            realized = move * size
            self.realized_pnl += realized
            position.size = round(position.size - size, SIZE_DECIMALS)
            if position.size <= 0:
                self.round_trips += 1
                self.wins += realized > position.round_trip_fees
                self.positions[side] = SidePosition()
        else:
            total = position.size + size
            position.entry_price = (position.entry_price * position.size + at * size) / total
            position.size = round(total, SIZE_DECIMALS)
        return Fill(side, action, size, at, fee, realized)

    def settle_funding(self, rate: float, price: float) -> dict[str, float]:
        """Pay or receive funding at `rate` on each open side, valued at `price`; the amount of
        each side held (negative: paid)."""
        amounts = {
            side: funding_amount(side, position.size, price, rate)
            for side, position in self.positions.items()
            if position.size
        }
        self.funding += sum(amounts.values())
        return amounts

    def unrealized_pnl(self, price: float) -> float:
        return sum(p.unrealized(side, price) for side, p in self.positions.items())

    def equity_line(self) -> tuple[float, float]:
        """Equity as `a + b * price` for the current positions: (a, b).

        Between fills the positions do not change, so a whole run of ticks can be marked to
        market at once: equity = realized - fees + funding + long*(p - e_long)
        + short*(e_short - p).
        """
        long, short = self.positions[LONG], self.positions[SHORT]
        a = (
            self.realized_pnl
            - self.fees
            + self.funding
            - long.size * long.entry_price
            + short.size * short.entry_price
        )
        return a, long.size - short.size

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.round_trips if self.round_trips else None
