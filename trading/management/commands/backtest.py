"""`manage.py backtest`: replay recorded trades or candles through the engine and report."""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.backtest.formats import DataFileError
from trading.backtest.readers import CANDLE_NOTE, open_ticks
from trading.backtest.report import format_report
from trading.backtest.runner import Backtest
from trading.backtest.scenario import ScenarioError, load_scenario
from trading.engine import SentimentConfig
from trading.selectors import scenario_from_db
from trading.services import backtest_run_create


def _non_negative(name: str, value: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"{name} must be a number, not {value!r}.") from None
    if not number.is_finite() or number < 0:
        raise CommandError(f"{name} must be 0 or more, not {value}.")
    return number


class Command(BaseCommand):
    help = (
        "Replay recorded trades (or 1-minute candles) through the trading engine and report "
        "the orders it would have placed, their PnL and drawdown."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--data",
            action="append",
            required=True,
            metavar="PATH",
            help="A trades or candles file (.csv, .csv.gz, .zip); repeat in time order.",
        )
        parser.add_argument("--config", metavar="SCENARIO.json", help="Levels, tiers, sentiment.")
        parser.add_argument("--exchange", help="Without --config: the exchange id in the database.")
        parser.add_argument("--symbol", help="Without --config: the unified symbol, BTC/USDT:USDT.")
        parser.add_argument("--orders-out", metavar="ORDERS.jsonl", help="Write orders here.")
        parser.add_argument("--fee-rate", default="0", help="Taker fee per fill, 0.0005 is 5 bp.")
        parser.add_argument("--slippage-bps", default="0", help="Fills this much worse (bp).")
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")
        parser.add_argument("--save", action="store_true", help="Store the run for the dashboard.")

    def handle(self, *args: Any, **options: Any) -> None:
        fee_rate = _non_negative("--fee-rate", options["fee_rate"])
        slippage_bps = _non_negative("--slippage-bps", options["slippage_bps"])
        scenario = self._scenario(options)
        try:
            stream = open_ticks(options["data"])
        except DataFileError as e:
            raise CommandError(str(e)) from None
        except OSError as e:
            raise CommandError(f"{e.filename}: cannot be read ({e.strerror}).") from None
        sentiment = scenario.sentiment
        if stream.stats.candles:
            sentiment = SentimentConfig(False, sentiment.window_s, sentiment.threshold)
        backtest = Backtest(
            scenario,
            fee_rate=float(fee_rate),
            slippage_bps=float(slippage_bps),
            sentiment=sentiment,
        )
        progress = sys.stderr.isatty() and not options["json"]
        started = time.perf_counter()
        with self._orders_out(options["orders_out"]) as orders_out:
            try:
                with stream:
                    for batch in stream:
                        made = backtest.feed(batch.ts, batch.price, batch.qty)
                        orders_out.writelines(json.dumps(order) + "\n" for order in made)
                        if progress:
                            self._progress(stream.stats.bytes_read, stream.stats.total_bytes)
            except DataFileError as e:
                raise CommandError(str(e)) from None
            finally:
                if progress:
                    sys.stderr.write("\r\033[K")
        seconds = time.perf_counter() - started
        summary = backtest.summary(skipped_rows=stream.stats.skipped_rows, seconds=seconds)
        summary["candles"] = stream.stats.candles
        if options["save"]:
            run = backtest_run_create(
                backtest=backtest,
                summary=summary,
                data_files=[str(p) for p in options["data"]],
                fee_rate=fee_rate,
                slippage_bps=slippage_bps,
                candles=stream.stats.candles,
            )
            summary["saved_run"] = run.pk
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        if stream.stats.candles:
            self.stderr.write(CANDLE_NOTE)
        self.stdout.write(format_report(summary, scenario, stream.stats))

    def _scenario(self, options: dict[str, Any]) -> Any:
        exchange, symbol = options["exchange"], options["symbol"]
        try:
            if options["config"]:
                if exchange or symbol:
                    raise CommandError(
                        "Give either --config or --exchange with --symbol, not both."
                    )
                return load_scenario(options["config"])
            if not (exchange and symbol):
                raise CommandError(
                    "Say what to replay: --config SCENARIO.json, or --exchange and --symbol "
                    "for the levels in the database."
                )
            return scenario_from_db(exchange=exchange, symbol=symbol)
        except ScenarioError as e:
            raise CommandError(str(e)) from None

    @contextmanager
    def _orders_out(self, path: str | None) -> Iterator[IO[str]]:
        """The orders file, written beside its name and moved into place only on success."""
        if not path:
            yield io.StringIO()
            return
        target = Path(path)
        draft = target.with_name(f".{target.name}.partial")
        try:
            handle = draft.open("w")
        except OSError as e:
            raise CommandError(f"{path}: cannot be written ({e.strerror}).") from None
        try:
            with handle:
                yield handle
            draft.replace(target)
        finally:
            draft.unlink(missing_ok=True)

    def _progress(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\r[{bar:<30}] {share:6.1%}")
        sys.stderr.flush()
