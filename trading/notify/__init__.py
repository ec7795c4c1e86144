"""Notifications: what the bot did, told to a trader away from the screen.

    from trading.notify import notify, texts

    notify(texts.position_closed(exchange="bybit", symbol="BTC/USDT:USDT", side="LONG", ...))

`notify()` never blocks and never raises; `flush()` waits for the queue at shutdown. The kinds,
destinations and delivery are described in README.md ("Notifications and background jobs").
"""

from trading.notify import texts
from trading.notify.dispatch import dropped, flush, notify
from trading.notify.notification import Kind, Notification

__all__ = ["Kind", "Notification", "dropped", "flush", "notify", "texts"]
