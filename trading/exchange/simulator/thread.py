"""`SimulatorThread`: a `BybitSimulator` on its own event loop in a background thread.

For synchronous code and for tests whose own event loop (or a bot subprocess) talks to the
simulator: every method is safe to call from any thread and returns once the simulator's loop
has done the work. From a coroutine whose loop also runs a client of the simulator, call them
through `asyncio.to_thread`: they block the calling thread meanwhile, and some work waits for
the client (closing a websocket waits for the client's close frame).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from trading.exchange.simulator.bybit import BybitSimulator

CALL_TIMEOUT = 10.0
T = TypeVar("T")


class SimulatorThread:
    def __init__(self, *, port: int = 0, **options: Any) -> None:
        """`options` are `BybitSimulator`'s; they are checked here, in the calling thread."""
        self.sim = BybitSimulator(**options)
        self._port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bybit-simulator", daemon=True)

    def start(self) -> SimulatorThread:
        self._thread.start()
        if not self._ready.wait(CALL_TIMEOUT):
            raise TimeoutError("The simulator did not start within 10 s.")
        if self._failure is not None:
            raise self._failure
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(CALL_TIMEOUT)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def rest_url(self) -> str:
        return self.sim.rest_url

    @property
    def ws_url(self) -> str:
        return self.sim.ws_url

    # The simulator's controls and introspection, run on its loop -------------------------------

    def drop_websockets(self) -> None:
        self._await(self.sim.drop_websockets)

    def stall_websockets(self, seconds: float) -> None:
        self._await(self.sim.stall_websockets, seconds)

    def delay_next_orders(self, n: int, seconds: float) -> None:
        self._await(self.sim.delay_next_orders, n, seconds)

    def rate_limit_next(self, n: int) -> None:
        self._await(self.sim.rate_limit_next, n)

    def rate_limit_next_orders(self, n: int) -> None:
        self._await(self.sim.rate_limit_next_orders, n)

    def time_out_next_orders(self, n: int) -> None:
        self._await(self.sim.time_out_next_orders, n)

    def insufficient_balance_next(self, n: int) -> None:
        self._await(self.sim.insufficient_balance_next, n)

    def close_position(self, symbol: str, side: str) -> dict[str, Any]:
        return self._await(self.sim.close_position, symbol, side)

    def set_price(self, price: float) -> None:
        self._await(self.sim.set_price, price)

    def start_replay(self) -> None:
        self._await(self.sim.start_replay)

    def orders(self) -> list[dict[str, Any]]:
        return self._read(self.sim.orders)

    def positions(self) -> dict[str, dict[str, float]]:
        return self._read(self.sim.positions)

    def stops(self) -> dict[str, float | None]:
        return self._read(self.sim.stops)

    def topics(self) -> list[str]:
        return self._read(self.sim.topics)

    @property
    def requests(self) -> dict[str, int]:
        """How many REST requests each path has had."""
        return self._read(lambda: dict(self.sim.requests))

    def _await(self, control: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run a coroutine function of the simulator on its loop; return its result, or raise
        its exception, here."""
        if self._loop is None:
            raise RuntimeError("The simulator is not running: call start() first.")
        return asyncio.run_coroutine_threadsafe(control(*args), self._loop).result(CALL_TIMEOUT)

    def _read(self, reader: Callable[[], T]) -> T:
        """Read the simulator's state on its loop, never while it is half-way through a change."""

        async def read() -> T:
            return reader()

        return self._await(read)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            await self.sim.start(self._port)
        except BaseException as e:  # reported to start() in the calling thread
            self._failure = e
            self._ready.set()
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await self.sim.stop()
