"""A local Bybit v5 exchange (linear perpetuals) for tests and rehearsals: ccxt's real `bybit`
class trades against it over REST and websockets on 127.0.0.1.

    sim = BybitSimulator(trades="trades.csv", speed=10)   # or price=60000 for a flat market
    await sim.start()                                     # or SimulatorThread(...).start()
    config = AccountConfig("bybit", api_key="k", secret="s",
                           rest_url=sim.rest_url, ws_url=sim.ws_url)
    client = make_client(config)                          # trading.exchange.accounts

`manage.py exchange_sim` runs one as a process. Modules: `bybit` (the simulator and its fault
controls), `account` (orders, fills, positions), `stops` (a position's stop-loss), `market`
(price, quote, replay), `server` (REST routes), `streams` (websockets), `wire` (Bybit's JSON
shapes), `instruments` (the recorded instrument list), `thread` (running it beside
synchronous code).
"""

from __future__ import annotations

from trading.exchange.simulator.bybit import (
    CONTROLS,
    BybitSimulator,
    SimulatorConfigError,
)
from trading.exchange.simulator.thread import SimulatorThread

__all__ = [
    "CONTROLS",
    "BybitSimulator",
    "SimulatorConfigError",
    "SimulatorThread",
]
