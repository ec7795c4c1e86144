"""An exchange account as the environment describes it, and the ccxt client that speaks for it.

API keys come only from the environment: `LEVELBOT_<EXCHANGE>_API_KEY`, `_SECRET` and, for OKX,
`_PASSWORD`. `LEVELBOT_<EXCHANGE>_TESTNET=1` uses the exchange's testnet, `_DEMO=1` its demo
trading (Bybit, Binance). `_REST_URL` and `_WS_URL` send the client to another host (the local
exchange simulator: `http://127.0.0.1:PORT`, `ws://127.0.0.1:PORT`), keeping every path.
`LEVELBOT_REST_TIMEOUT_MS` (default 5000) and `LEVELBOT_WS_KEEPALIVE_MS` (default 18000) bound
how long a call or a silent socket is waited for.

Keys are never stored, logged, or shown: `AccountConfig`'s repr names only whether they are set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from trading.exchange.ccxtload import SUPPORTED, exchange_class

NEEDS_PASSWORD = {"okx"}
# OKX has one test venue, its demo trading, which ccxt reaches through its sandbox mode.
DEMO_IS_SANDBOX = {"okx"}


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        raise ValueError(f"{name} must be a positive whole number of milliseconds, not {text!r}.")
    return int(text)


@dataclass(frozen=True)
class AccountConfig:
    exchange: str
    api_key: str = field(default="", repr=False)
    secret: str = field(default="", repr=False)
    password: str = field(default="", repr=False)
    testnet: bool = False
    demo: bool = False
    rest_url: str = ""
    ws_url: str = ""
    timeout_ms: int = 5000
    keepalive_ms: int = 18000

    @classmethod
    def from_env(cls, exchange: str, environ: Mapping[str, str] | None = None) -> AccountConfig:
        env = os.environ if environ is None else environ
        if exchange not in SUPPORTED:
            raise ValueError(
                f"levelbot does not trade on {exchange!r}; supported: {', '.join(SUPPORTED)}."
            )
        prefix = f"LEVELBOT_{exchange.upper()}_"
        return cls(
            exchange=exchange,
            api_key=env.get(prefix + "API_KEY", ""),
            secret=env.get(prefix + "SECRET", ""),
            password=env.get(prefix + "PASSWORD", ""),
            testnet=_flag(env.get(prefix + "TESTNET")),
            demo=_flag(env.get(prefix + "DEMO")),
            rest_url=env.get(prefix + "REST_URL", "").rstrip("/"),
            ws_url=env.get(prefix + "WS_URL", "").rstrip("/"),
            timeout_ms=_positive_int(env, "LEVELBOT_REST_TIMEOUT_MS", 5000),
            keepalive_ms=_positive_int(env, "LEVELBOT_WS_KEEPALIVE_MS", 18000),
        )

    @property
    def has_keys(self) -> bool:
        return bool(self.api_key and self.secret) and (
            self.exchange not in NEEDS_PASSWORD or bool(self.password)
        )

    def missing_keys(self) -> list[str]:
        """The environment variables a live account still needs, by name."""
        prefix = f"LEVELBOT_{self.exchange.upper()}_"
        wanted = {"API_KEY": self.api_key, "SECRET": self.secret}
        if self.exchange in NEEDS_PASSWORD:
            wanted["PASSWORD"] = self.password
        return [prefix + name for name, value in wanted.items() if not value]

    @property
    def venue(self) -> str:
        """Where orders go, in words: for logs and the status page."""
        if self.rest_url:
            return f"{self.exchange} at {self.rest_url}"
        return (
            f"{self.exchange} {'testnet' if self.testnet else 'demo' if self.demo else 'mainnet'}"
        )


# What each exchange's ccxt class needs to trade linear USDT perpetuals without surprises.
_OPTIONS: dict[str, dict[str, Any]] = {
    "bybit": {
        "defaultType": "swap",
        "defaultSubType": "linear",
        # Known up front, so the first order does not spend two calls asking.
        "enableUnifiedAccount": True,
        "enableUnifiedMargin": False,
        "fetchMarkets": {"types": ["linear"]},
    },
    "binanceusdm": {"defaultType": "swap", "fetchMarkets": {"types": ["linear"]}},
    "okx": {"defaultType": "swap", "fetchMarkets": {"types": ["swap"]}},
}


def make_client(config: AccountConfig) -> Any:
    """A ccxt.pro client for the account: REST and websockets, ccxt's own throttler off (it
    delays every order by 50-100 ms; levelbot paces orders with its own token bucket)."""
    cls = exchange_class(config.exchange)
    client = cls(
        {
            "apiKey": config.api_key,
            "secret": config.secret,
            "password": config.password,
            "enableRateLimit": False,
            "timeout": config.timeout_ms,
            "options": dict(_OPTIONS[config.exchange]),
        }
    )
    client.has["fetchCurrencies"] = False  # spot wallets: not needed, and a private call
    client.keepAlive = config.keepalive_ms
    if config.testnet or (config.demo and config.exchange in DEMO_IS_SANDBOX):
        client.set_sandbox_mode(True)
    elif config.demo:
        client.enable_demo_trading(True)
    if config.rest_url or config.ws_url:
        redirect(client.urls["api"], config.rest_url, config.ws_url)
    return client


def redirect(urls: Any, rest_url: str, ws_url: str) -> Any:
    """Send every URL in a ccxt `urls['api']` tree to another host, keeping its path: http(s)
    URLs to `rest_url`, ws(s) URLs to `ws_url` (an empty one leaves those alone)."""
    if isinstance(urls, dict):
        for key, value in urls.items():
            urls[key] = redirect(value, rest_url, ws_url)
        return urls
    if not isinstance(urls, str) or "://" not in urls:
        return urls
    scheme = urls.split("://", 1)[0]
    target = ws_url if scheme in ("ws", "wss") else rest_url
    if not target:
        return urls
    base, old = urlsplit(target), urlsplit(urls)
    path = base.path.rstrip("/") + old.path
    return urlunsplit((base.scheme, base.netloc, path, old.query, old.fragment))
