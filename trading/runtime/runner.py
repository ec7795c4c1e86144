"""One (exchange, symbol) in the running bot: its feed, its engine, its orders.

Work is strictly in order per symbol: a batch of ticks goes through the engine; its decisions
(the tier state they changed, order intents with their client ids) go into the symbol's journal
(`journal.py`), then to the order path's database thread, to be written in one transaction;
each order goes to the exchange once its intent is journalled, and its outcome and the batch's
level events are written after. The engine never waits for the database: the next batch runs
while the last one's intents are being written. Every write of tier state goes through that
one thread in the order the engine made it. A lock keeps a reload from changing the engine
while a batch is being decided.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import structlog
from django.conf import settings
from django.utils import timezone

from trading.engine import (
    IGNORED_DAILY_LOSS,
    IGNORED_KILL_SWITCH,
    SIDES,
    TRADE_ONLY,
    IgnoredCrossing,
    LevelId,
    LevelState,
    OrderIntent,
    SymbolEngine,
    TierFire,
)
from trading.exchange.base import FILLED, REJECTED, Answers, Exchange, OrderRequest, OrderResult
from trading.feeds.base import Feed, Ticks
from trading.models import FeedStatus, Trade
from trading.notify import notify, texts
from trading.numbers import decimal_of
from trading.runtime import database, store
from trading.runtime.clientid import client_order_id
from trading.runtime.gcpause import collections_deferred
from trading.runtime.journal import Decisions, Journal, journal_path
from trading.runtime.orders import OrderFlow, Sent
from trading.runtime.positions import SIZE_TOLERANCE, PositionKeeping
from trading.runtime.publish import Publisher

log = structlog.get_logger("levelbot.bot")

# An intent found unsent after a restart is sent if it is this recent; older, it has lost its
# moment, and is recorded as refused (its tiers stay fired: no chasing an old price).
RESEND_WITHIN = timedelta(seconds=30)


class SymbolNotReady(Exception):
    """The symbol cannot trade yet (no tiers); the message says what to do."""


class SymbolRunner(PositionKeeping):
    def __init__(
        self,
        *,
        exchange_id: str,
        symbol: str,
        exchange: Exchange,
        feed: Feed,
        prefix: str,
        session_id: Any,
        publisher: Publisher | None = None,
    ) -> None:
        self.exchange_id = exchange_id
        self.symbol = symbol
        self.exchange = exchange
        self.feed = feed
        self.prefix = prefix
        self.session_id = session_id
        self.publisher = publisher or Publisher(None)
        self.lock = asyncio.Lock()
        self.engine: SymbolEngine | None = None
        self.journal: Journal | None = None  # taken by `start`, released by `close_journal`
        self.tiers_key = 0
        self.entries_paused = False  # the kill switch, as last read
        self.orders_decided = 0  # batches that sent orders: a resync's read must not predate one
        # Client ids of orders decided and not yet settled in the database: recovery leaves
        # them alone (they are on their way, not lost), and a position read waits for them.
        self.unsettled: set[str] = set()
        self.settling: set[asyncio.Task[Answers]] = set()
        self.resync_wanted = False  # a resync skipped while orders were out, due when they land
        # An intent that could not be written stops the symbol: its next batch raises this.
        self.failure: BaseException | None = None
        self.exchange_stops: dict[str, float | None] = {}  # side -> stop resting on the exchange
        self.stops_refused: dict[str, tuple[float | None, float]] = {}  # side -> (stop, when)
        self.loss_limit_hit = False  # the account's daily loss limit, as the bot last judged
        self.heartbeat_timeout_s = 10.0
        self.reload_ms = 5000
        self.stale = False
        self.last_message = time.monotonic()
        self.stale_since = self.last_message  # the last message before the feed went stale
        self._where = {"exchange": exchange_id, "symbol": symbol}
        self.last_price: float | None = None
        self.ticks = 0
        self.last_error = ""
        self.log = log.bind(exchange=exchange_id, symbol=symbol)
        self.flow = OrderFlow(
            exchange, exchange_id, symbol, log=self.log, on_error=self._order_error
        )
        # Ignored crossings change no state: they wait here for the next write, off the
        # order path, instead of costing a transaction of their own.
        self.unsaved_events: list[IgnoredCrossing] = []
        # The tier state last written per level, to write only what changed.
        self.saved_states: dict[LevelId, LevelState] = {}
        # The tier state as the database held it at the last load: a reload looks only at
        # levels whose state someone wrote since (an admin's reset is one).
        self.loaded_states: dict[LevelId, LevelState] = {}

    # -- start and reload ----------------------------------------------------------------

    async def start(self) -> None:
        """Take the symbol's journal (another bot holding it stops this one with
        `JournalError`), record what it holds that the database does not, then load the levels
        and their tier state and settle what was left on its way."""
        path = journal_path(settings.JOURNAL_DIR, self.prefix, self.exchange_id, self.symbol)
        self.journal = Journal.open(path, self.exchange_id, self.symbol)
        try:
            if self.journal.entries:
                written = await database.orders.call(store.record_journal, self.journal.entries)
                self.log.info(
                    "journal read", entries=len(self.journal.entries), recorded_now=written
                )
                self.journal.clear()
            await self._load()
        except BaseException:
            self.close_journal()
            raise

    def close_journal(self) -> None:
        """At the stop: the journal is released, and removed if the database holds it all."""
        if self.journal is not None:
            self.journal.close()

    async def _load(self) -> None:
        snapshot = await database.house.call(store.load_symbol, self.exchange_id, self.symbol)
        if snapshot.tiers is None or snapshot.tiers_key is None:
            raise SymbolNotReady(
                f"{self.exchange_id} {self.symbol} has no tiers: set them before trading it."
            )
        engine = SymbolEngine(snapshot.tiers, snapshot.levels, snapshot.sentiment, snapshot.risk)
        engine.halt_entries(self._halt_reason(snapshot.entries_paused))
        for level_id, state in snapshot.states.items():
            engine.restore(level_id, state)
        engine.take_changed()  # what the database holds: nothing to write back
        engine.close_cycle.update(
            await database.house.call(store.close_cycles, self.exchange_id, self.symbol)
        )
        self.engine = engine
        self.saved_states = dict(snapshot.states)
        self.loaded_states = snapshot.states
        self.tiers_key = snapshot.tiers_key
        self.heartbeat_timeout_s = snapshot.heartbeat_timeout_s
        self.reload_ms = snapshot.reload_ms
        await self.recover()
        await self.sync_positions()
        await self._refresh_margin()
        await self.flush_status(state=FeedStatus.State.LIVE)
        self.log.info(
            "symbol started",
            levels=len(snapshot.levels),
            feed=self.feed.description,
            positions=dict(engine.position),
        )

    def _halt_reason(self, entries_paused: bool) -> str | None:
        """Why every entry waits, if it does: the kill switch first, then the daily loss."""
        self.entries_paused = entries_paused
        if entries_paused:
            return IGNORED_KILL_SWITCH
        if self.loss_limit_hit:
            return IGNORED_DAILY_LOSS
        return None

    async def set_loss_limit_hit(self, hit: bool) -> bool:
        """The account's daily loss limit reached (or a new UTC day began): entries pause or go
        again, at once. Returns whether anything changed."""
        if hit == self.loss_limit_hit or self.engine is None:
            return False
        self.loss_limit_hit = hit
        async with self.lock:
            self.engine.halt_entries(self._halt_reason(self.entries_paused))
        if hit:
            self.log.warning("daily loss limit reached: entries paused until the next UTC day")
        else:
            self.log.info("daily loss limit cleared: entries allowed")
        return True

    async def reload(self) -> None:
        """Levels, tiers and settings from the database: new levels start, deleted ones drop
        their state, paused ones stop entering, changed tiers apply at once, and a tier state
        reset from the admin (a higher cycle) is taken over."""
        snapshot = await database.house.call(store.load_symbol, self.exchange_id, self.symbol)
        engine = self.engine
        if engine is None or snapshot.tiers is None:
            return
        async with self.lock:
            before = set(engine.level_ids)
            engine.set_levels(snapshot.levels)
            after = set(engine.level_ids)
            for level_id, state in snapshot.states.items():
                if state == self.loaded_states.get(level_id):
                    continue  # nobody wrote it since the last look
                mine = engine.level_state(level_id)
                if any(state.side(s).cycle > mine.side(s).cycle for s in SIDES):
                    engine.restore(level_id, state)
                    self.log.info("tier state reset", level_id=level_id)
            if snapshot.tiers != engine.tiers:
                engine.set_tiers(snapshot.tiers)
                self.log.info("tiers updated", tiers=[str(t) for t in snapshot.tiers.pcts()])
            engine.set_sentiment(snapshot.sentiment)
            engine.set_risk(snapshot.risk)
            halt = self._halt_reason(snapshot.entries_paused)
            if halt != engine.entries_halted:
                engine.halt_entries(halt)
                self.log.warning(
                    "kill switch " + ("on: entries paused" if snapshot.entries_paused else "off")
                )
            # What the database holds; a batch written since the snapshot only makes the next
            # write a little larger than it needs to be.
            self.saved_states = dict(snapshot.states)
            self.loaded_states = snapshot.states
            self.heartbeat_timeout_s = snapshot.heartbeat_timeout_s
            self.reload_ms = snapshot.reload_ms
        await self.recover()  # an order whose answer never came is settled here
        # A REST round trip: outside the lock, so that no batch waits for it.
        await self._refresh_margin()
        if after - before:
            self.log.info("levels added", levels=sorted(after - before, key=str))
        if before - after:
            self.log.info("levels removed", levels=sorted(before - after, key=str))

    async def recover(self) -> None:
        """Settle intents left unsettled (a stopped bot, an order whose answer never came):
        look each up by its client id first, and send only one the exchange never received,
        and only while it is recent. An entry that ends refused was never filled: its level
        side is corrected, and its tiers stay fired. The look in the database does not hold
        up the ticks: the lock is taken only when there is an order to settle."""
        engine = self.engine
        assert engine is not None
        on_their_way = set(self.unsettled)
        # On the order path's thread, after every intent already handed to it: an order is in
        # the answer only if its intent was written, and on its way if it was or still is
        # unsettled (its own answer settles it).
        pending = await database.orders.call(store.pending_trades, self.exchange_id, self.symbol)
        lost = [
            trade
            for trade in pending
            if trade.client_order_id not in on_their_way
            and trade.client_order_id not in self.unsettled
        ]
        if lost:
            async with self.lock:
                await self._settle_lost(engine, lost)

    async def _settle_lost(self, engine: SymbolEngine, lost: list[Trade]) -> None:
        results: Answers = []
        for trade in lost:
            cid = trade.client_order_id
            result = await self.exchange.find_order(cid, self.symbol)
            if result is None and timezone.now() - trade.created_at <= RESEND_WITHIN:
                request = OrderRequest(
                    self.exchange_id,
                    self.symbol,
                    trade.side,
                    trade.action,
                    float(trade.size),
                    float(trade.tick_price or 0),
                    cid,
                )
                result = await self.exchange.place_order(request)
            if result is None:
                result = OrderResult(cid, REJECTED, error="Not sent before the bot stopped.")
            if result.status != FILLED and trade.level_id in engine.level_ids:
                engine.undo_fill(trade.level_id, trade.side, float(trade.size))
            self.log.info("order recovered", client_order_id=cid, status=result.status)
            results.append((cid, result))
        if results:
            await database.orders.call(
                store.record_outcome,
                self.exchange_id,
                self.symbol,
                results,
                self._changed_states(engine),
                [],
            )

    # -- ticks ---------------------------------------------------------------------------

    async def process(self, ticks: Ticks, received_at: float | None = None) -> None:
        """Run a batch through the engine and hand its decisions on. It waits neither for
        the intents' write nor for the orders' answers: `settled()` does."""
        if self.failure is not None:
            raise self.failure
        arrived = time.perf_counter() if received_at is None else received_at
        engine = self.engine
        assert engine is not None
        with collections_deferred:
            async with self.lock:
                self.last_message = time.monotonic()
                if self.stale:
                    self.stale = False
                    self.log.info("feed recovered")
                    down_s = time.monotonic() - self.stale_since
                    notify(texts.feed_recovered(**self._where, down_s=down_s))
                events = engine.run(ticks)
                self.ticks += len(ticks)
                self.last_price = next(
                    (p for _, p, _ in reversed(ticks) if p != TRADE_ONLY), self.last_price
                )
                if events:
                    self._act(engine, events, arrived)
        self.publisher.price(self.exchange_id, self.symbol, self.last_price)

    async def settled(self) -> None:
        """Wait until every order started so far is answered and its outcome written."""
        while self.settling:
            await asyncio.gather(*list(self.settling), return_exceptions=True)

    def _act(
        self, engine: SymbolEngine, events: list[Any], arrived: float
    ) -> asyncio.Task[Answers] | None:
        """Hand a batch's decisions to the order path (under the lock, without yielding, so
        that the writes queue in the engine's order): the intents and the tier state they
        changed to the database thread, each order to the exchange once its intent is
        written. The task returned writes their outcomes once the answers are in and gives
        those known (an order whose answer never came is left to recovery); None when there
        is nothing to wait for."""
        if all(isinstance(e, IgnoredCrossing) for e in events):
            for event in events:
                self._log_event(event)
            self.unsaved_events.extend(events)
            return None
        orders = [e for e in events if isinstance(e, OrderIntent)]
        states = self._changed_states(engine)
        events_done = [
            *self.unsaved_events,
            *(e for e in events if isinstance(e, TierFire | IgnoredCrossing)),
        ]
        self.unsaved_events = []
        written: asyncio.Future[None] | None = None
        sent: list[tuple[OrderIntent, str, Sent]] = []
        if orders:
            assert self.journal is not None
            self.orders_decided += 1  # a position read begun before this is out of date
            decided = time.perf_counter()
            decisions = Decisions(
                self.exchange_id,
                self.symbol,
                states,
                [(o, client_order_id(self.prefix, o, symbol_key=self.tiers_key)) for o in orders],
            )
            try:
                self.journal.append(decisions)
            except OSError as e:
                # Nothing goes out, and nothing more will: the symbol stops here.
                self.failure = e
                self.log.error("order journal not written", error=str(e))
                raise
            times = (arrived, decided, time.perf_counter())
            # Unsettled from here: a position read begun while the intents are written would
            # count their fills, which it cannot have seen.
            self.unsettled.update(cid for _, cid in decisions.orders)
            answers = self.flow.send(decisions.orders, times)
            sent = [(o, cid, a) for (o, cid), a in zip(decisions.orders, answers, strict=True)]
            # Asked after the sends, so that the order thread wakes once they have gone out.
            written = database.orders.submit(store.record_decisions, decisions)
            written.add_done_callback(self._intents_recorded)
        settle = asyncio.create_task(
            self._settle(engine, events, written, sent, states, events_done)
        )
        self.settling.add(settle)
        settle.add_done_callback(self._settle_done)
        return settle

    async def _settle(
        self,
        engine: SymbolEngine,
        events: list[Any],
        written: asyncio.Future[None] | None,
        sent: list[tuple[OrderIntent, str, Sent]],
        states: dict[LevelId, LevelState],
        events_done: list[TierFire | IgnoredCrossing],
    ) -> Answers:
        try:
            try:
                if written is not None:
                    await asyncio.shield(written)
            except BaseException as e:
                # The orders went out; their intents stay in the journal, which the next start
                # records before recovery settles their orders. No order goes out after these.
                self.failure = e
                await asyncio.gather(
                    *(asyncio.shield(answer) for *_, answer in sent), return_exceptions=True
                )
                raise
            # Shielded: an answer stays the order flow's to give, whoever stops waiting for it.
            answers = [await asyncio.shield(answer) for *_, answer in sent]
            # Logged once the orders are out: a log line costs 0.1 ms of the event loop's
            # time, which the intents' write and the sends would wait for.
            for event in events:
                if not isinstance(event, OrderIntent):
                    self._log_event(event)
            results: Answers = []
            async with self.lock:
                for (order, cid, _answer), result in zip(sent, answers, strict=True):
                    if result is None:
                        continue  # outcome unknown: the intent stays, and recovery settles it
                    # A refused order was never filled; one filled in part (a market order
                    # stopped by its slippage cap), only in that part.
                    filled = result.filled_size if result.status == FILLED else 0.0
                    if filled < order.size * (1 - SIZE_TOLERANCE):
                        if order.action == "close":
                            engine.close_refused(order, order.size - filled)
                        elif order.level_id is not None:
                            engine.undo_fill(order.level_id, order.side, order.size - filled)
                    results.append((cid, result))
                # Only tier state newer than what the database was handed already: the
                # decision's went with the intents, and a later batch may have handed on a
                # newer state of the same level since, which this write must not undo.
                if written is None:  # no intent: the decision's state goes with the outcome
                    fresh = {k: v for k, v in states.items() if self.saved_states.get(k) == v}
                else:
                    fresh = {}
                fresh.update(self._changed_states(engine))
                recorded = database.orders.submit(
                    store.record_outcome,
                    self.exchange_id,
                    self.symbol,
                    results,
                    fresh,
                    events_done,
                )
            await recorded
        finally:
            self.unsettled.difference_update(cid for _, cid, _ in sent)
        if sent:
            self.publisher.trades(self.exchange_id, self.symbol, orders=len(sent))
        if any(result.status == FILLED for _, result in results):
            self.log.info("position changed", **{s.lower(): engine.position[s] for s in SIDES})
        if self.resync_wanted and not self.unsettled:
            await self.resync_positions()
        return results

    def _intents_recorded(self, written: asyncio.Future[None]) -> None:
        if self.journal is not None and not written.cancelled() and written.exception() is None:
            self.journal.recorded()

    def _order_error(self, error: str) -> None:
        self.last_error = error

    def _settle_done(self, task: asyncio.Task[Answers]) -> None:
        self.settling.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            self.last_error = f"{type(error).__name__}: {error}"
            self.log.error("order outcome not recorded", error=self.last_error)

    def _changed_states(self, engine: SymbolEngine) -> dict[LevelId, LevelState]:
        """The levels whose tier state differs from what was last written: only those are
        written, whatever changed them (a fire, a reset by a close, a refused entry). Only
        the levels the engine changed since the last look are looked at."""
        changed = {}
        for level_id in engine.take_changed():
            state = engine.level_state(level_id)
            if self.saved_states.get(level_id) != state:
                changed[level_id] = state
        self.saved_states.update(changed)
        return changed

    def _log_event(self, event: TierFire | IgnoredCrossing) -> None:
        if isinstance(event, TierFire):
            self.log.info(
                "tier fired",
                level_id=event.level_id,
                side=event.side,
                tiers=list(event.tiers),
                price=event.price,
                size=event.size,
            )
        else:
            self.log.info(
                "crossing ignored",
                level_id=event.level_id,
                side=event.side,
                tiers=list(event.tiers),
                price=event.price,
                reason=event.reason,
                detail=event.describe(),
            )

    # -- health --------------------------------------------------------------------------

    async def check_stale(self) -> None:
        """A feed that can stall and has said nothing within the heartbeat timeout is stale:
        the engine forgets its previous price, so entries wait for fresh ticks."""
        if not self.feed.can_stall or self.stale or self.engine is None:
            return
        if time.monotonic() - self.last_message < self.heartbeat_timeout_s:
            return
        async with self.lock:
            self.stale = True
            self.stale_since = self.last_message
            self.engine.mark_stale()
        silent_s = time.monotonic() - self.last_message
        self.log.warning("feed stale", silent_s=round(silent_s, 1))
        notify(texts.feed_stale(**self._where, silent_s=silent_s))
        await self.flush_status()

    async def save_events(self) -> None:
        """Write the ignored crossings waiting since the last decision."""
        if not self.unsaved_events:
            return
        events, self.unsaved_events = self.unsaved_events, []
        await database.house.call(
            store.record_outcome, self.exchange_id, self.symbol, [], {}, list(events)
        )

    async def flush_status(self, state: str | None = None) -> None:
        if state is None:
            state = FeedStatus.State.STALE if self.stale else FeedStatus.State.LIVE
        latency = self.flow.round_trip_ms
        await database.house.call(
            store.feed_status,
            self.exchange_id,
            self.symbol,
            feed=self.feed.description,
            state=state,
            last_message_at=timezone.now()
            - timedelta(seconds=time.monotonic() - self.last_message),
            last_price=None if self.last_price is None else decimal_of(self.last_price),
            rest_latency_ms=latency,
            reconnects=self.feed.reconnects,
            last_error=self.last_error or self.feed.last_error,
            session_id=self.session_id,
        )
