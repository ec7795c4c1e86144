"""`manage.py runbot`: the long-lived trading process."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

# structlog imports its Twisted integration whenever Twisted is installed (daphne brings it):
# 16 MB the bot never uses, against a 100 MB budget. Marking Twisted absent in this process,
# before anything imports structlog, keeps it out; the web server process is not affected.
sys.modules.setdefault("twisted", None)  # type: ignore[arg-type]

from django.core.management.base import BaseCommand, CommandError, CommandParser  # noqa: E402
from django.db import DEFAULT_DB_ALIAS, connections  # noqa: E402
from django.db.migrations.executor import MigrationExecutor  # noqa: E402

from trading.runtime.bot import Bot, BotConfigError, BotOptions  # noqa: E402
from trading.runtime.logs import configure_logging  # noqa: E402
from trading.runtime.venues import VenueError  # noqa: E402


class Command(BaseCommand):
    help = (
        "Trade the active levels: consume prices, run the tier engine for every level, place "
        "orders (on the paper exchange unless --live) and record everything."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--live",
            action="store_true",
            help="Trade a real account (keys from LEVELBOT_<EXCHANGE>_API_KEY/_SECRET); "
            "needs --feed live. Without it, orders go to the paper account.",
        )
        parser.add_argument(
            "--exchange",
            action="append",
            default=[],
            metavar="ID",
            help="Only this exchange id (repeatable); default: all.",
        )
        parser.add_argument(
            "--symbols",
            nargs="+",
            default=[],
            metavar="SYMBOL",
            help="Only these unified symbols; default: all with levels.",
        )
        parser.add_argument(
            "--feed", default="synthetic", help="synthetic (default), replay:PATH[@SPEED] or live."
        )
        parser.add_argument(
            "--run-for", type=float, metavar="SECONDS", help="Stop cleanly after this many seconds."
        )
        parser.add_argument("--seed", type=int, default=1, help="Seed of the synthetic feed.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["run_for"] is not None and options["run_for"] <= 0:
            raise CommandError("--run-for must be a positive number of seconds.")
        configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
        pending = unapplied_migrations()
        if pending:
            raise CommandError(
                f"The database is not up to date: {len(pending)} migration(s) not applied "
                f"({', '.join(pending[:3])}{', ...' if len(pending) > 3 else ''}). "
                "Run: python manage.py migrate"
            )
        bot_options = BotOptions(
            exchanges=tuple(options["exchange"]),
            symbols=tuple(options["symbols"]),
            feed=options["feed"],
            run_for=options["run_for"],
            seed=options["seed"],
            live=options["live"],
        )
        try:
            asyncio.run(Bot(bot_options).run())
        except (BotConfigError, VenueError) as e:
            raise CommandError(str(e)) from None


def unapplied_migrations() -> list[str]:
    """The migrations the database lacks, as app.name: the bot would fail on the first table
    or column they add, halfway through its start or, worse, its first order."""
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _ in plan]
