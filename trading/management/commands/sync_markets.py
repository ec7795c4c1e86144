"""`manage.py sync_markets EXCHANGE ...`: load an exchange's linear USDT perpetuals and store
their order rules, so the level form refuses a level the exchange would refuse.

runbot does the same whenever it connects to an exchange (`--feed live` or `--live`); this
command is for setting levels up before the bot has run. It reads public data only: no keys.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from trading.exchange.accounts import AccountConfig, make_client
from trading.exchange.ccxtload import SUPPORTED
from trading.exchange.live import CcxtExchange
from trading.exchange.markets import MarketRules
from trading.exchange.sending import describe_error
from trading.models import Market


async def _load(exchange_id: str) -> dict[str, MarketRules]:
    config = AccountConfig.from_env(exchange_id)
    public = AccountConfig(exchange_id, rest_url=config.rest_url, timeout_ms=config.timeout_ms)
    account = CcxtExchange(public, client=make_client(public))
    try:
        return await account.load_rules()
    finally:
        await account.close()


class Command(BaseCommand):
    help = "Load exchanges' linear USDT perpetual markets and store their order rules."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("exchanges", nargs="+", metavar="EXCHANGE", choices=SUPPORTED)

    def handle(self, *args: Any, **options: Any) -> None:
        for exchange_id in options["exchanges"]:
            try:
                rules = asyncio.run(_load(exchange_id))
            except Exception as e:  # network, exchange or settings: one sentence, no traceback
                raise CommandError(
                    f"{exchange_id}: cannot load markets: {describe_error(e)}"
                ) from None
            stored = Market.store(rules.values())
            self.stdout.write(f"{exchange_id}: {stored} linear USDT perpetual markets stored.")
