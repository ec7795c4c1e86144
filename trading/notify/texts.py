"""One function per kind of notification: the facts in, a message a trader reads on a phone out.

Every message names the symbol, its side and the exchange where they apply, with numbers as a
trader writes them (61,250.5; 0.004; PnL -3.21 USDT) and the reason in words.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from trading.notify.notification import (
    Kind,
    Notification,
    money,
    number,
    reason_label,
    seconds,
    settle_currency,
    tiers_label,
)

if TYPE_CHECKING:
    from trading.reports import DayTotals

Number = Decimal | float | int

LIMIT_LABELS = {
    "max_position": "its maximum position",
    "max_notional": "its maximum notional",
    "max_levels": "its maximum number of levels holding a position",
}


def _why(reason: str, tiers: Sequence[int]) -> str:
    return tiers_label(tuple(tiers)) if reason == "tier" and tiers else reason_label(reason)


def tier_fired(
    *,
    exchange: str,
    symbol: str,
    side: str,
    tiers: Sequence[int],
    price: Number,
    level_price: Number,
    size: Number,
) -> Notification:
    which = tiers_label(tuple(tiers))
    order = f"order {number(size)}" if size else "target already held, no order"
    return Notification(
        Kind.TIER_FIRED,
        f"{symbol} {side} {which} fired",
        f"{symbol} {side} {which} fired on {exchange} at {number(price)} "
        f"(level {number(level_price)}): {order}.",
        {
            "exchange": exchange,
            "symbol": symbol,
            "side": side,
            "tiers": list(tiers),
            "price": price,
            "level_price": level_price,
            "size": size,
        },
    )


def order_filled(
    *,
    exchange: str,
    symbol: str,
    side: str,
    action: str,
    size: Number,
    price: Number,
    fee: Number,
    reason: str,
    tiers: Sequence[int] = (),
) -> Notification:
    currency = settle_currency(symbol)
    return Notification(
        Kind.ORDER_FILLED,
        f"{symbol} {side} {action} filled: {number(size)} at {number(price)}",
        f"{symbol} {side} {action} filled on {exchange}: {number(size)} at {number(price)}, "
        f"fee {money(fee)} {currency} ({_why(reason, tiers)}).",
        {
            "exchange": exchange,
            "symbol": symbol,
            "side": side,
            "action": action,
            "size": size,
            "price": price,
            "fee": fee,
            "currency": currency,
            "reason": reason,
            "tiers": list(tiers),
        },
    )


def order_rejected(
    *,
    exchange: str,
    symbol: str,
    side: str,
    action: str,
    size: Number,
    reason: str,
    error: str,
    tiers: Sequence[int] = (),
) -> Notification:
    error = " ".join(error.split()) or "no reason given"
    return Notification(
        Kind.ORDER_REJECTED,
        f"{symbol} {side} {action} rejected on {exchange}",
        f"{symbol} {side} {action} of {number(size)} rejected on {exchange} "
        f"({_why(reason, tiers)}): {error}",
        {
            "exchange": exchange,
            "symbol": symbol,
            "side": side,
            "action": action,
            "size": size,
            "reason": reason,
            "tiers": list(tiers),
            "error": error,
        },
    )


def position_closed(
    *,
    exchange: str,
    symbol: str,
    side: str,
    size: Number,
    price: Number,
    realized_pnl: Number,
    reason: str,
) -> Notification:
    currency = settle_currency(symbol)
    pnl = f"{money(realized_pnl, signed=True)} {currency}"
    return Notification(
        Kind.POSITION_CLOSED,
        f"{symbol} {side} closed, PnL {pnl}",
        f"{symbol} {side} closed on {exchange}: {number(size)} at {number(price)}, "
        f"PnL {pnl} ({reason_label(reason)})",
        {
            "exchange": exchange,
            "symbol": symbol,
            "side": side,
            "size": size,
            "price": price,
            "realized_pnl": realized_pnl,
            "currency": currency,
            "reason": reason,
        },
    )


def feed_stale(*, exchange: str, symbol: str, silent_s: float) -> Notification:
    return Notification(
        Kind.FEED_STALE,
        f"{exchange} {symbol} feed stale",
        f"{exchange} {symbol}: no market data for {seconds(silent_s)}. Entries wait for fresh "
        "prices; if it lasts, check the connection to the exchange.",
        {"exchange": exchange, "symbol": symbol, "silent_s": silent_s},
    )


def feed_recovered(*, exchange: str, symbol: str, down_s: float) -> Notification:
    return Notification(
        Kind.FEED_RECOVERED,
        f"{exchange} {symbol} feed back",
        f"{exchange} {symbol}: market data is back after {seconds(down_s)}.",
        {"exchange": exchange, "symbol": symbol, "down_s": down_s},
    )


def limit_hit(
    *, exchange: str, symbol: str, side: str, limit: str, price: Number, detail: str = ""
) -> Notification:
    """`limit` is the limit's name (`max_position`, `max_notional`, `max_levels` or another);
    `detail`, a sentence of the caller's, follows the message."""
    what = LIMIT_LABELS.get(limit, limit.replace("_", " "))
    text = (
        f"{symbol} {side} entry at {number(price)} not taken on {exchange}: it would pass {what}."
    )
    if detail:
        text = f"{text} {detail}"
    return Notification(
        Kind.LIMIT_HIT,
        f"{symbol} {side} limit hit on {exchange}",
        text,
        {
            "exchange": exchange,
            "symbol": symbol,
            "side": side,
            "limit": limit,
            "price": price,
            "detail": detail,
        },
    )


def daily_loss_hit(*, exchange: str, net: Number, limit: Number, currency: str) -> Notification:
    """The account's daily loss limit reached: every entry on it waits for the next UTC day."""
    return Notification(
        Kind.LIMIT_HIT,
        f"Daily loss limit reached on {exchange}",
        f"{exchange}: today's realized PnL net of fees is {money(net, signed=True)} {currency}, "
        f"at or past the {money(limit)} {currency} daily loss limit. No new entry on this "
        "account until the next UTC day; exits still run.",
        {
            "exchange": exchange,
            "limit": "daily_loss",
            "net": net,
            "daily_loss_limit": limit,
            "currency": currency,
        },
    )


def kill_switch(*, on: bool) -> Notification:
    if on:
        title = "Kill switch on: entries paused"
        text = "Kill switch on: no new entry on any level; exits still run."
    else:
        title = "Kill switch off: entries resume"
        text = "Kill switch off: levels take entries again."
    return Notification(Kind.KILL_SWITCH, title, text, {"on": on})


def _host(hostname: str, pid: int | None) -> str:
    host = hostname or "an unknown host"
    return f"{host} (pid {pid})" if pid else host


def bot_started(
    *,
    hostname: str,
    pid: int | None,
    live: bool,
    feed: str,
    symbols: Sequence[tuple[str, str]],
    session_id: uuid.UUID | str = "",
) -> Notification:
    account = "live account" if live else "paper"
    pairs = ", ".join(f"{exchange} {symbol}" for exchange, symbol in symbols)
    count = f"{len(symbols)} symbol{'s' if len(symbols) != 1 else ''}"
    trading = f"{count}: {pairs}" if symbols else "no symbol yet (none has tiers and levels)"
    return Notification(
        Kind.BOT_STARTED,
        f"Bot started on {hostname or 'an unknown host'} ({account})",
        f"Bot started on {_host(hostname, pid)}, {account}, {feed} feed, trading {trading}.",
        {
            "hostname": hostname,
            "pid": pid,
            "live": live,
            "feed": feed,
            "symbols": [list(pair) for pair in symbols],
            "session_id": session_id,
        },
    )


def bot_stopped(
    *, hostname: str, pid: int | None, reason: str, session_id: uuid.UUID | str = ""
) -> Notification:
    return Notification(
        Kind.BOT_STOPPED,
        f"Bot stopped on {hostname or 'an unknown host'}",
        f"Bot stopped on {_host(hostname, pid)}: {reason}. Open positions stay open and are "
        "not managed until it runs again.",
        {"hostname": hostname, "pid": pid, "reason": reason, "session_id": session_id},
    )


def bot_down(
    *,
    hostname: str,
    pid: int | None,
    last_seen: datetime,
    silent_s: float,
    session_id: uuid.UUID | str,
) -> Notification:
    return Notification(
        Kind.BOT_DOWN,
        f"Bot down on {hostname or 'an unknown host'}",
        f"No heartbeat from the bot on {_host(hostname, pid)} for {seconds(silent_s)} (last at "
        f"{last_seen:%Y-%m-%d %H:%M:%S} UTC): nothing manages open positions. Check the "
        "process and start it again.",
        {
            "hostname": hostname,
            "pid": pid,
            "last_seen": last_seen,
            "silent_s": silent_s,
            "session_id": session_id,
        },
    )


def position_drift(
    *, exchange: str, symbol: str, side: str, account_size: Number, levels_size: Number
) -> Notification:
    difference = Decimal(str(account_size)) - Decimal(str(levels_size))
    if difference > 0:
        gap = f"{number(difference)} is held that no level accounts for"
    else:
        gap = f"the levels count {number(-difference)} that is not held"
    return Notification(
        Kind.POSITION_DRIFT,
        f"{symbol} {side} position drift on {exchange} (paper)",
        f"{symbol} {side} on {exchange} (paper): the account holds {number(account_size)}, "
        f"the levels' tier state adds up to {number(levels_size)}; {gap}. Check the side on "
        "/positions and the levels' tier state in the admin.",
        {
            "exchange": exchange,
            "symbol": symbol,
            "side": side,
            "account_size": account_size,
            "levels_size": levels_size,
            "difference": difference,
        },
    )


def daily_summary(*, day: date, totals: Sequence[DayTotals]) -> Notification:
    lines = [
        f"{t.exchange}: {t.fills} fill{'s' if t.fills != 1 else ''}, {t.rejected} rejected, "
        f"realized PnL {money(t.realized_pnl, signed=True)} {t.currency}"
        + (f" (funding {money(t.funding, signed=True)} {t.currency})" if t.funding else "")
        + f", fees {money(t.fees)} {t.currency}, "
        f"net {money(t.realized_pnl - t.fees, signed=True)} {t.currency}"
        for t in totals
    ]
    text = "\n".join(lines) if lines else "No orders."
    return Notification(
        Kind.DAILY_SUMMARY,
        f"Daily summary {day.isoformat()} (UTC)",
        f"{day.isoformat()} (UTC)\n{text}",
        {
            "day": day,
            "exchanges": [
                {
                    "exchange": t.exchange,
                    "currency": t.currency,
                    "fills": t.fills,
                    "rejected": t.rejected,
                    "realized_pnl": t.realized_pnl,
                    "funding": t.funding,
                    "fees": t.fees,
                }
                for t in totals
            ],
        },
    )
