"""The live socket (`/ws/live`): a page's partials rendered again when the bot says they changed.

A page that has live push opens `/ws/live?show=trades` (or `status`, `positions`, `levels`, with
what that part needs: `symbol`, `exchange`). The consumer joins the groups the bot publishes
that part's changes to (trading/runtime/publish.py) and, on each message, renders the page's own
partial with the view's own context function, marked `hx-swap-oob`, for htmx's ws extension to
swap in by its id. Messages say only *that* something changed: the database says what.

A part is rendered at most every MIN_RENDER_S, however busy the bot, and at least as often as the
page used to poll when no message comes: a bot that went silent, or an edit made in the admin,
shows as soon as it did with polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string

from dashboard.panels import SymbolPanel
from dashboard.symbols import UnknownSymbol, unified_symbol
from dashboard.views.levels import PAGE as LEVELS_PAGE
from dashboard.views.levels import levels_table_context
from dashboard.views.positions import positions_context
from dashboard.views.status import status_context
from dashboard.views.trades import trades_table_context
from trading.runtime.publish import STATUS_GROUP, TRADES_GROUP, price_group
from trading.validators import validate_exchange_id

log = logging.getLogger("levelbot.live")

# Close codes (4000-4999 are the application's); htmx's ws extension does not reconnect on them.
NOT_LOGGED_IN = 4401
NOT_STAFF = 4403
UNKNOWN_PART = 4404

MIN_RENDER_S = 0.5

Event = dict[str, Any]


def _any_event(event: Event) -> bool:
    return True


@dataclass
class Part:
    """One partial of a page that the socket keeps current."""

    template: str  # "page.html#partial"
    context: Callable[[], dict[str, Any]]  # the view's context function: reads the database
    groups: tuple[str, ...]
    refresh_s: float  # the page's polling interval: rendered at least this often
    concerns: Callable[[Event], bool] = _any_event
    rendered_at: float = -math.inf
    changed: bool = True  # rendered once on connecting: the page may be older than the socket

    def due(self, now: float) -> bool:
        since = now - self.rendered_at
        return (self.changed and since >= MIN_RENDER_S) or since >= self.refresh_s

    def wait_s(self, now: float) -> float:
        interval = MIN_RENDER_S if self.changed else self.refresh_s
        return max(0.0, self.rendered_at + interval - now)

    def render(self) -> str:
        # No request here: htmx sends the CSRF token with every write from <body>'s hx-headers,
        # and "NOTPROVIDED" tells {% csrf_token %} to render nothing, as Django's processor does.
        context = {**self.context(), "oob": True, "csrf_token": "NOTPROVIDED"}
        return render_to_string(self.template, context)


def parts_for(query: dict[str, list[str]]) -> list[Part]:
    """The parts `?show=` names; ValueError with a sentence for anything else."""

    def arg(name: str) -> str:
        return query.get(name, [""])[0].strip()

    show = arg("show")
    if show == "trades":
        symbol = arg("symbol")
        return [
            Part(
                "dashboard/trades.html#trades-rows",
                lambda: trades_table_context(symbol),
                (TRADES_GROUP,),
                refresh_s=3.0,
                concerns=lambda event: not symbol or event.get("symbol") == symbol,
            )
        ]
    if show == "status":
        return [Part("dashboard/status.html#status", status_context, (STATUS_GROUP,), 2.0)]
    if show == "positions":
        groups = (TRADES_GROUP, STATUS_GROUP)
        return [Part("dashboard/positions.html#positions-table", positions_context, groups, 2.0)]
    if show == "levels":
        try:
            validate_exchange_id(arg("exchange"))
            panel = SymbolPanel(arg("exchange"), unified_symbol(arg("symbol")))
        except (ValidationError, UnknownSymbol) as e:
            raise ValueError(f"No levels table for {query}: {e}") from None

        def of_this_symbol(event: Event) -> bool:
            return event.get("exchange") == panel.exchange and event.get("symbol") == panel.symbol

        return [
            Part(
                f"{LEVELS_PAGE}#levels-table",
                lambda: levels_table_context(panel),
                (TRADES_GROUP, price_group(panel.exchange, panel.symbol)),
                refresh_s=2.0,
                concerns=of_this_symbol,
            )
        ]
    raise ValueError(
        f"Nothing live to show for show={show!r}: use trades, status, positions or levels."
    )


class LiveConsumer(AsyncWebsocketConsumer):
    """Staff only, as every page: anyone else is refused before the socket opens."""

    parts: list[Part]
    joined: list[str]

    async def connect(self) -> None:
        self.parts, self.joined, self.pump = [], [], None
        self.wake = asyncio.Event()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=NOT_LOGGED_IN)
            return
        if not (user.is_active and user.is_staff):
            await self.close(code=NOT_STAFF)
            return
        try:
            self.parts = parts_for(parse_qs(self.scope.get("query_string", b"").decode()))
        except ValueError as e:
            log.info("live socket refused: %s", e)
            await self.close(code=UNKNOWN_PART)
            return
        for group in sorted({group for part in self.parts for group in part.groups}):
            try:
                await self.channel_layer.group_add(group, self.channel_name)
            except Exception:  # Redis down: the parts still refresh on their timer
                log.warning("live socket could not join %s", group, exc_info=True)
                continue
            self.joined.append(group)
        await self.accept()
        self.pump = asyncio.create_task(self._pump())

    async def disconnect(self, code: int) -> None:
        if self.pump is not None:
            self.pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.pump
        for group in self.joined:
            with contextlib.suppress(Exception):
                await self.channel_layer.group_discard(group, self.channel_name)

    async def live_changed(self, event: Event) -> None:
        """A message from the bot (type `live.changed`): mark the parts it concerns."""
        for part in self.parts:
            if event.get("group") in part.groups and part.concerns(event):
                part.changed = True
                self.wake.set()

    async def _pump(self) -> None:
        try:
            while True:
                for part in self.parts:
                    if part.due(time.monotonic()):
                        part.changed = False
                        html = await database_sync_to_async(part.render)()
                        part.rendered_at = time.monotonic()
                        await self.send(text_data=html)
                self.wake.clear()
                now = time.monotonic()
                wait_s = min(part.wait_s(now) for part in self.parts)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout=wait_s)
        except Exception:
            # Closed with "internal error": the ws extension reconnects, and the page renders anew.
            log.exception("live socket failed to render")
            await self.close(code=1011)
