"""The levels pages (spec 13.3, 14): pages and partials, and every write through a service."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from tests.dashboard.conftest import HTMX
from tests.factories import LevelFactory, SymbolTiersFactory, TierStateFactory, TradeFactory
from trading import messages, services
from trading.models import Level, Market, Side, SymbolTiers, TierState, Trade

pytestmark = pytest.mark.django_db

D = Decimal
PAGE = "/levels/binanceusdm/BTCUSDT"
GOOD_LEVEL = {
    "level_price": "61500.5",
    "base_size": "0.003",
    "leverage": "20",
    "margin_type": "cross",
    "cool_down_ms": "2500",
    "note": "weekly low",
}


def field_block(html: str, name: str) -> str:
    """The `<div class="field">` of the form field `name`: its input, errors and help."""
    for chunk in html.split('<div class="field')[1:]:
        block = chunk.split("</div>")[0]
        if f'name="{name}"' in block:
            return block
    raise AssertionError(f"no field {name} in the page")


def ids(html: str) -> list[str]:
    return re.findall(r'\bid="([^"]+)"', html)


# The symbol page


def test_symbol_page_shows_tiers_form_level_form_and_levels_table(staff_client: Client) -> None:
    SymbolTiersFactory()
    level = LevelFactory(level_price=D(62750), note="daily support")
    TierStateFactory(level=level, side=Side.SHORT, fired_tiers=[1, 2])
    TierStateFactory(level=level, side=Side.LONG, fired_tiers=[])
    response = staff_client.get(PAGE)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and 'aria-label="Main"' in html
    for name in ("tier1_pct", "tier2_pct", "tier3_pct"):
        assert f'name="{name}"' in html
    for name in (
        "level_price",
        "base_size",
        "leverage",
        "cool_down_ms",
        "take_profit_pct",
        "stop_loss_pct",
        "close_on_touch",
        "note",
    ):
        assert f'name="{name}"' in html
    assert '<select name="margin_type"' in html
    assert 'value="0.005"' in html  # the current tiers, as a trader writes them
    assert (
        '<div id="levels-table" class="table-wrap levels-table" '
        'hx-get="/levels/binanceusdm/BTCUSDT/table" hx-trigger="every 2s" hx-swap="outerHTML">'
    ) in html
    assert re.findall(r"<th [^>]*>([^<]*)</th>", html) == [
        "ID",
        "Level Price",
        "Base Size",
        "Leverage",
        "Margin",
        "Cooldown",
        "Exits",
        "Source",
        "State",
        "Pause/Resume",
        "Delete",
    ]
    assert '<td class="num">62750<small class="note">daily support</small></td>' in html
    assert "62750.000000000000" not in html
    assert "SHORT fired 1, 2" in html and "LONG fired —" in html
    assert (
        f'hx-delete="/levels/binanceusdm/BTCUSDT/{level.pk}" hx-confirm="Delete this level?"'
        in html
    )
    assert f'hx-post="/levels/binanceusdm/BTCUSDT/{level.pk}/pause"' in html
    assert len(ids(html)) == len(set(ids(html)))


def test_a_symbol_with_no_levels_and_no_tiers_still_shows_its_forms(staff_client: Client) -> None:
    response = staff_client.get("/levels/bybit/SOLUSDT")
    html = response.content.decode()
    assert response.status_code == 200
    assert "bybit SOLUSDT" in html and "SOL/USDT:USDT" in html
    assert "No tiers yet" in html and "No levels yet" in html
    assert 'name="tier1_pct"' in html and 'name="level_price"' in html


def test_symbol_page_for_htmx_is_the_panel_alone(staff_client: Client) -> None:
    LevelFactory(level_price=D(62750))
    html = staff_client.get(PAGE, headers=HTMX).content.decode()
    assert "<html" not in html and "<nav" not in html
    assert 'id="levels-table"' in html and 'id="level-form"' in html and 'id="tiers-widget"' in html


def test_a_unified_symbol_url_encoded_opens_the_same_page(staff_client: Client) -> None:
    LevelFactory(level_price=D(62750))
    response = staff_client.get("/levels/binanceusdm/BTC%2FUSDT%3AUSDT")
    assert response.status_code == 200
    assert '<td class="num">62750</td>' in response.content.decode()
    # ... and its links use the market id.
    assert 'hx-get="/levels/binanceusdm/BTCUSDT/table"' in response.content.decode()


def test_an_unknown_symbol_is_a_404_that_says_what_to_type(staff_client: Client) -> None:
    response = staff_client.get("/levels/binanceusdm/BTC-USDT-SWAP")
    assert response.status_code == 404
    assert "BTC-USDT-SWAP is not a symbol levelbot knows" in response.content.decode()
    assert "such as BTCUSDT" in response.content.decode()


def test_an_exchange_id_that_cannot_be_one_is_a_404_that_says_why(staff_client: Client) -> None:
    for url in ("/levels/Bybit/BTCUSDT", "/levels/By-bit"):
        response = staff_client.get(url)
        assert response.status_code == 404
        assert "is not an exchange id" in response.content.decode()


def test_the_table_partial_is_polled_and_holds_only_this_symbols_levels(
    staff_client: Client,
) -> None:
    LevelFactory(level_price=D(62750))
    LevelFactory(exchange="bybit", level_price=D(99999))
    LevelFactory(symbol="ETH/USDT:USDT", level_price=D(2650))
    response = staff_client.get(f"{PAGE}/table", headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="levels-table"')
    assert 'hx-trigger="every 2s"' in html and 'hx-swap="outerHTML"' in html
    assert "62750" in html
    assert "99999" not in html and "2650<" not in html


def test_levels_are_listed_highest_price_first(staff_client: Client) -> None:
    for price in (62750, 65500, 64000):
        LevelFactory(level_price=D(price))
    html = staff_client.get(f"{PAGE}/table").content.decode()
    assert html.index("65500") < html.index("64000") < html.index("62750")


def test_a_paused_level_shows_paused_and_offers_resume(staff_client: Client) -> None:
    level = LevelFactory(is_active=False)
    html = staff_client.get(f"{PAGE}/table").content.decode()
    assert '<span class="badge paused">paused</span>' in html
    assert f'hx-post="/levels/binanceusdm/BTCUSDT/{level.pk}/resume"' in html
    assert ">Resume</button>" in html and ">Pause</button>" not in html


# Adding a level


def test_adding_a_level_with_htmx_saves_it_and_returns_the_table_and_a_blank_form(
    staff_client: Client,
) -> None:
    response = staff_client.post(PAGE, GOOD_LEVEL, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    level = Level.objects.get()
    assert (level.exchange, level.symbol) == ("binanceusdm", "BTC/USDT:USDT")
    assert (level.level_price, level.base_size, level.leverage) == (D("61500.5"), D("0.003"), 20)
    assert (level.margin_type, level.cool_down_ms, level.note) == ("cross", 2500, "weekly low")
    assert level.source == "manual-web" and level.is_active
    assert set(level.tier_states.values_list("side", flat=True)) == {Side.LONG, Side.SHORT}
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="levels-table"')
    assert "61500.5" in html
    form = html[html.index('<form id="level-form"') :]
    assert 'hx-swap-oob="true"' in form.split(">")[0]
    assert 'value="61500.5"' not in form


def test_adding_a_level_with_a_plain_post_redirects_to_the_page(staff_client: Client) -> None:
    response = staff_client.post(PAGE, GOOD_LEVEL)
    assert response.status_code == 302
    assert response["Location"] == PAGE
    assert Level.objects.filter(level_price=D("61500.5")).exists()


@pytest.mark.parametrize(
    ("field", "value", "sentence"),
    [
        ("level_price", "-62750", messages.LEVEL_PRICE_POSITIVE),
        ("level_price", "0", messages.LEVEL_PRICE_POSITIVE),
        ("level_price", "sixty", "Enter the level price as a number, such as 62750."),
        ("level_price", "", "Enter the level price."),
        ("base_size", "0", messages.BASE_SIZE_POSITIVE),
        ("base_size", "0.0000000000001", "Enter the base size with at most 12 decimal places."),
        ("leverage", "0", messages.LEVERAGE_RANGE),
        ("leverage", "126", messages.LEVERAGE_RANGE),
        ("leverage", "2.5", "Enter the leverage as a whole number."),
        ("cool_down_ms", "-1", messages.COOL_DOWN_NOT_NEGATIVE),
        ("margin_type", "portfolio", messages.MARGIN_TYPE_VALID),
    ],
)
def test_an_invalid_level_comes_back_with_the_sentence_beside_its_field_and_saves_nothing(
    staff_client: Client, field: str, value: str, sentence: str
) -> None:
    LevelFactory()
    before = (Level.objects.count(), TierState.objects.count())
    response = staff_client.post(PAGE, {**GOOD_LEVEL, field: value}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 422
    assert response["HX-Retarget"] == "#level-form"
    assert response["HX-Reswap"] == "outerHTML"
    assert html.lstrip().startswith('<form id="level-form"')
    assert "<html" not in html
    assert sentence in field_block(html, field)
    assert 'class="field has-error"' in html
    assert html.count('<ul class="errorlist"') == 1  # only the field at fault
    assert 'value="weekly low"' in field_block(html, "note")  # what was typed is kept
    assert (Level.objects.count(), TierState.objects.count()) == before


def test_an_invalid_level_in_a_plain_post_is_the_page_with_errors_and_status_400(
    staff_client: Client,
) -> None:
    response = staff_client.post(PAGE, {**GOOD_LEVEL, "base_size": "0"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "<html" in html
    assert messages.BASE_SIZE_POSITIVE in field_block(html, "base_size")
    assert not Level.objects.exists()


def test_several_errors_are_each_shown_beside_their_own_field(staff_client: Client) -> None:
    bad = {**GOOD_LEVEL, "level_price": "-1", "base_size": "0", "leverage": "0"}
    html = staff_client.post(PAGE, bad, headers=HTMX).content.decode()
    assert messages.LEVEL_PRICE_POSITIVE in field_block(html, "level_price")
    assert messages.BASE_SIZE_POSITIVE in field_block(html, "base_size")
    assert messages.LEVERAGE_RANGE in field_block(html, "leverage")
    assert messages.LEVERAGE_RANGE not in field_block(html, "level_price")
    assert not Level.objects.exists()


# Tiers


def test_setting_tiers_with_htmx_saves_them_and_returns_the_widget_and_the_table_out_of_band(
    staff_client: Client,
) -> None:
    SymbolTiersFactory()
    LevelFactory(level_price=D(62750))
    tiers = {"tier1_pct": "0.01", "tier2_pct": "0.006", "tier3_pct": "0.002"}
    response = staff_client.post(f"{PAGE}/tiers", tiers, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    saved = SymbolTiers.objects.get()
    assert (saved.tier1_pct, saved.tier2_pct, saved.tier3_pct) == (
        D("0.01"),
        D("0.006"),
        D("0.002"),
    )
    assert html.lstrip().startswith('<section id="tiers-widget"')
    assert "Now 1% / 0.6% / 0.2%" in html and "tiers already fired stay fired" in html
    assert '<div id="levels-table"' in html
    table_tag = html[html.index('<div id="levels-table"') :].split(">")[0]
    assert 'hx-swap-oob="true"' in table_tag
    assert "tiers 1% / 0.6% / 0.2%" in html
    assert "<html" not in html


def test_tiers_can_be_set_for_a_symbol_that_has_none(staff_client: Client) -> None:
    tiers = {"tier1_pct": "0.006", "tier2_pct": "0.004", "tier3_pct": "0.002"}
    response = staff_client.post("/levels/bybit/ETHUSDT/tiers", tiers)
    assert response.status_code == 302
    assert response["Location"] == "/levels/bybit/ETHUSDT"
    saved = SymbolTiers.objects.get()
    assert (saved.exchange, saved.symbol, saved.tier2_pct) == ("bybit", "ETH/USDT:USDT", D("0.004"))


@pytest.mark.parametrize(
    ("tiers", "field", "sentence"),
    [
        (("0.003", "0.005", "0.0015"), "tier1_pct", messages.TIER1_FARTHER),
        (("0.005", "0.005", "0.0015"), "tier1_pct", messages.TIER1_FARTHER),
        (("0.005", "0.001", "0.0015"), "tier2_pct", messages.TIER2_FARTHER),
        (("0.005", "0.003", "0"), "tier3_pct", messages.TIER3_POSITIVE),
        (("1", "0.003", "0.0015"), "tier1_pct", "Tier 1 must be below 1 (1 is 100%)."),
        (("0.005", "half", "0.0015"), "tier2_pct", "Enter tier 2 as a number, such as 0.003."),
    ],
)
def test_invalid_tiers_come_back_with_the_sentence_beside_the_field_and_save_nothing(
    staff_client: Client, tiers: tuple[str, str, str], field: str, sentence: str
) -> None:
    SymbolTiersFactory()
    data = dict(zip(("tier1_pct", "tier2_pct", "tier3_pct"), tiers, strict=True))
    response = staff_client.post(f"{PAGE}/tiers", data, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 422
    assert html.lstrip().startswith('<section id="tiers-widget"')
    assert sentence in field_block(html, field)
    assert "Now 0.5% / 0.3% / 0.15%" in html  # the tiers in force, not the ones refused
    assert "levels-table" not in html
    saved = SymbolTiers.objects.get()
    assert (saved.tier1_pct, saved.tier2_pct, saved.tier3_pct) == (
        D("0.005"),
        D("0.003"),
        D("0.0015"),
    )


def test_invalid_tiers_for_a_new_symbol_create_no_row(staff_client: Client) -> None:
    data = {"tier1_pct": "0.001", "tier2_pct": "0.002", "tier3_pct": "0.003"}
    response = staff_client.post("/levels/bybit/ETHUSDT/tiers", data)
    assert response.status_code == 400
    assert "<html" in response.content.decode()
    assert messages.TIER1_FARTHER in field_block(response.content.decode(), "tier1_pct")
    assert not SymbolTiers.objects.exists()


# Deleting, pausing, resuming


def test_deleting_a_level_drops_it_and_its_tier_state_and_keeps_its_trades(
    staff_client: Client,
) -> None:
    keep = LevelFactory(level_price=D(64000))
    level = LevelFactory(level_price=D(62750))
    TierStateFactory(level=level, fired_tiers=[1])
    TradeFactory(level=level)
    response = staff_client.delete(f"{PAGE}/{level.pk}", headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="levels-table"')
    assert "62750" not in html and "64000" in html
    assert list(Level.objects.all()) == [keep]
    assert not TierState.objects.filter(level_id=level.pk).exists()
    assert Trade.objects.get().level_key == str(level.pk)


def test_deleting_a_level_of_another_symbol_is_a_404_and_deletes_nothing(
    staff_client: Client,
) -> None:
    other = LevelFactory(symbol="ETH/USDT:USDT", level_price=D(2650))
    elsewhere = LevelFactory(exchange="bybit")
    for level in (other, elsewhere):
        response = staff_client.delete(f"{PAGE}/{level.pk}", headers=HTMX)
        assert response.status_code == 404
    assert Level.objects.count() == 2
    assert staff_client.delete(f"{PAGE}/999999", headers=HTMX).status_code == 404


def test_pausing_and_resuming_a_level_keeps_its_tier_state(staff_client: Client) -> None:
    level = LevelFactory()
    TierStateFactory(level=level, fired_tiers=[1, 2], filled_size=D("0.004"))
    paused = staff_client.post(f"{PAGE}/{level.pk}/pause", headers=HTMX)
    assert paused.status_code == 200
    assert '<span class="badge paused">paused</span>' in paused.content.decode()
    assert "<html" not in paused.content.decode()
    level.refresh_from_db()
    assert not level.is_active
    resumed = staff_client.post(f"{PAGE}/{level.pk}/resume", headers=HTMX)
    assert '<span class="badge active">active</span>' in resumed.content.decode()
    level.refresh_from_db()
    assert level.is_active
    assert TierState.objects.get(level=level).fired_tiers == [1, 2]


def test_pausing_with_a_plain_post_redirects_to_the_page(staff_client: Client) -> None:
    level = LevelFactory()
    response = staff_client.post(f"{PAGE}/{level.pk}/pause")
    assert response.status_code == 302 and response["Location"] == PAGE
    level.refresh_from_db()
    assert not level.is_active


def test_pausing_a_level_of_another_symbol_is_a_404(staff_client: Client) -> None:
    level = LevelFactory(symbol="ETH/USDT:USDT")
    assert staff_client.post(f"{PAGE}/{level.pk}/pause", headers=HTMX).status_code == 404
    level.refresh_from_db()
    assert level.is_active


# The exchange page


def test_exchange_page_shows_forms_and_table_for_each_of_its_symbols(staff_client: Client) -> None:
    SymbolTiersFactory()
    LevelFactory(level_price=D(62750))
    LevelFactory(symbol="ETH/USDT:USDT", level_price=D(2650))
    SymbolTiersFactory(symbol="SOL/USDT:USDT")  # tiers, no levels yet
    LevelFactory(exchange="bybit", level_price=D(99999))
    response = staff_client.get("/levels/binanceusdm")
    html = response.content.decode()
    assert response.status_code == 200
    for market in ("BTCUSDT", "ETHUSDT", "SOLUSDT"):
        assert f'id="levels-table-binanceusdm-{market}"' in html
        assert f'id="tiers-widget-binanceusdm-{market}"' in html
        assert f'id="level-form-binanceusdm-{market}"' in html
        assert f'hx-get="/levels/binanceusdm/{market}/table?in=exchange"' in html
    assert "99999" not in html
    assert len(ids(html)) == len(set(ids(html)))


def test_a_write_from_the_exchange_page_answers_with_that_pages_ids(staff_client: Client) -> None:
    response = staff_client.post(f"{PAGE}?in=exchange", GOOD_LEVEL, headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="levels-table-binanceusdm-BTCUSDT"')
    assert 'id="level-form-binanceusdm-BTCUSDT"' in html
    bad = staff_client.post(f"{PAGE}?in=exchange", {**GOOD_LEVEL, "base_size": "0"}, headers=HTMX)
    assert bad["HX-Retarget"] == "#level-form-binanceusdm-BTCUSDT"
    plain = staff_client.post(f"{PAGE}?in=exchange", {**GOOD_LEVEL, "level_price": "60000"})
    assert plain["Location"] == "/levels/binanceusdm"


def test_an_exchange_with_nothing_yet_offers_to_open_a_symbol(staff_client: Client) -> None:
    html = staff_client.get("/levels/okx").content.decode()
    assert "No levels or tiers on okx yet" in html
    assert 'name="exchange" value="okx"' in html


# The overview


def test_levels_overview_groups_symbols_by_exchange_with_their_tiers(staff_client: Client) -> None:
    SymbolTiersFactory()
    LevelFactory(level_price=D(62750))
    LevelFactory(level_price=D(64000), is_active=False)
    LevelFactory(exchange="bybit", symbol="ETH/USDT:USDT", level_price=D(2650))
    response = staff_client.get("/levels")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index('href="/levels/binanceusdm"') < html.index('href="/levels/bybit"')
    assert '<a href="/levels/binanceusdm/BTCUSDT">BTC/USDT:USDT</a>' in html
    assert '<a href="/levels/bybit/ETHUSDT">ETH/USDT:USDT</a>' in html
    assert "0.5% / 0.3% / 0.15%" in html
    assert "1 active of 2" in html
    assert "not set" in html  # bybit ETH has no tiers
    assert 'name="symbol"' in html


def test_levels_overview_for_htmx_is_the_overview_alone(staff_client: Client) -> None:
    LevelFactory()
    html = staff_client.get("/levels", headers=HTMX).content.decode()
    assert "<html" not in html and "BTC/USDT:USDT" in html


def test_the_open_a_symbol_form_leads_to_the_symbols_page(staff_client: Client) -> None:
    response = staff_client.get("/levels", {"exchange": "bybit", "symbol": "solusdt"})
    assert response.status_code == 302
    assert response["Location"] == "/levels/bybit/SOLUSDT"
    unified = staff_client.get("/levels", {"exchange": "bybit", "symbol": "BTC/USD:BTC"})
    assert unified["Location"] == "/levels/bybit/BTC/USD:BTC"
    assert staff_client.get(unified["Location"]).status_code == 200


def test_the_open_a_symbol_form_says_what_is_wrong(staff_client: Client) -> None:
    response = staff_client.get("/levels", {"exchange": "Bybit!", "symbol": "SOL-PERP"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "lowercase letters and digits" in field_block(html, "exchange")
    assert "SOL-PERP is not a symbol levelbot knows" in field_block(html, "symbol")


def test_what_the_service_refuses_is_shown_beside_its_field_or_above_the_form(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**fields: object) -> None:
        raise ValidationError(
            {"base_size": ["Below the market's minimum order."], "symbol": ["Not listed."]}
        )

    monkeypatch.setattr(services, "level_create", refuse)
    response = staff_client.post(PAGE, GOOD_LEVEL, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 422
    assert "Below the market&#x27;s minimum order." in field_block(html, "base_size")
    form_top = html[: html.index('<div class="fields">')]
    assert "Not listed." in form_top
    assert not Level.objects.exists()


def test_level_form_suggests_leverage_and_cooldown(staff_client) -> None:
    html = staff_client.get("/levels/binanceusdm/BTCUSDT").content.decode()
    assert re.search(r'<input[^>]*name="leverage"[^>]*value="10"', html)
    assert re.search(r'<input[^>]*name="cool_down_ms"[^>]*value="1000"', html)


# Market rules: where the bot has loaded the market, a level's orders must be tradable --------


@pytest.fixture
def btc_market() -> Market:
    """Binance USD-M BTCUSDT's published rules: step and minimum 0.001 BTC, 100 USDT value."""
    SymbolTiersFactory(exchange="binanceusdm", symbol="BTC/USDT:USDT")
    return Market.objects.create(
        exchange="binanceusdm",
        symbol="BTC/USDT:USDT",
        market_id="BTCUSDT",
        amount_step=D("0.001"),
        min_amount=D("0.001"),
        min_notional=D("100"),
    )


@pytest.mark.parametrize(
    ("base_size", "sentence"),
    [
        ("0.0005", "0.0005 is below the minimum order of 0.001 on binanceusdm BTC/USDT:USDT."),
        ("0.0015", "0.0015 is not a multiple of the amount step 0.001"),
        ("0.001", "below the minimum order value of 100 on binanceusdm."),
    ],
)
def test_a_level_the_exchange_would_refuse_is_not_saved(
    staff_client: Client, btc_market: Market, base_size: str, sentence: str
) -> None:
    response = staff_client.post(PAGE, {**GOOD_LEVEL, "base_size": base_size}, headers=HTMX)
    assert response.status_code == 422
    assert sentence in field_block(response.content.decode(), "base_size")
    assert not Level.objects.exists()


def test_a_tradable_level_is_saved_where_the_market_is_known(
    staff_client: Client, btc_market: Market
) -> None:
    # 0.003 BTC at tier 1 below 61500.5 is worth about 180 USDT: above the 100 minimum.
    response = staff_client.post(PAGE, GOOD_LEVEL, headers=HTMX)
    assert response.status_code == 200
    assert Level.objects.get().base_size == D("0.003")


def test_the_minimum_value_is_checked_at_the_lowest_entry_price(btc_market: Market) -> None:
    tiers = SymbolTiers.objects.get()
    lowest = D("30000") * (1 - tiers.tier1_pct)  # the long side's tier 1
    base = D("0.004")  # 120 USDT at the level, below 100 only if tier 1 is 16.7% away
    with pytest.raises(ValidationError) as raised:
        services.level_create(
            exchange="binanceusdm",
            symbol="BTC/USDT:USDT",
            level_price=D("30000"),
            base_size=D("0.003"),
            leverage=5,
        )
    assert "below the minimum order value" in str(raised.value)
    assert base * lowest >= 100  # the same level with a larger size passes
    services.level_create(
        exchange="binanceusdm",
        symbol="BTC/USDT:USDT",
        level_price=D("30000"),
        base_size=base,
        leverage=5,
    )
    assert Level.objects.count() == 1


def test_a_level_with_exits_is_saved_and_its_exits_shown(staff_client: Client) -> None:
    SymbolTiersFactory(exchange="binanceusdm", symbol="BTC/USDT:USDT")
    exits = {"take_profit_pct": "0.01", "stop_loss_pct": "0.025", "close_on_touch": "on"}
    response = staff_client.post(PAGE, {**GOOD_LEVEL, **exits}, headers=HTMX)
    assert response.status_code == 200
    level = Level.objects.get()
    assert (level.take_profit_pct, level.stop_loss_pct, level.close_on_touch) == (
        D("0.01"),
        D("0.025"),
        True,
    )
    assert level.to_engine().has_exits
    cell = re.search(r'<td class="exits">(.*?)</td>', response.content.decode()).group(1)
    assert "TP 1%" in cell and "SL 2.5%" in cell and "at the level" in cell


@pytest.mark.parametrize("field", ["take_profit_pct", "stop_loss_pct"])
def test_an_exit_outside_zero_and_one_is_refused_beside_its_field(
    staff_client: Client, field: str
) -> None:
    response = staff_client.post(PAGE, {**GOOD_LEVEL, field: "1.5"}, headers=HTMX)
    assert response.status_code == 422
    sentence = messages.EXIT_PCT_RANGE.replace("%%", "%")
    assert sentence in field_block(response.content.decode(), field)
    assert not Level.objects.exists()


# Editing a level: a new price resets its tier state, other changes keep it ---------------------


def edit_url(level: Level) -> str:
    return f"/levels/binanceusdm/BTCUSDT/{level.pk}/edit"


@pytest.fixture
def fired_level() -> Level:
    level = LevelFactory(level_price=D("61500.5"), base_size=D("0.003"))
    TierStateFactory(level=level, side=Side.LONG, fired_tiers=[1, 2], filled_size=D("0.006"))
    TierStateFactory(level=level, side=Side.SHORT, fired_tiers=[], filled_size=D("0"))
    return level


def test_the_edit_page_shows_the_level_and_what_an_edit_does(
    staff_client: Client, fired_level: Level
) -> None:
    html = staff_client.get(edit_url(fired_level)).content.decode()
    assert 'value="61500.5"' in field_block(html, "level_price")
    assert "A new <strong>price</strong> moves every boundary" in html
    assert f'href="{edit_url(fired_level)}"' in staff_client.get(PAGE).content.decode()


def test_a_new_size_keeps_the_tier_state(staff_client: Client, fired_level: Level) -> None:
    data = {**GOOD_LEVEL, "base_size": "0.004"}
    response = staff_client.post(edit_url(fired_level), data, follow=True)
    assert response.redirect_chain[-1][0].startswith(PAGE)
    assert "its tier state is kept: fired tiers stay fired." in response.content.decode()
    level = Level.objects.get()
    assert (level.base_size, level.level_price) == (D("0.004"), D("61500.5"))
    long = TierState.objects.get(level=level, side=Side.LONG)
    assert (long.fired_tiers, long.filled_size, long.cycle) == ([1, 2], D("0.006"), 0)


def test_a_new_price_resets_the_tier_state_and_keeps_the_cooldown(
    staff_client: Client, fired_level: Level
) -> None:
    Level.objects.filter(pk=fired_level.pk).update(last_trigger_ms=123)
    data = {**GOOD_LEVEL, "level_price": "60000"}
    response = staff_client.post(edit_url(fired_level), data, follow=True)
    assert "its price changed, so its tier state was reset" in response.content.decode()
    level = Level.objects.get()
    assert (level.level_price, level.last_trigger_ms) == (D("60000"), 123)
    for state in TierState.objects.filter(level=level):
        assert (state.fired_tiers, state.filled_size, state.cycle) == ([], D("0"), 1)


def test_an_invalid_edit_shows_the_error_and_changes_nothing(
    staff_client: Client, fired_level: Level
) -> None:
    response = staff_client.post(edit_url(fired_level), {**GOOD_LEVEL, "level_price": "-5"})
    assert response.status_code == 400
    assert messages.LEVEL_PRICE_POSITIVE in field_block(response.content.decode(), "level_price")
    level = Level.objects.get()
    assert level.level_price == D("61500.5")
    assert TierState.objects.get(level=level, side=Side.LONG).fired_tiers == [1, 2]


def test_a_level_of_another_symbol_cannot_be_edited_here(staff_client: Client) -> None:
    other = LevelFactory(symbol="ETH/USDT:USDT")
    assert staff_client.get(edit_url(other)).status_code == 404


def test_only_listed_fields_can_be_edited(fired_level: Level) -> None:
    with pytest.raises(ValueError, match="cannot be edited: symbol"):
        services.level_update(level=fired_level, symbol="ETH/USDT:USDT")
