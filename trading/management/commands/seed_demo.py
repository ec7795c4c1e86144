"""Demo data: tiers and levels on two symbols, the settings row, and (in demo mode) a login.

Running it again changes nothing that is already there.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from levelbot.env import env_bool
from trading import services
from trading.models import BotSettings, Level, MarginType, SymbolTiers

DEMO_SOURCE = "demo"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"
SITE_URL = "http://127.0.0.1:8000/"

D = Decimal
TIERS = [
    ("binanceusdm", "BTC/USDT:USDT", D("0.005"), D("0.003"), D("0.0015")),
    ("bybit", "ETH/USDT:USDT", D("0.006"), D("0.004"), D("0.002")),
]
LEVELS: list[dict[str, Any]] = [
    {
        "exchange": "binanceusdm",
        "symbol": "BTC/USDT:USDT",
        "level_price": D(64000),
        "base_size": D("0.002"),
        "leverage": 10,
        "margin_type": MarginType.ISOLATED,
        "cool_down_ms": 5000,
        "note": "Round number; prior week's pivot.",
    },
    {
        "exchange": "binanceusdm",
        "symbol": "BTC/USDT:USDT",
        "level_price": D(62750),
        "base_size": D("0.002"),
        "leverage": 10,
        "margin_type": MarginType.ISOLATED,
        "cool_down_ms": 5000,
        "note": "Daily support.",
    },
    {
        "exchange": "binanceusdm",
        "symbol": "BTC/USDT:USDT",
        "level_price": D(65500),
        "base_size": D("0.001"),
        "leverage": 5,
        "margin_type": MarginType.CROSS,
        "cool_down_ms": 10000,
        "note": "Range high.",
    },
    {
        "exchange": "bybit",
        "symbol": "ETH/USDT:USDT",
        "level_price": D(2650),
        "base_size": D("0.05"),
        "leverage": 10,
        "margin_type": MarginType.ISOLATED,
        "cool_down_ms": 3000,
        "note": "Breakout retest.",
    },
]

NO_DEMO_LOGIN = (
    "Not creating the login demo/demo: a known password belongs only on a demo machine. "
    "Run with LEVELBOT_DEMO=1 or --demo to create it, or make your own staff user with: "
    "python manage.py createsuperuser"
)


class Command(BaseCommand):
    help = "Create demo tiers and levels, the bot settings row, and in demo mode a demo login."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Demo mode, as LEVELBOT_DEMO=1: also create the staff login demo/demo.",
        )
        parser.add_argument(
            "--url", default=SITE_URL, help=f"The site URL to print (default {SITE_URL})."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        demo = options["demo"] or env_bool("LEVELBOT_DEMO")
        with transaction.atomic():
            created = self._seed_data()
            if demo:
                self._seed_login()
        self.stdout.write(f"Demo data ready: {created} new levels on two symbols.")
        if demo:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Open {options['url']} and log in as {DEMO_USERNAME} / {DEMO_PASSWORD}."
                )
            )
        else:
            self.stderr.write(self.style.WARNING(NO_DEMO_LOGIN))
            self.stdout.write(f"Open {options['url']} and log in as a staff user.")

    def _seed_data(self) -> int:
        for exchange, symbol, tier1, tier2, tier3 in TIERS:
            # Tiers someone has since tuned are theirs: only missing ones are created.
            if not SymbolTiers.objects.filter(exchange=exchange, symbol=symbol).exists():
                services.symbol_tiers_set(
                    exchange=exchange,
                    symbol=symbol,
                    tier1_pct=tier1,
                    tier2_pct=tier2,
                    tier3_pct=tier3,
                )
        created = 0
        for fields in LEVELS:
            key = {name: fields[name] for name in ("exchange", "symbol", "level_price")}
            if not Level.objects.filter(**key, source=DEMO_SOURCE).exists():
                services.level_create(**fields, source=DEMO_SOURCE)
                created += 1
        BotSettings.load()
        return created

    def _seed_login(self) -> None:
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
        user.is_staff = True
        user.is_superuser = True
        user.is_active = True
        user.set_password(DEMO_PASSWORD)
        user.save()
