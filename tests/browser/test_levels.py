"""The symbol page in a real browser: every write swaps its part of the page in, no reload."""

from __future__ import annotations

from decimal import Decimal

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions

from tests.browser.conftest import NOT_RELOADED, Browser
from tests.factories import LevelFactory, SymbolTiersFactory
from trading import messages
from trading.models import Level, SymbolTiers

pytestmark = [
    pytest.mark.needs("chromium", "chromium-driver"),
    pytest.mark.django_db(transaction=True),
]

D = Decimal
PAGE = "/levels/binanceusdm/BTCUSDT"
ROWS = "#levels-table tbody tr"


def row_xpath(level_id: int) -> str:
    return f"//div[@id='levels-table']//tbody/tr[td[1][normalize-space()='{level_id}']]"


def level_row(browser: Browser, level_id: int) -> WebElement | None:
    rows = browser.driver.find_elements(By.XPATH, row_xpath(level_id))
    return rows[0] if rows else None


def test_tiers_saved_through_the_form_show_in_widget_and_table(signed_in: Browser) -> None:
    signed_in.open(PAGE)
    assert "No tiers yet" in signed_in.text("#tiers-widget")
    signed_in.mark_page()
    signed_in.fill({"id_tier1_pct": "0.005", "id_tier2_pct": "0.003", "id_tier3_pct": "0.0015"})
    signed_in.click("#tiers-widget button[type=submit]")

    signed_in.wait_for(lambda: "Saved:" in signed_in.text("#tiers-widget"), "the tiers saved")
    assert "Now 0.5% / 0.3% / 0.15% from each level" in signed_in.text("#tiers-widget")
    assert "tiers 0.5% / 0.3% / 0.15%" in signed_in.text("#levels-table caption")
    assert signed_in.page_mark() == NOT_RELOADED
    tiers = SymbolTiers.objects.get(exchange="binanceusdm", symbol="BTC/USDT:USDT")
    assert (tiers.tier1_pct, tiers.tier2_pct, tiers.tier3_pct) == (
        D("0.005"),
        D("0.003"),
        D("0.0015"),
    )


def test_level_added_through_the_form_appears_in_the_table(signed_in: Browser) -> None:
    SymbolTiersFactory()
    signed_in.open(PAGE)
    assert signed_in.texts(ROWS) == ["No levels yet: add one with the form above."]
    signed_in.mark_page()
    signed_in.fill(
        {
            "id_level_price": "61500.5",
            "id_base_size": "0.003",
            "id_leverage": "20",
            "id_note": "weekly low",
        }
    )
    signed_in.click("#level-form button[type=submit]")

    signed_in.wait_for(lambda: "61500.5" in signed_in.text(ROWS), "the new level's row")
    assert len(signed_in.texts(ROWS)) == 1
    level = Level.objects.get()
    row = signed_in.text(row_xpath(level.pk), by=By.XPATH)
    for shown in ("61500.5", "weekly low", "0.003", "20x", "isolated", "manual-web", "active"):
        assert shown in row
    assert signed_in.page_mark() == NOT_RELOADED
    # The form came back blank, out of band, ready for the next level.
    assert signed_in.script("return document.getElementById('id_level_price').value") == ""


def test_negative_price_is_refused_beside_the_field_and_adds_no_row(signed_in: Browser) -> None:
    LevelFactory(level_price=D(62750))
    signed_in.open(PAGE)
    signed_in.mark_page()
    signed_in.fill({"id_level_price": "-62750", "id_base_size": "0.002"})
    # The input's min="0" has the browser refuse it before any request is sent...
    assert signed_in.script(
        "return document.getElementById('id_level_price').validity.rangeUnderflow"
    )
    # ...so switch that check off, as `novalidate` would, for the server's sentence to answer.
    signed_in.script("document.getElementById('level-form').noValidate = true;")
    signed_in.click("#level-form button[type=submit]")

    error = signed_in.wait_for(
        lambda: signed_in.text("#level-form #id_level_price_error"), "the error beside the price"
    )
    assert error == messages.LEVEL_PRICE_POSITIVE
    field = signed_in.driver.find_element(By.XPATH, "//input[@id='id_level_price']/..")
    assert "has-error" in field.get_dom_attribute("class")
    assert messages.LEVEL_PRICE_POSITIVE in field.text
    assert signed_in.script("return document.getElementById('id_level_price').value") == "-62750"
    assert len(signed_in.texts(ROWS)) == 1
    assert Level.objects.count() == 1
    assert signed_in.page_mark() == NOT_RELOADED


def test_level_pauses_and_resumes_in_place(signed_in: Browser) -> None:
    level = LevelFactory(level_price=D(62750))
    signed_in.open(PAGE)
    signed_in.mark_page()

    signed_in.click(f"{row_xpath(level.pk)}//button[normalize-space()='Pause']", by=By.XPATH)
    signed_in.wait_for(
        lambda: (
            "paused" in signed_in.text(f"{row_xpath(level.pk)}/td[@class='state']", by=By.XPATH)
        ),
        "the level shown paused",
    )
    level.refresh_from_db()
    assert level.is_active is False

    signed_in.click(f"{row_xpath(level.pk)}//button[normalize-space()='Resume']", by=By.XPATH)
    signed_in.wait_for(
        lambda: (
            "active" in signed_in.text(f"{row_xpath(level.pk)}/td[@class='state']", by=By.XPATH)
        ),
        "the level shown active again",
    )
    level.refresh_from_db()
    assert level.is_active is True
    assert signed_in.page_mark() == NOT_RELOADED


def test_level_deleted_after_the_confirm_dialog_leaves_the_table(signed_in: Browser) -> None:
    doomed = LevelFactory(level_price=D(62750))
    kept = LevelFactory(level_price=D(64000))
    signed_in.open(PAGE)
    signed_in.mark_page()

    signed_in.click(f"{row_xpath(doomed.pk)}//button[normalize-space()='Delete']", by=By.XPATH)
    alert = signed_in.wait_for(
        lambda: expected_conditions.alert_is_present()(signed_in.driver), "the confirm dialog"
    )
    assert alert.text == "Delete this level?"
    alert.accept()

    signed_in.wait_for(lambda: level_row(signed_in, doomed.pk) is None, "the row to disappear")
    assert level_row(signed_in, kept.pk) is not None
    assert list(Level.objects.values_list("pk", flat=True)) == [kept.pk]
    assert signed_in.page_mark() == NOT_RELOADED


def test_level_form_sent_back_with_an_error_adds_the_level_once_corrected(
    signed_in: Browser,
) -> None:
    signed_in.open(PAGE)
    signed_in.mark_page()
    signed_in.fill({"id_level_price": "0", "id_base_size": "0.002", "id_leverage": "5"})
    signed_in.click("#level-form button[type=submit]")
    signed_in.wait_for(lambda: signed_in.text("#id_level_price_error"), "the error")

    signed_in.fill({"id_level_price": "62000"})
    signed_in.click("#level-form button[type=submit]")

    signed_in.wait_for(lambda: "62000" in signed_in.text(ROWS), "the corrected level's row")
    assert signed_in.texts("#level-form .errorlist") == []
    assert list(Level.objects.values_list("level_price", "leverage")) == [(D(62000), 5)]
    assert signed_in.page_mark() == NOT_RELOADED
