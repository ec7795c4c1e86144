"""Live push from the bot to the dashboard, through a channel layer that crosses processes.

With REDIS_URL set, the bot tells the web process what changed: a trade recorded, the
once-a-second status, a symbol's last price. The web renders from the database; a message only
says when to, and what it concerns. Without Redis the layer is in memory, which reaches no other
process: the publisher then does nothing, and imports nothing of channels' Redis backend (the
bot's memory budget is 100 MB).

Publishing never holds up trading. The bot publishes only after the outcome it announces is
written, never before an order is sent; each send is a task of its own, bounded by a short
timeout, that the tick path does not wait for. A failed send is logged once, and sends are
skipped for a few seconds before the next try; with too many sends in flight, new ones are
dropped: the dashboard catches up on its own timer.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import structlog
from django.conf import settings

if TYPE_CHECKING:
    from trading.runtime.runner import SymbolRunner

log = structlog.get_logger("levelbot.publish")

TRADES_GROUP = "levelbot.trades"
STATUS_GROUP = "levelbot.status"
PRICES_GROUP = "levelbot.prices"
# Every message has this type: channels hands it to the consumer's `live_changed`.
MESSAGE_TYPE = "live.changed"

IN_MEMORY_LAYER = "channels.layers.InMemoryChannelLayer"
SEND_TIMEOUT_S = 0.5
PRICE_EVERY_S = 0.25  # at most four price messages a second per symbol
RETRY_AFTER_S = 5.0
MAX_IN_FLIGHT = 16


def layer_crosses_processes() -> bool:
    """Whether the default channel layer reaches other processes (Redis), not only this one."""
    config = getattr(settings, "CHANNEL_LAYERS", {}).get("default")
    return bool(config) and config.get("BACKEND") != IN_MEMORY_LAYER


def price_group(exchange: str, symbol: str) -> str:
    """The group of one symbol's last price: `levelbot.prices.bybit.BTC-USDT-USDT`.

    A group name holds only letters, digits, `-`, `_` and `.`: the unified symbol's `/` and `:`
    become `-`. The dashboard names the group with this same function.
    """
    parts = (re.sub(r"[^A-Za-z0-9_]+", "-", part).strip("-") for part in (exchange, symbol))
    return ".".join((PRICES_GROUP, *parts))


class Publisher:
    """Fire-and-forget sends to the dashboard's groups; a no-op without a layer."""

    def __init__(self, layer: Any | None, *, timeout_s: float = SEND_TIMEOUT_S) -> None:
        self.layer = layer
        self.timeout_s = timeout_s
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self._in_flight: set[asyncio.Task[None]] = set()
        self._price_sent_at: dict[tuple[str, str], float] = {}
        self._failing = False
        self._skip_until = 0.0

    @classmethod
    def from_settings(cls) -> Publisher:
        """A publisher on the default channel layer, or a no-op one if that layer is in memory."""
        if not layer_crosses_processes():
            return cls(None)
        # Imported only here: get_channel_layer imports the backend (channels_redis, redis).
        from channels.layers import get_channel_layer

        return cls(get_channel_layer())

    @property
    def enabled(self) -> bool:
        return self.layer is not None

    def trades(self, exchange: str, symbol: str, *, orders: int) -> None:
        """A batch's orders and their outcomes are recorded."""
        self._send(TRADES_GROUP, {"exchange": exchange, "symbol": symbol, "orders": orders})

    def status(self, runners: Iterable[SymbolRunner]) -> None:
        """The bot's heartbeat and every symbol's feed status are written."""
        if self.layer is None:
            return
        symbols = [
            {
                "exchange": runner.exchange_id,
                "symbol": runner.symbol,
                "state": "stale" if runner.stale else "live",
                "last_price": runner.last_price,
            }
            for runner in runners
        ]
        self._send(STATUS_GROUP, {"symbols": symbols})

    def price(self, exchange: str, symbol: str, price: float | None) -> None:
        """A symbol's last price, at most every PRICE_EVERY_S: the status carries the rest."""
        if self.layer is None or price is None:
            return
        now = time.monotonic()
        key = (exchange, symbol)
        if now - self._price_sent_at.get(key, -math.inf) < PRICE_EVERY_S:
            return
        self._price_sent_at[key] = now
        body = {"exchange": exchange, "symbol": symbol, "price": price}
        self._send(price_group(exchange, symbol), body)

    async def close(self) -> None:
        """Give the sends in flight their timeout to finish, when the bot stops."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight), timeout=self.timeout_s)

    def _send(self, group: str, body: dict[str, Any]) -> None:
        if self.layer is None:
            return
        if time.monotonic() < self._skip_until or len(self._in_flight) >= MAX_IN_FLIGHT:
            self.dropped += 1
            return
        message = {"type": MESSAGE_TYPE, "group": group, **body}
        try:
            task = asyncio.get_running_loop().create_task(self._deliver(group, message))
        except Exception as e:  # no running loop: a caller outside the bot's loop
            self._failed(e)
            return
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _deliver(self, group: str, message: dict[str, Any]) -> None:
        assert self.layer is not None
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.layer.group_send(group, message)
        except Exception as e:  # Redis down, slow or refusing: trading goes on regardless
            self._failed(e)
            return
        self.sent += 1
        if self._failing:
            self._failing = False
            log.info("live push restored")

    def _failed(self, error: Exception) -> None:
        self.failed += 1
        self._skip_until = time.monotonic() + RETRY_AFTER_S
        if self._failing:
            return
        self._failing = True
        log.warning(
            "live push failed",
            error=f"{type(error).__name__}: {error}".rstrip(": "),
            detail=(
                "The dashboard is not told of changes until the channel layer (REDIS_URL) "
                f"answers again; it is tried again every {RETRY_AFTER_S:g} s. Trading goes on."
            ),
        )
