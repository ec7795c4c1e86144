"""Why a tier fired or did not: a level's tier state and its latest events."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from tests.dashboard.conftest import HTMX
from tests.dashboard.factories import LevelEventFactory
from tests.factories import LevelFactory, SymbolTiersFactory, TierStateFactory
from trading.models import Level, LevelEvent, Side

pytestmark = pytest.mark.django_db

D = Decimal
T0 = 1_721_347_217_599  # 2024-07-19 00:00:17.599 UTC


def url(level: Level) -> str:
    return f"/levels/binanceusdm/BTCUSDT/{level.pk}/events"


def cells(row: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", cell).strip()
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    ]


def event_rows(html: str) -> list[list[str]]:
    body = html[html.index('<table class="level-events">') :]
    body = body[body.index("<tbody>") : body.index("</tbody>")]
    return [cells(row) for row in re.findall(r'<tr class="event [^"]*">(.*?)</tr>', body, re.S)]


def ignored(level: Level, ts: int, reason: str, detail: str, **fields: object) -> LevelEvent:
    return LevelEventFactory(
        level=level,
        kind=LevelEvent.Kind.IGNORED,
        reason=reason,
        detail=detail,
        event_ts_ms=ts,
        **fields,
    )


def test_events_are_listed_newest_first_with_their_reasons(staff_client: Client) -> None:
    level = LevelFactory(level_price=D(62750))
    LevelEventFactory(
        level=level, event_ts_ms=T0, tiers=[1], price=63064.5, detail="order of 0.002 at 63064.5"
    )
    ignored(
        level,
        T0 + 400,
        "cooldown",
        "SHORT tier 2 crossed during the cooldown (600 ms left).",
        tiers=[2],
        price=62938.0,
    )
    ignored(
        level,
        T0 + 5000,
        "sentiment",
        "LONG tiers 1, 2 crossed against the trade flow (sentiment -0.72).",
        side=Side.LONG,
        tiers=[1, 2],
        price=62430.25,
    )
    response = staff_client.get(url(level))
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html and f"<h1>Level {level.pk} at 62750" in html
    assert event_rows(html) == [
        [
            "2024-07-19 00:00:22.599",
            "LONG",
            "1, 2",
            "62430.25",
            "ignored: sentiment",
            "LONG tiers 1, 2 crossed against the trade flow (sentiment -0.72).",
        ],
        [
            "2024-07-19 00:00:17.999",
            "SHORT",
            "2",
            "62938",
            "ignored: cooldown",
            "SHORT tier 2 crossed during the cooldown (600 ms left).",
        ],
        [
            "2024-07-19 00:00:17.599",
            "SHORT",
            "1",
            "63064.5",
            "fired",
            "order of 0.002 at 63064.5",
        ],
    ]


def test_reason_codes_read_as_words(staff_client: Client) -> None:
    level = LevelFactory()
    ignored(level, T0, "already_fired", "SHORT tier 1 crossed again but already fired.")
    (row,) = event_rows(staff_client.get(url(level)).content.decode())
    assert row[4] == "ignored: already fired"


def test_only_this_levels_events_are_shown(staff_client: Client) -> None:
    level, other = LevelFactory(), LevelFactory()
    LevelEventFactory(level=level, detail="mine")
    LevelEventFactory(level=other, detail="the other level's")
    html = staff_client.get(url(level)).content.decode()
    assert [row[5] for row in event_rows(html)] == ["mine"]


def test_at_most_the_latest_100_events_are_shown(staff_client: Client) -> None:
    level = LevelFactory()
    LevelEvent.objects.bulk_create(
        LevelEventFactory.build(level=level, event_ts_ms=T0 + n, detail=f"event {n}")
        for n in range(101)
    )
    rows = event_rows(staff_client.get(url(level)).content.decode())
    assert len(rows) == 100
    assert rows[0][5] == "event 100" and rows[-1][5] == "event 1"


def test_a_level_without_events_says_when_they_appear(staff_client: Client) -> None:
    level = LevelFactory()
    html = staff_client.get(url(level)).content.decode()
    assert event_rows(html) == []
    assert "No events yet" in html


def test_the_tier_state_shows_boundaries_fired_tiers_filled_size_and_cycle(
    staff_client: Client,
) -> None:
    SymbolTiersFactory()  # 0.5% / 0.3% / 0.15%
    level = LevelFactory(level_price=D(60000), last_trigger_ms=T0)
    TierStateFactory(
        level=level, side=Side.SHORT, fired_tiers=[1, 2], filled_size=D("0.004"), cycle=3
    )
    html = staff_client.get(url(level)).content.decode()
    table = html[html.index('<table class="tier-state">') : html.index("</table>")]
    rows = {}
    for row in re.findall(r"<tr class=\"side-\w+\">(.*?)</tr>", table, re.S):
        side = re.search(r'<th scope="row" class="side">(\w+)</th>', row)
        assert side, row
        rows[side.group(1)] = cells(row)
    assert rows["SHORT"] == ["60300 fired", "60180 fired", "60090 armed", "1, 2", "0.004", "3"]
    assert rows["LONG"] == ["59700 armed", "59820 armed", "59910 armed", "—", "0", "0"]
    assert "tiers last fired at 2024-07-19 00:00:17.599 UTC" in html


def test_a_symbol_without_tiers_says_nothing_can_fire(staff_client: Client) -> None:
    level = LevelFactory()
    html = staff_client.get(url(level)).content.decode()
    assert html.count("No tiers set for BTCUSDT: nothing can fire.") == 2
    assert "no tier has fired yet" in html


def test_htmx_polls_get_the_tier_state_and_events_alone(staff_client: Client) -> None:
    level = LevelFactory()
    LevelEventFactory(level=level)
    html = staff_client.get(url(level), headers=HTMX).content.decode()
    assert "<html" not in html and "<h1>" not in html
    assert html.lstrip().startswith(
        f'<div id="level-events" hx-get="{url(level)}" hx-trigger="every 2s" hx-swap="outerHTML">'
    )
    assert len(event_rows(html)) == 1 and "Tier state" in html


def test_a_level_of_another_symbol_or_exchange_is_a_404(staff_client: Client) -> None:
    eth = LevelFactory(symbol="ETH/USDT:USDT", level_price=D(2650))
    bybit = LevelFactory(exchange="bybit")
    LevelEventFactory(level=eth, detail="not here")
    for level in (eth, bybit):
        response = staff_client.get(url(level))
        assert response.status_code == 404
        assert f"binanceusdm BTC/USDT:USDT has no level {level.pk}." in response.content.decode()


def test_an_unknown_level_is_a_404(staff_client: Client) -> None:
    response = staff_client.get("/levels/binanceusdm/BTCUSDT/999/events")
    assert response.status_code == 404
    assert "has no level 999" in response.content.decode()


def test_each_level_in_the_table_links_to_its_events(staff_client: Client) -> None:
    level = LevelFactory()
    link = f'<a class="events-link" href="{url(level)}"'
    assert link in staff_client.get("/levels/binanceusdm/BTCUSDT").content.decode()
    assert link in staff_client.get("/levels/binanceusdm").content.decode()


def test_the_events_page_links_back_to_the_symbol_and_marks_levels_in_the_navigation(
    staff_client: Client,
) -> None:
    html = staff_client.get(url(LevelFactory())).content.decode()
    assert '<a href="/levels/binanceusdm/BTCUSDT">BTCUSDT</a>' in html
    assert '<a href="/levels" aria-current="page">Levels</a>' in html


def test_an_entry_the_exchange_refused_is_on_the_timeline_with_its_reason(
    staff_client: Client,
) -> None:
    level = LevelFactory()
    reason = 'InsufficientFunds: bybit {"retCode":110007,"retMsg":"ab not enough for new order"}'
    LevelEventFactory(level=level, kind=LevelEvent.Kind.REFUSED, reason="exchange", detail=reason)
    (row,) = event_rows(staff_client.get(url(level)).content.decode())
    assert row[4] == "refused: exchange"
    assert "ab not enough for new order" in row[5]
