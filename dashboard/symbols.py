"""Symbols in dashboard URLs: the exchange's market id (BTCUSDT), the database's unified symbol.

The database holds ccxt's unified symbols (`BTC/USDT:USDT`); a trader types and reads the
market id (`BTCUSDT`) in a URL. For linear USDT and USDC perpetuals the two map one to one. An
already-unified symbol, URL-encoded (`BTC%2FUSDT%3AUSDT`), is accepted too, so that a symbol
outside that family still has a page.
"""

from __future__ import annotations

import re

# The settle currencies of linear perpetuals whose market id is BASE + QUOTE.
LINEAR_QUOTES = ("USDT", "USDC")

# As the models' validator: base/quote:settle, none of them empty, no spaces.
_UNIFIED = re.compile(r"^([^\s/:]+)/([^\s/:]+):([^\s/:]+)$")
_MARKET_ID = re.compile(rf"^([A-Z0-9]+?)({'|'.join(LINEAR_QUOTES)})$")


class UnknownSymbol(ValueError):
    """A URL's symbol that is neither a linear perpetual's market id nor a unified symbol."""


def unified_symbol(text: str) -> str:
    """`BTCUSDT` -> `BTC/USDT:USDT`; a unified symbol is returned as it is.

    Raises UnknownSymbol with a sentence a trader can act on.
    """
    candidate = text.strip()
    if _UNIFIED.match(candidate):
        return candidate
    if match := _MARKET_ID.match(candidate.upper()):
        base, quote = match.groups()
        return f"{base}/{quote}:{quote}"
    raise UnknownSymbol(
        f"{text} is not a symbol levelbot knows: use a linear perpetual's market id such as "
        f"BTCUSDT or ETHUSDC, or the unified symbol such as BTC/USDT:USDT."
    )


def market_id(symbol: str) -> str:
    """`BTC/USDT:USDT` -> `BTCUSDT`; any other symbol is returned unchanged.

    Only a linear perpetual whose quote is its settle currency (USDT or USDC) has a market id
    here; an inverse contract such as `BTC/USD:BTC` keeps its unified form in URLs.
    """
    match = _UNIFIED.match(symbol)
    if match is None:
        return symbol
    base, quote, settle = match.groups()
    if quote == settle and quote in LINEAR_QUOTES:
        return f"{base}{quote}"
    return symbol


class SymbolConverter:
    """URL converter for `<symbol:...>`: a market id, or a unified symbol (decoded `/` and `:`).

    `to_python` keeps the text as typed, so that the view can answer an unknown one with a 404
    that says what to type instead; `to_url` writes the market id where there is one.
    """

    regex = r"[^/]+(?:/[^/]+:[^/]+)?"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return market_id(value)
