from __future__ import annotations

import re

import pytest
from django.urls import reverse

from dashboard.symbols import SymbolConverter, UnknownSymbol, market_id, unified_symbol


@pytest.mark.parametrize(
    ("market", "unified"),
    [
        ("BTCUSDT", "BTC/USDT:USDT"),
        ("ETHUSDT", "ETH/USDT:USDT"),
        ("ETHUSDC", "ETH/USDC:USDC"),
        ("1000PEPEUSDT", "1000PEPE/USDT:USDT"),
        ("USDCUSDT", "USDC/USDT:USDT"),
    ],
)
def test_market_id_and_unified_symbol_round_trip(market: str, unified: str) -> None:
    assert unified_symbol(market) == unified
    assert market_id(unified) == market
    assert unified_symbol(market_id(unified)) == unified


def test_a_market_id_typed_in_lowercase_is_read() -> None:
    assert unified_symbol(" btcusdt ") == "BTC/USDT:USDT"


def test_a_unified_symbol_is_accepted_as_it_is() -> None:
    assert unified_symbol("BTC/USDT:USDT") == "BTC/USDT:USDT"
    assert unified_symbol("BTC/USD:BTC") == "BTC/USD:BTC"


def test_a_symbol_outside_linear_usdt_and_usdc_keeps_its_unified_form() -> None:
    assert market_id("BTC/USD:BTC") == "BTC/USD:BTC"
    assert market_id("ETH/BTC:ETH") == "ETH/BTC:ETH"
    assert market_id("not a symbol") == "not a symbol"


@pytest.mark.parametrize("text", ["USDT", "BTCUSD", "BTC-USDT-SWAP", "BTC/USDT", "", "BTC USDT"])
def test_an_unknown_form_is_refused_with_a_sentence_that_says_what_to_type(text: str) -> None:
    with pytest.raises(UnknownSymbol, match="market id such as BTCUSDT"):
        unified_symbol(text)


def test_the_url_converter_matches_a_market_id_or_a_decoded_unified_symbol() -> None:
    pattern = re.compile(rf"^{SymbolConverter.regex}$")
    assert pattern.match("BTCUSDT")
    assert pattern.match("BTC/USDT:USDT")
    assert not pattern.match("BTCUSDT/table")
    assert not pattern.match("BTCUSDT/5")


def test_urls_are_written_with_the_market_id() -> None:
    kwargs = {"exchange": "bybit", "symbol": "ETH/USDT:USDT"}
    assert reverse("dashboard:symbol", kwargs=kwargs) == "/levels/bybit/ETHUSDT"
    assert reverse("dashboard:levels-table", kwargs=kwargs) == "/levels/bybit/ETHUSDT/table"
    inverse = {"exchange": "bybit", "symbol": "BTC/USD:BTC"}
    assert reverse("dashboard:symbol", kwargs=inverse) == "/levels/bybit/BTC/USD:BTC"
