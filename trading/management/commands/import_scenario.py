"""`manage.py import_scenario`: put a scenario file's tiers and levels into the database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.backtest.scenario import ScenarioError, load_scenario
from trading.services import scenario_import


class Command(BaseCommand):
    help = (
        "Create the tiers and levels of a SCENARIO.json file (the backtest's format) in the "
        "database, so that runbot trades what was backtested. All or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("scenario", metavar="SCENARIO.json")
        parser.add_argument(
            "--sentiment", action="store_true", help="Also make its sentiment settings the bot's."
        )
        parser.add_argument("--json", action="store_true", help="Print {scenario id: level id}.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["scenario"]
        try:
            scenario = load_scenario(path)
            raw = json.loads(Path(path).read_text())  # leverage and margin, for the orders
            ids = scenario_import(
                scenario=scenario, raw_levels=raw["levels"], sentiment=options["sentiment"]
            )
        except ScenarioError as e:
            raise CommandError(str(e)) from None
        except ValidationError as e:
            raise CommandError(f"{path}: {' '.join(e.messages)}") from None
        if options["json"]:
            self.stdout.write(json.dumps(ids))
        else:
            self.stdout.write(
                f"{scenario.exchange} {scenario.symbol}: tiers set, {len(ids)} level(s) created."
            )
