"""A symbol runner's positions against the exchange's: read at start, resynced after a
reconnect or a position message, a side closed on request, the stop-loss resting on the
exchange, the free margin. Part of `SymbolRunner` (trading/runtime/runner.py), whose engine,
lock and order path it works with."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from trading.engine import SIDES, SymbolEngine
from trading.exchange.base import FILLED, Exchange
from trading.runtime import database, store

# Sizes the bot and the exchange count apart by less than this fraction are the same size.
SIZE_TOLERANCE = 1e-9


class PositionKeeping:
    # What SymbolRunner gives it, with its `_changed_states` and its order path, `_act`.
    engine: SymbolEngine | None
    exchange: Exchange
    symbol: str
    lock: asyncio.Lock
    log: Any
    last_error: str
    last_price: float | None
    orders_decided: int
    unsettled: set[str]
    resync_wanted: bool
    exchange_stops: dict[str, float | None]
    stops_refused: dict[str, tuple[float | None, float]]

    async def sync_positions(self) -> None:
        assert self.engine is not None
        held = await self.exchange.positions(self.symbol)
        for side in SIDES:
            position = held.get(side)
            if position is None:
                self.engine.set_position(side, 0.0)
            else:
                self.engine.set_position(side, position.size, position.entry_price)

    async def _refresh_margin(self) -> None:
        """The account's free margin, for the engine's margin check (live accounts only)."""
        assert self.engine is not None
        try:
            self.engine.free_margin = await self.exchange.free_margin(self.symbol)
        except Exception as e:  # the check waits for the next reload; trading goes on
            self.engine.free_margin = None
            self.log.warning("free margin unknown", error=f"{type(e).__name__}: {e}")

    async def sync_stops(self) -> None:
        """Each held side's stop-loss, resting on the exchange as well, so that it holds if the
        bot dies; moved as fills change the side's average entry, removed when it closes.
        Off the tick path (the bot's housekeeping); a refusal is shown, the bot's own stop
        stays."""
        if self.engine is None:
            return
        now = time.monotonic()
        for side in SIDES:
            wanted = self.engine.stop_price(side)
            if wanted == self.exchange_stops.get(side):
                continue
            refused = self.stops_refused.get(side)
            if refused is not None and refused[0] == wanted and now - refused[1] < 60:
                continue  # the same stop again only after a minute: each try costs a call
            refusal = await self.exchange.protect(self.symbol, side, wanted)
            if refusal is None:
                self.exchange_stops[side] = wanted
                self.stops_refused.pop(side, None)
                continue
            self.stops_refused[side] = (wanted, now)
            self.last_error = refusal
            self.log.warning("exchange stop-loss not set", side=side, why=refusal)

    async def resync_positions(self) -> None:
        """After a reconnect or a position message: the exchange's positions over REST are
        the truth. A side the exchange holds less of than the bot counts (nothing, or less,
        once every order of the bot is settled) was closed outside the bot (a liquidation, a
        close by hand), perhaps entered again since: the levels whose fills went with it reset
        (DESIGN rule 9; `SymbolEngine.closed_outside`), and the bot counts what it holds. A
        read that fails or that an order overtook is wanted again (`resync_wanted`): made once
        the orders out are settled, and by the bot's housekeeping within a second."""
        engine = self.engine
        if engine is None:
            return
        if self.unsettled:
            # A read now may predate the fills of orders on their way: it is made once they
            # are settled instead.
            self.resync_wanted = True
            return
        self.resync_wanted = False
        decided = self.orders_decided
        try:
            held = await self.exchange.positions(self.symbol)
        except Exception as e:
            self.last_error = f"position resync failed: {type(e).__name__}: {e}"
            self.log.warning("position resync failed", error=self.last_error)
            self.resync_wanted = True
            return
        async with self.lock:
            if self.orders_decided != decided:
                # An order went out while the positions were read: the read may predate its
                # fill, and a side it shows flat may not be. It is read again once settled.
                self.log.info("position resync overtaken by an order")
                self.resync_wanted = True
                return
            for side in SIDES:
                position = held.get(side)
                counted = engine.position[side]
                size = 0.0 if position is None else position.size
                if counted > 0 and size < counted * (1 - SIZE_TOLERANCE):
                    reset = engine.closed_outside(side, size)
                    self.log.warning(
                        "position closed outside the bot",
                        side=side,
                        held=size,
                        counted=counted,
                        levels_reset=reset,
                    )
                if position is None:
                    engine.set_position(side, 0.0)
                else:
                    engine.set_position(side, position.size, position.entry_price)
            states = self._changed_states(engine)
            if states:
                await database.orders.call(store.save_states, states)

    async def close_side(self, side: str, reason: str) -> tuple[str, str]:
        """Close the whole side now (a manual close, the kill switch's close-everything): one
        reduce-only order for what the account holds, through the same intent-first path as
        every order, then the side resets (rule 9). Returns (status, detail in words)."""
        engine = self.engine
        if engine is None:
            return "failed", "The symbol is not trading."
        async with self.lock:
            size = engine.position[side]
            if size <= 0:
                return "nothing", f"No {side} position on {self.exchange_id} {self.symbol}."
            if self.last_price is None:
                return "failed", "No price seen yet: the close waits for the feed."
            intent = engine.close(int(time.time() * 1000), side, self.last_price, reason)
            assert intent is not None  # the side holds `size`
            settle = self._act(engine, [intent], time.perf_counter())
        results = await settle if settle is not None else []
        self.log.info("side closed on request", side=side, size=size, reason=reason)
        if not results:
            return "failed", "The exchange's answer did not come: the bot settles it on reload."
        result = results[0][1]
        if result.status != FILLED:
            return "failed", f"The exchange refused the close: {result.error}"
        return "done", f"Closed {size:g} at {result.price:g}." if result.price else "Closed."
