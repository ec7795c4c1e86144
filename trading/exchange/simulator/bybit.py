"""`BybitSimulator`: a local Bybit v5 exchange that ccxt's real `bybit` class trades against.

One account, one linear symbol, REST and websockets on one port of 127.0.0.1. Prices are flat
(settable) or replayed from a recorded trades file; market orders fill at once at the quote.
Faults (dropped or stalled websockets, late or rate-limited answers, refused orders, positions
closed behind the client's back) are coroutines here and `POST /sim/control` calls away, so a
test can fault the simulator in-process or a bot running in another process. A position's
stop-loss (`/v5/position/trading-stop`) rests here and closes the side when a price move
reaches it, whether or not any client is still connected. The public stream keeps Bybit's pace:
the trades of one moment go out in one message, and the ticker and the top of the book at most
every 100 ms (Bybit's push frequency for derivatives tickers), carrying the latest state. With
a `funding_rate`, funding is settled on the open sides at each funding time (every
`funding_interval_s`, 8 h by default, on the wall clock) at the last price, and listed by
`/v5/execution/list` with execType Funding.

It runs on the caller's event loop: `await sim.start()`, `await sim.stop()`. To drive it from
synchronous code or another thread, use `SimulatorThread`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from trading.backtest.formats import DataFileError
from trading.engine import LONG, SHORT
from trading.exchange.simulator import wire
from trading.exchange.simulator.account import HEDGE, Account, Order
from trading.exchange.simulator.instruments import (
    DEFAULT_INSTRUMENTS,
    Instruments,
    InstrumentsError,
)
from trading.exchange.simulator.market import (
    DEFAULT_SPREAD,
    FUNDING_INTERVAL_MS,
    MarketState,
    Tick,
    first_tick,
    now_ms,
    replay,
)
from trading.exchange.simulator.server import build_app
from trading.exchange.simulator.stops import reached
from trading.exchange.simulator.streams import Streams

logger = logging.getLogger(__name__)

TAKER_FEE = 0.00055
DEFAULT_PRICE = 60_000.0  # a BTC-like flat price; give `price` for other symbols
DEFAULT_API_KEY = "k"
TICKER_EVERY_S = 0.1  # Bybit pushes a derivatives ticker at most every 100 ms
CONTROLS = (
    "drop_websockets",
    "stall_websockets",
    "delay_next_orders",
    "rate_limit_next",
    "rate_limit_next_orders",
    "time_out_next_orders",
    "insufficient_balance_next",
    "close_position",
    "set_price",
    "start_replay",
)


class SimulatorConfigError(ValueError):
    """The simulator cannot start with these options; the message says what to change."""


@dataclass(slots=True)
class Faults:
    """How many of the next requests each fault still applies to."""

    rate_limited: int = 0
    rate_limited_orders: int = 0
    timed_out: int = 0
    insufficient: int = 0
    delayed: int = 0
    delay_seconds: float = 0.0

    def take(self, name: str) -> bool:
        """Whether fault `name` applies to this request, using one of its count."""
        left: int = getattr(self, name)
        if left > 0:
            setattr(self, name, left - 1)
        return left > 0


class BybitSimulator:
    def __init__(
        self,
        *,
        symbol: str = "BTCUSDT",
        trades: Path | str | None = None,
        speed: float = 1.0,
        price: float | None = None,
        balance: float = 10_000.0,
        spread: float = DEFAULT_SPREAD,
        fee_rate: float = TAKER_FEE,
        api_key: str = DEFAULT_API_KEY,
        instruments: Path = DEFAULT_INSTRUMENTS,
        replay_paused: bool = False,
        funding_rate: float = 0.0,
        funding_interval_s: float = FUNDING_INTERVAL_MS / 1000,
    ) -> None:
        """`speed` is the replay's pace against the file's own time (0: as fast as possible);
        `spread` the bid-ask gap as a fraction of the price; `replay_paused` holds the replay
        until `start_replay()`, so that subscribers see the file from its first trade;
        `funding_rate` (0.0001 is 0.01%; 0: no funding) is settled every
        `funding_interval_s`."""
        if speed < 0:
            raise SimulatorConfigError(f"The speed must be 0 or more, not {speed}.")
        if not math.isfinite(funding_rate) or not funding_interval_s >= 0.001:
            raise SimulatorConfigError(
                "The funding rate must be a number and the funding interval at least 0.001 s."
            )
        if balance <= 0 or spread < 0 or fee_rate < 0:
            raise SimulatorConfigError("The balance must be above 0; spread and fee not below.")
        if price is not None and price <= 0:
            raise SimulatorConfigError(f"The price must be above 0, not {price}.")
        try:
            self.instruments = Instruments(Path(instruments))
            self.instrument = self.instruments.get(symbol)
            start = first_tick(Path(trades)) if trades is not None else None
        except (InstrumentsError, DataFileError) as e:
            raise SimulatorConfigError(str(e)) from None
        self.symbol = symbol
        self.trades = Path(trades) if trades is not None else None
        self.speed = speed
        self.api_key = api_key
        self.market = MarketState(
            self.instrument,
            start.price if start else price or DEFAULT_PRICE,
            spread=spread,
            ts=start.ts if start else now_ms(),
            funding_rate=funding_rate,
            funding_interval_ms=round(funding_interval_s * 1000),
        )
        self.account = Account(self.instrument, balance=balance, fee_rate=fee_rate, now=now_ms())
        self.ticker_topic = f"tickers.{symbol}"
        self.trade_topic = f"publicTrade.{symbol}"
        self.book_topic = f"orderbook.1.{symbol}"
        self.streams = Streams(
            api_key=api_key,
            public_topics=frozenset((self.ticker_topic, self.trade_topic, self.book_topic)),
            snapshot=self._snapshot,
        )
        self.faults = Faults()
        self.requests: Counter[str] = Counter()
        self.port = 0
        self._replay_paused = replay_paused
        self._replay_go: asyncio.Event | None = None
        self._replay_task: asyncio.Task[None] | None = None
        self._funding_task: asyncio.Task[None] | None = None
        self._runner: web.AppRunner | None = None
        self._trades_out: list[dict[str, Any]] = []  # trades of this moment, not sent yet
        self._trades_push: asyncio.Task[None] | None = None
        self._ticker_push: asyncio.Task[None] | None = None
        self._ticker_sent = -math.inf  # the event loop's time of the last ticker sent

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1 (`port` 0: any free port, then read `self.port`)."""
        self._runner = web.AppRunner(build_app(self), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self.trades is not None:
            self._replay_go = asyncio.Event()
            if not self._replay_paused:
                self._replay_go.set()
            self._replay_task = asyncio.create_task(self._replay(self.trades))
        if self.market.funding_rate:
            self._funding_task = asyncio.create_task(self._settle_funding())

    async def stop(self) -> None:
        tasks = [
            t
            for t in (self._replay_task, self._funding_task, self._trades_push, self._ticker_push)
            if t is not None
        ]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.streams.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    # Controls: also reachable as POST /sim/control {"fault": name, ...} --------------------

    async def control(self, fault: str, **args: Any) -> Any:
        if fault not in CONTROLS:
            raise ValueError(f"Unknown fault {fault!r}: one of {', '.join(CONTROLS)}.")
        return await getattr(self, fault)(**args)

    async def drop_websockets(self) -> None:
        """Close every websocket connection from the server side."""
        await self.streams.drop()

    async def stall_websockets(self, seconds: float) -> None:
        """Send nothing on any websocket (no data, no replies, no pongs) for `seconds`."""
        self.streams.stall(float(seconds))

    async def delay_next_orders(self, n: int, seconds: float) -> None:
        """Fill the next `n` orders at once, but answer each only after `seconds`."""
        self.faults.delayed, self.faults.delay_seconds = int(n), float(seconds)

    async def rate_limit_next(self, n: int) -> None:
        """Answer the next `n` private requests with retCode 10006, doing nothing."""
        self.faults.rate_limited = int(n)

    async def rate_limit_next_orders(self, n: int) -> None:
        """Refuse the next `n` orders, alone or in a batch, with retCode 10006, doing nothing."""
        self.faults.rate_limited_orders = int(n)

    async def time_out_next_orders(self, n: int) -> None:
        """Fill the next `n` orders, alone or in a batch, yet answer each with retCode 5004
        "Server Timeout", as Bybit's gateway does when the matching engine answers late."""
        self.faults.timed_out = int(n)

    async def insufficient_balance_next(self, n: int) -> None:
        """Answer the next `n` order creates with retCode 110007, doing nothing."""
        self.faults.insufficient = int(n)

    async def close_position(self, symbol: str, side: str) -> dict[str, Any]:
        """Close a whole side (LONG or SHORT) as a liquidation or a manual close would, with
        the private stream's updates; returns the closing order."""
        if symbol != self.symbol:
            raise ValueError(f"The simulator trades {self.symbol}, not {symbol}.")
        if side.upper() not in (LONG, SHORT):
            raise ValueError(f"The side must be {LONG} or {SHORT}, not {side!r}.")
        order = self.account.close_side(side.upper(), self.market.quote(), now_ms())
        await self.publish_order(order)
        return self._summary(order)

    async def set_price(self, price: float) -> None:
        """Move the flat price (and the quote around it); not while a file drives it."""
        if self.trades is not None:
            raise ValueError("The trades file drives the price: set_price needs no file.")
        if not float(price) > 0:
            raise ValueError(f"The price must be above 0, not {price}.")
        self.market.set_price(float(price))
        self._market_moved()
        await self._trigger_stops()

    async def start_replay(self) -> None:
        """Let a replay created with `replay_paused` begin."""
        if self._replay_go is None:
            raise ValueError("There is no trades file to replay.")
        self._replay_go.set()

    # Introspection ----------------------------------------------------------------------------

    def orders(self) -> list[dict[str, Any]]:
        """Every accepted order, oldest first."""
        return [self._summary(order) for order in self.account.orders]

    def positions(self) -> dict[str, dict[str, float]]:
        """Each side's size, average entry price, unrealised PnL at the last price, and
        realised PnL net of fees (as Bybit counts it)."""
        summary = {}
        for side in (LONG, SHORT):
            held = self.account.position(side)
            summary[side] = {
                "size": held.size,
                "entry_price": held.entry_price,
                "unrealised_pnl": held.unrealized(side, self.market.last),
                "realised_pnl": self.account.books[side].cum_realised,
            }
        return summary

    def stops(self) -> dict[str, float | None]:
        """Each side's stop-loss price on the exchange, None where there is none."""
        held = self.account.stops
        return {side: float(held[side].price) if side in held else None for side in (LONG, SHORT)}

    def topics(self) -> list[str]:
        """The websocket topics some client is subscribed to now."""
        return sorted(self.streams.topics())

    def state(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "price": self.market.last,
            "hedge_mode": self.account.mode == HEDGE,
            "leverage": str(self.account.leverage),
            "wallet_balance": self.account.wallet_balance(),
            "orders": self.orders(),
            "positions": self.positions(),
            "stops": self.stops(),
            "topics": self.topics(),
            "requests": dict(self.requests),
        }

    # Publishing -------------------------------------------------------------------------------

    async def publish_order(self, order: Order) -> None:
        """The private stream's news of a fill: the order, its executions, the positions."""
        mark = self.market.last
        account = self.account
        await self._publish_private("order", [wire.order_record(order, account, pushed=True)])
        executions = [
            wire.execution_record(order, fill, account, mark, pushed=True) for fill in order.fills
        ]
        await self._publish_private("execution", executions)
        await self.publish_positions({fill.side for fill in order.fills})

    async def publish_positions(self, sides: set[str]) -> None:
        """The private stream's news of these sides' positions (LONG/SHORT): a fill, a stop."""
        account, mark = self.account, self.market.last
        records = [
            wire.position_record(account, index, side, mark, pushed=True)
            for index, side in account.slots()
            if side is None or side in sides
        ]
        await self._publish_private("position", records)

    async def _publish_private(self, topic: str, data: list[dict[str, Any]]) -> None:
        message = {"id": str(uuid.uuid4()), "topic": topic, "creationTime": now_ms()}
        await self.streams.publish(topic, {**message, "data": data})

    async def _settle_funding(self) -> None:
        """Settle funding at each funding time, at the last price, as long as the simulator
        runs."""
        market = self.market
        at = market.next_funding_ms(now_ms())
        while True:
            await asyncio.sleep(max(0.0, (at - now_ms()) / 1000))
            self.account.settle_funding(market.funding_rate, market.last, at)
            at = market.next_funding_ms(max(now_ms(), at))

    async def _on_tick(self, tick: Tick) -> None:
        market = self.market
        market.trade(tick)
        if tick.qty:
            trade_id = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{self.symbol}:{market.seq}"))
            self._trades_out.append(wire.trade_record(tick, market, trade_id))
        self._market_moved()
        await self._trigger_stops()

    async def _trigger_stops(self) -> None:
        """Close at the market every side whose stop-loss the price has reached, as Bybit
        does on its own: no client needs to be there."""
        if not self.account.stops:
            return
        for side, stop in reached(self.account, self.market.last):
            order = self.account.close_side(side, self.market.quote(), now_ms(), stop)
            await self.publish_order(order)

    def _market_moved(self) -> None:
        """A market move goes out on the public stream at Bybit's pace: the trades of this
        moment together, once the moment is over; the ticker's delta and the top of the book
        at most every TICKER_EVERY_S, as they stand when they go."""
        if self._trades_out and self._trades_push is None:
            self._trades_push = asyncio.create_task(self._push_trades())
        if self._ticker_push is None:
            self._ticker_push = asyncio.create_task(self._push_ticker())

    async def _push_trades(self) -> None:
        try:
            data, self._trades_out = self._trades_out, []
            message = {"topic": self.trade_topic, "type": "snapshot", "ts": self.market.ts}
            await self.streams.publish(self.trade_topic, {**message, "data": data})
        finally:
            self._trades_push = None
        if self._trades_out:  # trades that came while these went out
            self._market_moved()

    async def _push_ticker(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            wait = self._ticker_sent + TICKER_EVERY_S - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            self._ticker_sent = loop.time()
            await self.streams.publish(self.ticker_topic, self._ticker_message(snapshot=False))
            await self.streams.publish(self.book_topic, self._book_message())
        finally:
            self._ticker_push = None

    def _snapshot(self, topic: str) -> dict[str, Any] | None:
        """What a new subscriber to `topic` gets at once, as on Bybit."""
        if topic == self.ticker_topic:
            return self._ticker_message(snapshot=True)
        if topic == self.book_topic:
            return self._book_message()
        return None

    def _ticker_message(self, *, snapshot: bool) -> dict[str, Any]:
        market = self.market
        data = wire.ticker_record(market) if snapshot else wire.ticker_delta(market)
        kind = "snapshot" if snapshot else "delta"
        return {
            "topic": self.ticker_topic,
            "type": kind,
            "data": data,
            "cs": market.seq,
            "ts": market.ts,
        }

    def _book_message(self) -> dict[str, Any]:
        ts = self.market.ts
        data = wire.book_record(self.market)
        return {"topic": self.book_topic, "type": "snapshot", "ts": ts, "data": data, "cts": ts}

    async def _replay(self, path: Path) -> None:
        assert self._replay_go is not None
        await self._replay_go.wait()
        try:
            await replay(path, self.speed, self._on_tick)
        except DataFileError:
            logger.exception("The replay of %s stopped at a bad line; the price stays put.", path)

    def _summary(self, order: Order) -> dict[str, Any]:
        return {
            "orderId": order.order_id,
            "orderLinkId": order.order_link_id,
            "side": order.side,
            "positionIdx": order.position_idx,
            "qty": float(order.qty),
            "price": order.avg_price,
            "fee": order.fee,
            "reduceOnly": order.reduce_only,
            "createType": order.create_type,
            "slippageTolerance": order.slippage_tolerance,
        }
