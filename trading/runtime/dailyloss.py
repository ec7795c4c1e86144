"""The daily realized-loss limit: each exchange account's PnL of the UTC day, net of fees.

The bot tallies the order outcomes it records (the Trade rows), off the tick path: at start it
replays every filled trade once through the accounting Ledger (the paper exchange's own
arithmetic, so a close's PnL is measured from the side's average entry), then reads only the
outcomes recorded since, and hands each new one back with its realized PnL, for the
notifications. When an account's day falls to minus its `daily_loss_limit` (AccountRisk),
every entry on it pauses, each blocked crossing logged with the reason `daily_loss`, until
the next UTC day; exits keep running.

Funding the exchange settled (FundingPayment rows, live accounts only) counts in the day of its
funding time, both ways: funding paid is a realized loss as surely as a fee, and funding
received offsets it, as the exchange's own realized PnL counts both. So a day of paying
funding on a large open position can pause entries with no trade closed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from trading.accounting import Ledger


@dataclass(frozen=True, slots=True)
class Outcome:
    """A settled order (filled or rejected) as the tally and the notifications need it."""

    id: int
    exchange: str
    symbol: str
    side: str
    action: str
    status: str  # filled or rejected
    size: float
    price: float  # the fill's average price; 0 when rejected
    fee: float
    reason: str
    tiers: tuple[int, ...]
    error: str
    at: datetime  # when it was decided (created_at, UTC)
    realized_pnl: float = 0.0  # set by the tally for a filled close


@dataclass(frozen=True, slots=True)
class FundingPaid:
    """A funding settlement as the tally needs it."""

    id: int
    exchange: str
    amount: float  # received above 0, paid below 0
    at: datetime  # the funding time (UTC)


class DailyLoss:
    def __init__(self) -> None:
        self._ledgers: dict[tuple[str, str], Ledger] = defaultdict(Ledger)
        self._net: dict[tuple[str, date], float] = defaultdict(float)
        self.floor = 0  # every filled trade with an id up to here is counted
        self._seen: set[int] = set()  # counted ids above the floor
        self.funding_floor = 0  # every funding settlement with an id up to here is counted

    def add(self, outcomes: Iterable[Outcome]) -> list[Outcome]:
        """Count the outcomes not counted yet, in id order (each symbol's entries before its
        closes); return them, each filled close with its realized PnL."""
        new = []
        for outcome in sorted(outcomes, key=lambda o: o.id):
            if outcome.id <= self.floor or outcome.id in self._seen:
                continue
            self._seen.add(outcome.id)
            if outcome.status == "filled":
                ledger = self._ledgers[(outcome.exchange, outcome.symbol)]
                fill = ledger.fill(outcome.side, outcome.action, outcome.size, outcome.price)
                self._net[(outcome.exchange, outcome.at.date())] += fill.realized_pnl - outcome.fee
                outcome = replace(outcome, realized_pnl=fill.realized_pnl)
            new.append(outcome)
        return new

    def add_funding(self, payments: Iterable[FundingPaid]) -> None:
        """Count the funding settlements not counted yet in their day (see the module's doc).
        They are recorded whole, in one transaction each read, so the floor is their top id."""
        for payment in sorted(payments, key=lambda p: p.id):
            if payment.id <= self.funding_floor:
                continue
            self.funding_floor = payment.id
            self._net[(payment.exchange, payment.at.date())] += payment.amount

    def settle_floor(self, lowest_unsettled: int | None) -> None:
        """Move the floor up to just below the oldest order still unsettled (its fill may be
        recorded later with a lower id than fills already counted), forgetting seen ids under
        it."""
        top = max(self._seen, default=self.floor)
        floor = top if lowest_unsettled is None else min(top, lowest_unsettled - 1)
        if floor > self.floor:
            self.floor = floor
            self._seen = {i for i in self._seen if i > floor}

    def net(self, exchange: str, day: date) -> float:
        """Realized PnL net of fees, funding included, of `exchange` on `day` (UTC)."""
        return self._net.get((exchange, day), 0.0)

    def hit(self, exchange: str, day: date, limit: Decimal | None) -> bool:
        return limit is not None and self.net(exchange, day) <= -float(limit)
