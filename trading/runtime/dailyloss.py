"""The daily realized-loss limit: each exchange account's PnL of the UTC day, net of fees.

The bot tallies the fills it records (the Trade rows), off the tick path: at start it replays
every filled trade once through the accounting Ledger (the paper exchange's own arithmetic,
so a close's PnL is measured from the side's average entry), then reads only the fills recorded
since. When an account's day falls to minus its `daily_loss_limit` (AccountRisk), every entry
on it pauses, each blocked crossing logged with the reason `daily_loss`, until the next UTC
day; exits keep running.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from trading.accounting import Ledger


@dataclass(frozen=True, slots=True)
class Fill:
    """A filled trade as the tally needs it."""

    id: int
    exchange: str
    symbol: str
    side: str
    action: str
    size: float
    price: float
    fee: float
    at: datetime  # when it was decided (created_at, UTC)


class DailyLoss:
    def __init__(self) -> None:
        self._ledgers: dict[tuple[str, str], Ledger] = defaultdict(Ledger)
        self._net: dict[tuple[str, date], float] = defaultdict(float)
        self.floor = 0  # every filled trade with an id up to here is counted
        self._seen: set[int] = set()  # counted ids above the floor

    def add(self, fills: Iterable[Fill]) -> None:
        """Count fills not counted yet, in id order (each symbol's entries before its closes)."""
        for fill in sorted(fills, key=lambda f: f.id):
            if fill.id <= self.floor or fill.id in self._seen:
                continue
            self._seen.add(fill.id)
            ledger = self._ledgers[(fill.exchange, fill.symbol)]
            realized = ledger.fill(fill.side, fill.action, fill.size, fill.price).realized_pnl
            self._net[(fill.exchange, fill.at.date())] += realized - fill.fee

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
        """Realized PnL net of fees of `exchange` on `day` (UTC)."""
        return self._net.get((exchange, day), 0.0)

    def hit(self, exchange: str, day: date, limit: Decimal | None) -> bool:
        return limit is not None and self.net(exchange, day) <= -float(limit)
