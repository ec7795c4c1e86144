"""Where runbot's orders go and where its live prices come from, per exchange.

- Paper (the default): the simulated account in the database, on any feed.
- `--feed live` without `--live`: the paper account on real prices, read through ccxt.pro
  without keys. A dry run on real prices.
- `--live`: a real account through ccxt (keys from the environment), on real prices. Before
  a symbol trades, its exchange's markets are loaded (and stored for the level form) and the
  symbol is set to hedge mode with its levels' margin mode and leverage; a symbol the account
  cannot switch stays off, with the exchange's reason on the status page.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from trading.exchange.accounts import AccountConfig, make_client
from trading.exchange.base import Exchange
from trading.exchange.live import CcxtExchange, SymbolSetupError, setups_for
from trading.exchange.markets import MarketRules
from trading.exchange.paper import PaperExchange
from trading.exchange.sending import describe_error
from trading.feeds.live import LiveFeed
from trading.models import BotSettings, Level, Market
from trading.runtime import database

log = structlog.get_logger("levelbot.bot")


class VenueError(Exception):
    """An exchange or symbol cannot be traded as asked; the message says why."""


def live_config(exchange_id: str, *, trading: bool) -> AccountConfig:
    """The account's settings from the environment. A dry run never carries keys; a live
    account must have them all, or the error names the missing variables."""
    try:
        config = AccountConfig.from_env(exchange_id)
    except ValueError as e:
        raise VenueError(str(e)) from None
    if not trading:
        return dataclasses.replace(config, api_key="", secret="", password="")
    if missing := config.missing_keys():
        raise VenueError(
            f"--live on {exchange_id} needs {', '.join(missing)} in the environment "
            "(keys are read from there only, never from the database)."
        )
    return config


def _store_rules(rules: dict[str, MarketRules]) -> int:
    return Market.store(rules.values())


def _symbol_setups(exchange_id: str) -> dict[str, Any]:
    return setups_for(Level.objects.filter(exchange=exchange_id, is_active=True))


def _order_limits() -> tuple[float, float | None]:
    """(max spread, max slippage) in basis points, from the bot settings."""
    settings = BotSettings.load()
    slippage = settings.max_slippage_bps
    return float(settings.max_spread_bps), None if slippage is None else float(slippage)


class Venues:
    def __init__(self, *, live: bool, live_feed: bool) -> None:
        self.live = live
        self.live_feed = live_feed
        self.exchanges: dict[str, Exchange] = {}
        self.clients: dict[str, Any] = {}  # ccxt clients by exchange id

    async def _client(self, exchange_id: str) -> Any:
        """The exchange's ccxt client, its markets loaded and stored (once per exchange)."""
        client = self.clients.get(exchange_id)
        if client is None:
            account = self.exchanges.get(exchange_id)
            if isinstance(account, CcxtExchange):
                client = account.client
            else:
                client = make_client(live_config(exchange_id, trading=False))
            self.clients[exchange_id] = client
            rules = await self._load_rules(exchange_id, client, account)
            stored = await database.house.call(_store_rules, rules)
            log.info("markets loaded", exchange=exchange_id, linear_usdt=stored)
        return client

    @staticmethod
    async def _load_rules(exchange_id: str, client: Any, account: Exchange | None) -> Any:
        if isinstance(account, CcxtExchange):
            return await account.load_rules()
        helper = CcxtExchange(AccountConfig(exchange_id), client=client)
        return await helper.load_rules()

    async def exchange(self, exchange_id: str, *, fee_rate: float, slippage_bps: float) -> Exchange:
        account = self.exchanges.get(exchange_id)
        if account is not None:
            return account
        if self.live:
            account = CcxtExchange(live_config(exchange_id, trading=True))
            limits = await database.house.call(_order_limits)
            account.max_spread_bps, account.max_slippage_bps = limits
        else:
            account = PaperExchange(exchange_id, fee_rate=fee_rate, slippage_bps=slippage_bps)
        self.exchanges[exchange_id] = account
        if self.live or self.live_feed:
            try:
                await self._client(exchange_id)
            except Exception as e:  # no markets, no trading: say why, in words
                self.exchanges.pop(exchange_id, None)
                raise VenueError(
                    f"{exchange_id}: cannot load markets: {describe_error(e)}"
                ) from None
        return account

    async def prepare(self, exchange_id: str, symbol: str) -> None:
        """Hedge mode, margin mode and leverage on a live account; nothing on paper."""
        account = self.exchanges.get(exchange_id)
        if not isinstance(account, CcxtExchange):
            return
        setups = await database.house.call(_symbol_setups, exchange_id)
        if symbol not in setups:
            raise VenueError(f"{exchange_id} {symbol} has no active level to take settings from.")
        try:
            await account.prepare(setups[symbol])
        except SymbolSetupError as e:
            raise VenueError(str(e)) from None

    def feed(
        self,
        exchange_id: str,
        symbol: str,
        on_reconnect: Callable[[], Awaitable[None]] | None = None,
    ) -> LiveFeed:
        client = self.clients[exchange_id]
        account = self.exchanges.get(exchange_id)
        on_quote = None
        if isinstance(account, CcxtExchange):

            def on_quote(symbol: str, bid: float, ask: float) -> None:
                account.quotes[symbol] = (bid, ask)

        return LiveFeed(client, symbol, on_quote=on_quote, on_reconnect=on_reconnect)

    def watch_account(
        self, exchange_id: str, on_change: Callable[[set[str]], Awaitable[None]]
    ) -> asyncio.Task[None] | None:
        """A live account's private streams, as a task (None on paper)."""
        account = self.exchanges.get(exchange_id)
        if not isinstance(account, CcxtExchange):
            return None
        return asyncio.create_task(account.watch_account(on_change))

    async def refresh_settings(self) -> None:
        spread, slippage = await database.house.call(_order_limits)
        for account in self.exchanges.values():
            if isinstance(account, CcxtExchange):
                account.max_spread_bps, account.max_slippage_bps = spread, slippage

    async def close(self) -> None:
        closed = set()
        for account in self.exchanges.values():
            await account.close()
            if isinstance(account, CcxtExchange):
                closed.add(id(account.client))
        for client in self.clients.values():
            if id(client) not in closed:
                await client.close()
