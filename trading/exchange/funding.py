"""Funding the exchange settled, from ccxt's funding history, as levelbot records it."""

from __future__ import annotations

from typing import Any

from trading.engine import LONG, SHORT
from trading.exchange.base import FundingSettlement


def funding_settlement(row: dict[str, Any]) -> FundingSettlement | None:
    """A ccxt funding-history row as levelbot records it; None for a row without an id, a time
    or an amount.

    The side is the exchange's where it names one (Bybit's `side`, Buy for a long; OKX's
    `posSide`; Binance's `positionSide`). Where the side and the rate are both known, who paid
    follows from the funding rule (longs pay a positive rate, shorts a negative one): Bybit's
    funding `execFee` is the position value times the rate whatever the side, so its sign
    alone does not say. Else ccxt's amount is the exchange's cash flow, negative when paid, and
    the side, where the rate is known, follows from it."""
    info = row.get("info") or {}
    amount, ts, ident = row.get("amount"), row.get("timestamp"), row.get("id")
    if amount is None or ts is None or not ident:
        return None
    amount = float(amount)
    rate = None if row.get("rate") is None else float(row["rate"])
    named = info.get("side") or info.get("posSide") or info.get("positionSide") or ""
    side = {"buy": LONG, "long": LONG, "sell": SHORT, "short": SHORT}.get(str(named).lower(), "")
    if rate:
        if side:
            paid = (side == LONG) == (rate > 0)
            amount = -abs(amount) if paid else abs(amount)
        elif amount:
            side = LONG if (amount < 0) == (rate > 0) else SHORT
    return FundingSettlement(str(row.get("symbol")), side, amount, rate, int(ts), str(ident))
