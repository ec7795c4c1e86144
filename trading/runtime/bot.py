"""The runbot process: one SymbolRunner per (exchange, symbol), and the work around them.

`Bot.run()` starts a session, starts every symbol's runner, and then keeps house: heartbeat
and status every second, levels reloaded every `levels_reload_ms`, stale feeds detected, old
level events pruned. It stops on SIGTERM or SIGINT, after `run_for` seconds, or when every
replay has reached its end; a batch being worked on is always finished and recorded first.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog

from trading.choices import TradeReason
from trading.feeds.base import Feed
from trading.feeds.live import LiveFeed
from trading.feeds.synthetic import SyntheticFeed
from trading.models import FeedStatus
from trading.notify import Notification, flush, notify, texts
from trading.notify.notification import settle_currency
from trading.runtime import database, store
from trading.runtime.dailyloss import DailyLoss, Outcome
from trading.runtime.funding import follow_funding, funding_since
from trading.runtime.journal import JournalError
from trading.runtime.publish import Publisher
from trading.runtime.runner import SymbolNotReady, SymbolRunner
from trading.runtime.venues import VenueError, Venues, live_config

log = structlog.get_logger("levelbot.bot")

EVENT_RETENTION = timedelta(days=7)
NOTIFY_FLUSH_S = 5.0
CHECKPOINT_EVERY_S = 10.0  # SQLite's write-ahead log copied back, off the order path
RETRY_REFUSED_S = 60.0  # a symbol the account refused (hedge mode, leverage) is tried again
STATUS_EVERY_S = 1.0


class BotConfigError(Exception):
    """runbot cannot start as asked; the message says why and what to do."""


@dataclass(frozen=True)
class BotOptions:
    exchanges: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()
    feed: str = "synthetic"
    run_for: float | None = None
    seed: int = 1
    live: bool = False  # a real account; paper otherwise


def feed_factory(spec: str, *, seed: int) -> Callable[[store.SymbolSnapshot], Feed] | None:
    """A function making each symbol's feed from its snapshot; checks the spec at once. The
    live feed has none: `Venues` makes it, from the exchange's ccxt client."""
    if spec == "synthetic":

        def synthetic(snapshot: store.SymbolSnapshot) -> Feed:
            assert snapshot.tiers is not None
            prices = [float(level.level_price) for level in snapshot.levels]
            return SyntheticFeed(prices, float(snapshot.tiers.tier1_pct), seed=seed)

        return synthetic
    if spec.startswith("replay:"):
        # Only a replay reads files, row by row in Python: pyarrow and numpy never load here.
        from trading.feeds.replay import ReplayFeed, parse_replay_spec

        try:
            path, speed = parse_replay_spec(spec.removeprefix("replay:"))
        except ValueError as e:
            raise BotConfigError(str(e)) from None
        if not path.exists():
            raise BotConfigError(f"{path}: no such file to replay.")
        return lambda snapshot: ReplayFeed(path, speed)
    if spec == "live":
        return None
    raise BotConfigError(f"Unknown feed {spec!r}: use synthetic, replay:PATH[@SPEED] or live.")


class Bot:
    def __init__(self, options: BotOptions) -> None:
        self.options = options
        if options.live and options.feed != "live":
            raise BotConfigError(
                "--live trades a real account, so it takes real prices only: add --feed live."
            )
        self.make_feed = feed_factory(options.feed, seed=options.seed)
        self.replay = options.feed.startswith("replay:")
        self.venues = Venues(live=options.live, live_feed=options.feed == "live")
        self._check_accounts(options.exchanges)
        self.stop = asyncio.Event()
        self.runners: dict[tuple[str, str], SymbolRunner] = {}
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.session_id: Any = None
        self.prefix = ""
        self.publisher = Publisher.from_settings()
        self.refused: dict[tuple[str, str], tuple[str, float]] = {}  # (why, when)
        self.account_watchers: dict[str, asyncio.Task[None]] = {}
        self.daily_loss = DailyLoss()
        self.tallied = False
        self.funding: asyncio.Task[None] | None = None  # live: the exchange's funding, read

    def _check_accounts(self, exchange_ids: tuple[str, ...] | set[str]) -> None:
        """Exchanges named for a live feed must be supported, and a live account must have
        its keys: checked before anything starts."""
        if self.options.feed == "live":
            for exchange_id in sorted(exchange_ids):
                live_config(exchange_id, trading=self.options.live)

    def _wanted(self, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
        exchanges, symbols = self.options.exchanges, self.options.symbols
        return [
            (e, s)
            for e, s in pairs
            if (not exchanges or e in exchanges) and (not symbols or s in symbols)
        ]

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._signalled, sig)
        if self.options.run_for is not None:
            loop.call_later(self.options.run_for, self.stop.set)
        pairs = self._wanted(await database.house.call(store.trading_pairs))
        if self.replay and len(pairs) != 1:
            raise BotConfigError(
                "A replay feeds one symbol: choose it with --exchange and --symbols "
                f"(levels with tiers found for {len(pairs)} symbols)."
            )
        self._check_accounts({exchange_id for exchange_id, _ in pairs})
        await database.house.call(store.take_over_checkpoints)
        self.session_id = await database.house.call(store.session_start)
        self.prefix = await database.house.call(store.order_prefix)
        log.info("bot started", session=str(self.session_id), feed=self.options.feed)
        stopped_by = "stopped"
        try:
            await self._start_symbols(pairs)
            if self.options.live:
                self.funding = asyncio.create_task(follow_funding(self.runners.values, self.stop))
            await self._check_daily_loss()  # the history, before anything is told
            # What start-up built lives as long as the bot: out of every later collection.
            gc.collect()
            gc.freeze()
            notify(
                texts.bot_started(
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    live=self.options.live,
                    feed=self.options.feed,
                    symbols=list(self.runners),
                    session_id=str(self.session_id),
                )
            )
            await self._keep_house()
        except BaseException as e:
            stopped_by = f"stopped by an error: {type(e).__name__}: {e}"
            raise
        finally:
            await self._shutdown(stopped_by)

    def _signalled(self, sig: signal.Signals) -> None:
        log.info("stopping", signal=sig.name)
        self.stop.set()

    async def _start_symbols(self, pairs: list[tuple[str, str]]) -> None:
        for pair in pairs:
            if pair in self.runners:
                continue
            exchange_id, symbol = pair
            snapshot = await database.house.call(store.load_symbol, exchange_id, symbol)
            if snapshot.tiers is None or not snapshot.levels:
                continue
            refused = self.refused.get(pair)
            if refused is not None and time.monotonic() - refused[1] < RETRY_REFUSED_S:
                continue  # not every reload: each try costs the account's rate limit
            try:
                exchange = await self.venues.exchange(
                    exchange_id, fee_rate=snapshot.fee_rate, slippage_bps=snapshot.slippage_bps
                )
                await self.venues.prepare(exchange_id, symbol)
            except VenueError as e:
                await self._refuse(pair, str(e))
                continue
            if self.make_feed is not None:
                feed = self.make_feed(snapshot)
            else:
                feed = self.venues.feed(exchange_id, symbol)
            runner = SymbolRunner(
                exchange_id=exchange_id,
                symbol=symbol,
                exchange=exchange,
                feed=feed,
                prefix=self.prefix,
                session_id=self.session_id,
                publisher=self.publisher,
            )
            try:
                await runner.start()
            except SymbolNotReady as e:
                log.warning("symbol not started", exchange=exchange_id, symbol=symbol, why=str(e))
                continue
            except JournalError as e:
                await self._refuse(pair, str(e))
                continue
            if isinstance(feed, LiveFeed):
                feed.on_reconnect = runner.resync_positions  # REST is the source of truth
            self.runners[pair] = runner
            self.tasks[pair] = asyncio.create_task(self._consume(runner))
            if exchange_id not in self.account_watchers:
                watcher = self.venues.watch_account(exchange_id, self._positions_moved(exchange_id))
                if watcher is not None:
                    self.account_watchers[exchange_id] = watcher

    def _positions_moved(self, exchange_id: str) -> Callable[[set[str]], Awaitable[None]]:
        async def resync(symbols: set[str]) -> None:
            for symbol in symbols:
                runner = self.runners.get((exchange_id, symbol))
                if runner is not None:
                    await runner.resync_positions()

        return resync

    async def _refuse(self, pair: tuple[str, str], why: str) -> None:
        """A symbol that cannot trade: logged and shown on the status page, once per reason;
        tried again after RETRY_REFUSED_S."""
        told = self.refused.get(pair)
        self.refused[pair] = (why, time.monotonic())
        if told is not None and told[0] == why:
            return
        log.error("symbol not started", exchange=pair[0], symbol=pair[1], why=why)
        await database.house.call(
            store.feed_status,
            pair[0],
            pair[1],
            state=FeedStatus.State.STOPPED,
            last_error=why,
            session_id=self.session_id,
            feed=self.options.feed,
        )

    async def _consume(self, runner: SymbolRunner) -> None:
        """Feed batches into the runner until the feed ends or the bot stops. Stopping never
        interrupts a batch: only the wait for the next one."""
        batches = runner.feed.batches().__aiter__()
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            while not self.stop.is_set():
                following = asyncio.ensure_future(anext(batches))
                done, _ = await asyncio.wait(
                    {following, stopped}, return_when=asyncio.FIRST_COMPLETED
                )
                if following not in done:
                    following.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await following
                    break
                try:
                    ticks = following.result()
                except StopAsyncIteration:
                    runner.log.info("feed ended")
                    break
                await runner.process(ticks, runner.feed.received_at)
        finally:
            stopped.cancel()
            await batches.aclose()  # type: ignore[attr-defined]

    async def _keep_house(self) -> None:
        last_reload = last_prune = last_checkpoint = time.monotonic()
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=STATUS_EVERY_S)
            if self.replay and self.tasks and all(t.done() for t in self.tasks.values()):
                break
            for task in self.tasks.values():
                if task.done() and not task.cancelled() and (error := task.exception()):
                    raise error
            await database.house.call(store.session_heartbeat, self.session_id)
            await self._close_on_request()
            await self._check_daily_loss()
            for runner in self.runners.values():
                if runner.resync_wanted:  # a look at the positions that failed or was overtaken
                    await runner.resync_positions()
                await runner.sync_stops()
                await runner.check_stale()
                await runner.save_events()
                await runner.flush_status()
            self.publisher.status(self.runners.values())
            now = time.monotonic()
            reload_s = min((r.reload_ms for r in self.runners.values()), default=5000) / 1000
            if now - last_reload >= reload_s:
                last_reload = now
                await self.venues.refresh_settings()
                for runner in self.runners.values():
                    await runner.reload()
                    if self.options.live:
                        await runner.resync_positions()  # a close behind the bot's back
                if not self.replay:
                    pairs = self._wanted(await database.house.call(store.trading_pairs))
                    await self._start_symbols(pairs)
            if now - last_checkpoint >= CHECKPOINT_EVERY_S:
                last_checkpoint = now
                await database.checkpoints.call(store.checkpoint)
            if now - last_prune >= 3600:
                last_prune = now
                await database.house.call(store.prune_events, EVENT_RETENTION)

    async def _check_daily_loss(self, today: date | None = None) -> None:
        """Tally the orders settled since the last look and tell the trader about them (not
        about the history replayed at start); pause or free each account's entries by its
        daily loss limit (a new UTC day frees them)."""
        first = self.daily_loss.floor == 0 and not self.tallied
        outcomes, unsettled = await database.house.call(store.outcomes_since, self.daily_loss.floor)
        new = self.daily_loss.add(outcomes)
        self.daily_loss.settle_floor(unsettled)
        self.daily_loss.add_funding(
            await database.house.call(funding_since, self.daily_loss.funding_floor)
        )
        self.tallied = True
        if not first:
            for outcome in new:
                notify(outcome_notification(outcome))
        limits = await database.house.call(store.daily_loss_limits)
        today = today or datetime.now(UTC).date()
        told: set[str] = set()
        for (exchange_id, symbol), runner in self.runners.items():
            limit = limits.get(exchange_id)
            hit = self.daily_loss.hit(exchange_id, today, limit)
            if await runner.set_loss_limit_hit(hit) and hit and exchange_id not in told:
                told.add(exchange_id)
                notify(
                    texts.daily_loss_hit(
                        exchange=exchange_id,
                        net=self.daily_loss.net(exchange_id, today),
                        limit=limit,
                        currency=settle_currency(symbol),
                    )
                )

    async def _close_on_request(self) -> None:
        """Carry out the close requests of the dashboard and admin for this bot's symbols."""
        requests = await database.house.call(store.pending_close_requests, list(self.runners))
        for request in requests:
            runner = self.runners[(request.exchange, request.symbol)]
            status, detail = await runner.close_side(request.side, TradeReason.MANUAL.value)
            await database.house.call(store.close_request_done, request.pk, status, detail)

    async def _shutdown(self, reason: str = "stopped") -> None:
        self.stop.set()
        background = [*self.account_watchers.values(), *([self.funding] if self.funding else [])]
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        for runner in self.runners.values():
            await runner.settled()  # the orders on their way are answered and recorded
            await runner.save_events()
            await runner.flush_status()
            runner.close_journal()
            runner.log.info("symbol stopped", ticks=runner.ticks, **runner.flow.latency_summary())
        await self.venues.close()
        if self.session_id is not None:
            await database.house.call(store.session_stop, self.session_id)
        self.publisher.status(self.runners.values())
        await self.publisher.close()
        if self.tallied:  # the orders settled since the last look, told before the stop
            try:
                await self._check_daily_loss()
            except Exception as e:  # the database went away: the stop goes on regardless
                log.warning("last orders not told", error=f"{type(e).__name__}: {e}")
        notify(
            texts.bot_stopped(
                hostname=socket.gethostname(),
                pid=os.getpid(),
                reason=reason,
                session_id=str(self.session_id or ""),
            )
        )
        await asyncio.to_thread(flush, NOTIFY_FLUSH_S)  # the last words leave before exit
        log.info("bot stopped", symbols=len(self.runners))


def outcome_notification(outcome: Outcome) -> Notification:
    """What a trader hears of a settled order: a fill, a close with its PnL, or a refusal."""
    common = {"exchange": outcome.exchange, "symbol": outcome.symbol, "side": outcome.side}
    if outcome.status != "filled":
        return texts.order_rejected(
            **common,
            action=outcome.action,
            size=outcome.size,
            reason=outcome.reason,
            error=outcome.error,
            tiers=outcome.tiers,
        )
    if outcome.action == "close":
        return texts.position_closed(
            **common,
            size=outcome.size,
            price=outcome.price,
            realized_pnl=outcome.realized_pnl,
            reason=outcome.reason,
        )
    return texts.order_filled(
        **common,
        action=outcome.action,
        size=outcome.size,
        price=outcome.price,
        fee=outcome.fee,
        reason=outcome.reason,
        tiers=outcome.tiers,
    )
