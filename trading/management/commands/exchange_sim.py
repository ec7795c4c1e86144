"""`manage.py exchange_sim`: a local Bybit v5 exchange for ccxt, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.exchange.simulator import BybitSimulator, SimulatorConfigError
from trading.exchange.simulator.bybit import DEFAULT_API_KEY, DEFAULT_PRICE
from trading.exchange.simulator.instruments import DEFAULT_INSTRUMENTS
from trading.exchange.simulator.market import FUNDING_INTERVAL_MS


def _number(minimum: float, what: str) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not value >= minimum:  # also refuses nan
            raise argparse.ArgumentTypeError(f"{what} must be a number of {minimum} or more.")
        return value

    return parse


class Command(BaseCommand):
    help = (
        "Serve a simulated Bybit v5 exchange (one linear symbol, REST and websockets) on "
        "127.0.0.1 for ccxt's bybit class; prints its URLs, runs until SIGINT or SIGTERM."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=0, help="0 (default): any free port.")
        parser.add_argument(
            "--trades", type=Path, metavar="FILE", help="Replay this trades file (else flat)."
        )
        parser.add_argument(
            "--speed",
            type=_number(0, "The speed"),
            default=1.0,
            help="Replay pace against the file's own time; 0 is as fast as possible.",
        )
        parser.add_argument("--symbol", default="BTCUSDT", help="Bybit linear symbol.")
        parser.add_argument(
            "--balance", type=_number(0.01, "The balance"), default=10_000.0, help="USDT."
        )
        parser.add_argument(
            "--price",
            type=_number(1e-12, "The price"),
            help=f"Flat price without --trades (default {DEFAULT_PRICE:g}).",
        )
        parser.add_argument(
            "--spread",
            type=_number(0, "The spread"),
            default=0.01,
            help="Bid-ask spread in percent of the price (default 0.01).",
        )
        parser.add_argument(
            "--funding-rate",
            type=_number(-1, "The funding rate"),
            default=0.0,
            help="Funding rate settled on open positions at each funding time, 0.0001 is "
            "0.01%% (default 0: no funding).",
        )
        parser.add_argument(
            "--funding-interval-s",
            type=_number(0.001, "The funding interval"),
            default=FUNDING_INTERVAL_MS / 1000,
            metavar="SECONDS",
            help="Seconds between funding times, on the wall clock (default 28800: 8 h).",
        )
        parser.add_argument("--api-key", default=DEFAULT_API_KEY, help="The key clients send.")
        parser.add_argument("--instruments", type=Path, default=DEFAULT_INSTRUMENTS, metavar="FILE")
        parser.add_argument(
            "--run-for",
            type=_number(0.001, "--run-for"),
            metavar="SECONDS",
            help="Stop cleanly after this many seconds.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["trades"] is not None and not options["trades"].is_file():
            raise CommandError(
                f"The trades file {options['trades']} does not exist: give the path of a "
                "recorded trades file, or leave --trades out for a flat price."
            )
        try:
            sim = BybitSimulator(
                symbol=options["symbol"],
                trades=options["trades"],
                speed=options["speed"],
                price=options["price"],
                balance=options["balance"],
                spread=options["spread"] / 100,
                funding_rate=options["funding_rate"],
                funding_interval_s=options["funding_interval_s"],
                api_key=options["api_key"],
                instruments=options["instruments"],
            )
        except SimulatorConfigError as e:
            raise CommandError(str(e)) from None
        try:
            asyncio.run(self._serve(sim, options["port"], options["run_for"]))
        except OSError as e:  # the port is taken, most likely
            raise CommandError(
                f"The simulator could not listen on port {options['port']} ({e}): "
                "choose another port, or --port 0 for any free one."
            ) from None

    async def _serve(self, sim: BybitSimulator, port: int, run_for: float | None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await sim.start(port)
        try:
            self.stdout.write(f"REST {sim.rest_url} WS {sim.ws_url}")
            self.stdout.flush()
            with contextlib.suppress(TimeoutError):  # --run-for is over
                await asyncio.wait_for(stop.wait(), run_for)
        finally:
            await sim.stop()
