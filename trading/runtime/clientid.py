"""Deterministic client order ids: the same decision always gets the same id.

An entry: prefix, `E`, level id, side (`L`/`S`), the fired tiers as one digit (bits 1, 2, 4),
the level-side's cycle. A close: prefix, `C`, the symbol's tiers row id, side, cycle, reason.
Numbers are decimal and markers upper case while the installation prefix is lower case and of
fixed length, so two different decisions can never spell the same id. At most 32 letters and
digits, which every supported exchange accepts.
"""

from __future__ import annotations

from trading.engine import OrderIntent

REASON_CODES = {
    "sentiment_exit": "X",
    "manual": "M",
    "take_profit": "T",
    "stop_loss": "P",
    "level_touch": "V",
}
MAX_LENGTH = 32


def client_order_id(prefix: str, order: OrderIntent, *, symbol_key: int) -> str:
    """The id of an order intent; `symbol_key` names the (exchange, symbol) for closes."""
    side = "L" if order.side == "LONG" else "S"
    if order.action == "close":
        body = f"C{symbol_key}{side}{order.cycle}{REASON_CODES[order.reason]}"
    else:
        tiers = sum(1 << (t - 1) for t in order.tiers)
        body = f"E{order.level_id}{side}{tiers}{order.cycle}"
    cid = prefix + body
    if len(cid) > MAX_LENGTH or not cid.isalnum():
        raise ValueError(f"client order id {cid!r} is not 32 letters and digits at most.")
    return cid
