"""`manage.py backtest`: replay recorded trades or candles through the engine and report."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.backtest.formats import DataFileError
from trading.backtest.readers import CANDLE_NOTE
from trading.backtest.replay import replay
from trading.backtest.report import format_report
from trading.backtest.scenario import ScenarioError, load_scenario
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
        parser.add_argument(
            "--funding",
            action="append",
            default=[],
            metavar="PATH",
            help="A funding-rate history CSV (timestamp,symbol,fundingRate); repeat in time order.",
        )
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")
        parser.add_argument("--save", action="store_true", help="Store the run for the dashboard.")

    def handle(self, *args: Any, **options: Any) -> None:
        fee_rate = _non_negative("--fee-rate", options["fee_rate"])
        slippage_bps = _non_negative("--slippage-bps", options["slippage_bps"])
        scenario = self._scenario(options)
        progress = sys.stderr.isatty() and not options["json"]
        with self._orders_out(options["orders_out"]) as orders_out:
            try:
                done = replay(
                    scenario,
                    options["data"],
                    fee_rate=float(fee_rate),
                    slippage_bps=float(slippage_bps),
                    funding_paths=options["funding"],
                    on_progress=self._progress if progress else None,
                )
            except DataFileError as e:
                raise CommandError(str(e)) from None
            except OSError as e:
                raise CommandError(f"{e.filename}: cannot be read ({e.strerror}).") from None
            finally:
                if progress:
                    sys.stderr.write("\r\033[K")
            orders_out.writelines(json.dumps(order) + "\n" for order in done.backtest.result.orders)
        backtest, summary, stats = done.backtest, done.summary, done.stats
        if options["save"]:
            run = backtest_run_create(
                backtest=backtest,
                summary=summary,
                data_files=[str(p) for p in options["data"]],
                fee_rate=fee_rate,
                slippage_bps=slippage_bps,
                candles=stats.candles,
            )
            summary["saved_run"] = run.pk
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        if stats.candles:
            self.stderr.write(CANDLE_NOTE)
        self.stdout.write(format_report(summary, scenario, stats))

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

    def _progress(self, share: float) -> None:
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\r[{bar:<30}] {share:6.1%}")
        sys.stderr.flush()
