"""What every page shares, in a real browser: the login, local assets, dark mode, a phone."""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User

from tests.browser.conftest import STAFF_PASSWORD, STAFF_USERNAME, Browser
from tests.factories import LevelFactory, SymbolTiersFactory, TradeFactory
from trading.models import Side, TradeAction

pytestmark = [
    pytest.mark.needs("chromium", "chromium-driver"),
    pytest.mark.django_db(transaction=True),
]

D = Decimal
PAGE = "/levels/binanceusdm/BTCUSDT"
PHONE = {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
# For the person reviewing a change: not compared with anything.

RESOURCE_URLS = "return performance.getEntriesByType('resource').map(e => e.name);"
LINKED_URLS = """
return [...document.querySelectorAll('script[src], link[href], img[src], iframe[src], a[href]')]
  .map(e => new URL(e.getAttribute('src') || e.getAttribute('href'), location.href).href);
"""
COLOURS = """
const style = getComputedStyle(document.body);
return [style.backgroundColor, style.color];
"""


def brightness(css_colour: str) -> float:
    """The mean of an `rgb(r, g, b)` colour's channels, 0 (black) to 255 (white)."""
    channels = css_colour.removeprefix("rgba(").removeprefix("rgb(").rstrip(")").split(",")
    return sum(float(c) for c in channels[:3]) / 3


def prefer_colour_scheme(browser: Browser, scheme: str) -> None:
    browser.driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )


def a_symbol_with_levels_and_fills() -> None:
    SymbolTiersFactory()
    LevelFactory(level_price=D(62750), note="daily support")
    LevelFactory(level_price=D(63400), is_active=False)
    level = LevelFactory(level_price=D(64100))
    TradeFactory(level=level, side=Side.SHORT, price=D(64420))
    TradeFactory(level=level, side=Side.SHORT, action=TradeAction.CLOSE, price=D(64050))


def test_staff_user_logs_in_through_the_login_page(browser: Browser, staff_user: User) -> None:
    browser.open("/trades")
    assert urlsplit(browser.driver.current_url)[2:4] == ("/accounts/login/", "next=/trades")

    browser.fill({"id_username": STAFF_USERNAME, "id_password": "wrong"})
    browser.click("form.stacked button[type=submit]")
    browser.wait_for(lambda: browser.texts(".errorlist"), "the login to be refused")
    assert "/accounts/login/" in browser.driver.current_url

    browser.fill({"id_username": STAFF_USERNAME, "id_password": STAFF_PASSWORD})
    browser.click("form.stacked button[type=submit]")
    browser.wait_for(
        lambda: browser.driver.current_url == browser.base_url + "/trades", "the trades page"
    )
    assert f"Log out {STAFF_USERNAME}" in browser.text("header nav")


def test_pages_load_nothing_from_outside_the_app(signed_in: Browser) -> None:
    level = LevelFactory()
    signed_in.open(PAGE)
    version = signed_in.script("return window.htmx ? htmx.version : null;")
    assert version is not None and version.startswith("2.")
    # A write through htmx counts its own requests in too.
    signed_in.click("#levels-table button.secondary")
    pause = f"{PAGE}/{level.pk}/pause"
    signed_in.wait_for(
        lambda: any(pause in url for url in signed_in.script(RESOURCE_URLS)), "the pause request"
    )

    fetched = signed_in.script(RESOURCE_URLS)
    paths = {urlsplit(url).path for url in fetched}
    assert {"/static/dashboard/levelbot.css", "/static/django_htmx/htmx-2.min.js"} <= paths
    origin = signed_in.base_url + "/"
    assert [url for url in fetched if not url.startswith(origin)] == []
    assert [url for url in signed_in.script(LINKED_URLS) if not url.startswith(origin)] == []


def test_dark_mode_darkens_the_page(signed_in: Browser) -> None:
    signed_in.open(PAGE)
    prefer_colour_scheme(signed_in, "light")
    light_background, light_text = signed_in.script(COLOURS)
    prefer_colour_scheme(signed_in, "dark")
    dark_background, dark_text = signed_in.script(COLOURS)

    assert brightness(light_background) > 200 > 60 > brightness(dark_background)
    assert brightness(light_text) < 60 < 200 < brightness(dark_text)


def test_symbol_page_fits_a_phone_without_sideways_scroll(signed_in: Browser) -> None:
    a_symbol_with_levels_and_fills()
    signed_in.open(PAGE)
    signed_in.screenshot("symbol-page-desktop")

    signed_in.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    signed_in.open(PAGE)
    widths = signed_in.script(
        """
        const wrap = document.querySelector('#levels-table');
        return {
          viewport: window.innerWidth,
          page: document.documentElement.scrollWidth,
          body: document.body.scrollWidth,
          table: wrap.querySelector('table').scrollWidth,
          tableBox: wrap.clientWidth,
          tableOverflow: getComputedStyle(wrap).overflowX,
        };
        """
    )
    signed_in.screenshot("symbol-page-phone")

    assert widths["viewport"] == PHONE["width"]
    assert widths["page"] <= widths["viewport"]
    assert widths["body"] <= widths["viewport"]
    # The levels table is wider than a phone: it scrolls inside its own box instead.
    assert widths["table"] > widths["tableBox"]
    assert widths["tableOverflow"] == "auto"
