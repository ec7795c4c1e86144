"""Where one (exchange, symbol)'s tiers widget, level form and levels table sit on a page."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import reverse

from dashboard.symbols import market_id

# The query an exchange page's panel adds to its requests, so that the answer uses its ids.
ON_EXCHANGE_PAGE = "exchange"


@dataclass(frozen=True)
class SymbolPanel:
    """The three parts of one symbol's levels UI and the URLs and element ids they use.

    The symbol page holds one panel, with the ids of spec 13.3 (`levels-table`). The exchange
    page holds one per symbol, so there every id carries the symbol, and every request the panel
    makes says so (`?in=exchange`), so that partials come back with the same ids.
    """

    exchange: str
    symbol: str  # unified, as stored
    on_exchange_page: bool = False

    @property
    def market_id(self) -> str:
        return market_id(self.symbol)

    @property
    def _suffix(self) -> str:
        if not self.on_exchange_page:
            return ""
        return "-" + re.sub(r"[^A-Za-z0-9]+", "-", f"{self.exchange}-{self.market_id}")

    @property
    def table_id(self) -> str:
        return f"levels-table{self._suffix}"

    @property
    def form_id(self) -> str:
        return f"level-form{self._suffix}"

    @property
    def tiers_id(self) -> str:
        return f"tiers-widget{self._suffix}"

    @property
    def auto_id(self) -> str:
        """Form field ids, unique on a page with several panels."""
        return f"id{self._suffix}_%s"

    @property
    def query(self) -> str:
        return f"?in={ON_EXCHANGE_PAGE}" if self.on_exchange_page else ""

    def _url(self, name: str) -> str:
        symbol_kwargs = {"exchange": self.exchange, "symbol": self.symbol}
        return reverse(f"dashboard:{name}", kwargs=symbol_kwargs) + self.query

    @property
    def page_url(self) -> str:
        return reverse(
            "dashboard:symbol", kwargs={"exchange": self.exchange, "symbol": self.symbol}
        )

    @property
    def exchange_url(self) -> str:
        return reverse("dashboard:exchange", kwargs={"exchange": self.exchange})

    @property
    def home_url(self) -> str:
        """Where a plain (non-htmx) form post leads back to."""
        return self.exchange_url if self.on_exchange_page else self.page_url

    @property
    def add_url(self) -> str:
        return self._url("symbol")

    @property
    def table_url(self) -> str:
        return self._url("levels-table")

    @property
    def tiers_url(self) -> str:
        return self._url("tiers")
