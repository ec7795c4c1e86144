from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils.html import escape

from tests.factories import BotSessionFactory, LevelFactory, SymbolTiersFactory, TradeFactory
from trading import messages, services
from trading.models import BotSession, BotSettings, Level, Side, SymbolTiers, TierState, Trade

pytestmark = pytest.mark.django_db

D = Decimal
LEVEL_ADD = reverse("admin:trading_level_add")
LEVEL_LIST = reverse("admin:trading_level_changelist")
GOOD_LEVEL = {
    "exchange": "binanceusdm",
    "symbol": "BTC/USDT:USDT",
    "level_price": "62750",
    "base_size": "0.002",
    "leverage": "10",
    "margin_type": "isolated",
    "cool_down_ms": "1000",
    "source": "manual-web",
    "note": "",
    "is_active": "on",
}


def page_data(response: HttpResponse) -> dict[str, Any]:
    """What the browser would send back from an admin change page, untouched."""
    data: dict[str, Any] = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        data.update(
            {f"{formset.prefix}-{k}": v for k, v in formset.management_form.initial.items()}
        )
        forms += formset.forms
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is True:
                data[form.add_prefix(name)] = "on"
            elif value is not None and value is not False:
                data[form.add_prefix(name)] = value
    return data


def level_with_state() -> Level:
    return services.level_create(
        exchange="binanceusdm",
        symbol="BTC/USDT:USDT",
        level_price=D(62750),
        base_size=D("0.002"),
        leverage=10,
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("level_price", "-5", messages.LEVEL_PRICE_POSITIVE),
        ("base_size", "0", messages.BASE_SIZE_POSITIVE),
        ("leverage", "0", messages.LEVERAGE_RANGE),
        ("margin_type", "hedge", "Select a valid choice. hedge is not one of the available"),
        ("symbol", "BTCUSDT", "such as BTC/USDT:USDT"),
    ],
)
def test_adding_a_bad_level_shows_the_error_beside_the_field_and_saves_nothing(
    admin_client: Client, field: str, value: str, message: str
) -> None:
    response = admin_client.post(LEVEL_ADD, {**GOOD_LEVEL, field: value})
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert message in errors[field][0]
    assert escape(errors[field][0]) in response.content.decode()
    assert not Level.objects.exists()


def test_adding_a_level_creates_it_with_tier_state(admin_client: Client) -> None:
    response = admin_client.post(LEVEL_ADD, GOOD_LEVEL)
    assert response.status_code == 302
    level = Level.objects.get()
    assert level.level_price == D(62750)
    assert sorted(level.tier_states.values_list("side", flat=True)) == [Side.LONG, Side.SHORT]


def test_adding_symbol_tiers_out_of_order_shows_the_error_and_saves_nothing(
    admin_client: Client,
) -> None:
    response = admin_client.post(
        reverse("admin:trading_symboltiers_add"),
        {
            "exchange": "binanceusdm",
            "symbol": "BTC/USDT:USDT",
            "tier1_pct": "0.003",
            "tier2_pct": "0.003",
            "tier3_pct": "0.0015",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"tier1_pct": [messages.TIER1_FARTHER]}
    assert messages.TIER1_FARTHER in response.content.decode()
    assert not SymbolTiers.objects.exists()


def test_level_change_page_edits_the_level_but_not_its_exchange_or_symbol(
    admin_client: Client,
) -> None:
    level = level_with_state()
    response = admin_client.get(reverse("admin:trading_level_change", args=[level.pk]))
    assert response.status_code == 200
    fields = set(response.context["adminform"].form.fields)
    assert {"level_price", "base_size", "leverage", "take_profit_pct", "note"} <= fields
    assert not {"exchange", "symbol", "source", "last_trigger_ms"} & fields
    assert [
        form.instance.side for form in response.context["inline_admin_formsets"][0].formset
    ] == [
        Side.LONG,
        Side.SHORT,
    ]


def fire_long(level: Level) -> None:
    TierState.objects.filter(level=level, side=Side.LONG).update(
        fired_tiers=[1], filled_size=D("0.002")
    )


def test_a_new_size_in_the_admin_keeps_the_tier_state(admin_client: Client) -> None:
    level = level_with_state()
    fire_long(level)
    url = reverse("admin:trading_level_change", args=[level.pk])
    data = page_data(admin_client.get(url))
    data.update(note="weekly high", base_size="0.003", leverage="20")
    del data["is_active"]  # unticked
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    level.refresh_from_db()
    assert (level.note, level.is_active, level.base_size, level.leverage) == (
        "weekly high",
        False,
        D("0.003"),
        20,
    )
    state = TierState.objects.get(level=level, side=Side.LONG)
    assert (state.fired_tiers, state.cycle) == ([1], 0)


def test_a_new_price_in_the_admin_resets_the_tier_state(admin_client: Client) -> None:
    level = level_with_state()
    fire_long(level)
    url = reverse("admin:trading_level_change", args=[level.pk])
    data = page_data(admin_client.get(url))
    data.update(level_price="63000")
    response = admin_client.post(url, data, follow=True)
    assert "tier state was reset" in response.content.decode()
    state = TierState.objects.get(level=level, side=Side.LONG)
    assert (state.fired_tiers, state.filled_size, state.cycle) == ([], D("0"), 1)
    assert Level.objects.get(pk=level.pk).level_price == D(63000)


def test_level_change_page_leaves_runtime_state_alone(admin_client: Client) -> None:
    level = level_with_state()
    url = reverse("admin:trading_level_change", args=[level.pk])
    data = page_data(admin_client.get(url))
    # The bot fires a tier while the page is open.
    Level.objects.filter(pk=level.pk).update(last_trigger_ms=1_721_347_217_599)
    admin_client.post(url, {**data, "note": "seen"})
    level.refresh_from_db()
    assert level.last_trigger_ms == 1_721_347_217_599


@pytest.mark.parametrize(
    ("action", "active_before", "active_after", "message"),
    [
        ("pause", True, False, "Paused 2 levels."),
        ("resume", False, True, "Resumed 2 levels."),
    ],
)
def test_pause_and_resume_actions(
    admin_client: Client, action: str, active_before: bool, active_after: bool, message: str
) -> None:
    chosen = [LevelFactory.create(is_active=active_before) for _ in range(2)]
    other = LevelFactory.create(is_active=active_before)
    response = admin_client.post(
        LEVEL_LIST,
        {"action": action, "_selected_action": [level.pk for level in chosen]},
        follow=True,
    )
    assert message in response.content.decode()
    assert [level.is_active for level in Level.objects.filter(pk__in=[c.pk for c in chosen])] == [
        active_after,
        active_after,
    ]
    other.refresh_from_db()
    assert other.is_active == active_before


def test_reset_tier_state_action(admin_client: Client) -> None:
    level = level_with_state()
    Level.objects.filter(pk=level.pk).update(last_trigger_ms=5)
    level.tier_states.update(fired_tiers=[1, 2], filled_size=D("0.004"))
    response = admin_client.post(
        LEVEL_LIST, {"action": "reset_tier_state", "_selected_action": [level.pk]}, follow=True
    )
    assert "Reset the tier state of 1 level." in response.content.decode()
    assert {(tuple(s.fired_tiers), s.filled_size, s.cycle) for s in level.tier_states.all()} == {
        ((), 0, 1)
    }
    level.refresh_from_db()
    assert level.last_trigger_ms == 5


def test_deleting_a_level_in_the_admin_keeps_its_trades(admin_client: Client) -> None:
    level = level_with_state()
    trade = TradeFactory.create(level=level)
    url = reverse("admin:trading_level_delete", args=[level.pk])
    assert "Tier states: 2" in admin_client.get(url).content.decode()  # they go with it
    response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not Level.objects.exists()
    assert not TierState.objects.exists()
    trade.refresh_from_db()
    assert (trade.level, trade.level_key) == (None, str(level.pk))


def test_symbol_tiers_page_lists_the_levels_of_its_symbol(admin_client: Client) -> None:
    tiers = SymbolTiersFactory.create()
    on_symbol = LevelFactory.create(level_price=D(64000))
    elsewhere = LevelFactory.create(exchange="bybit", level_price=D(61000))
    response = admin_client.get(reverse("admin:trading_symboltiers_change", args=[tiers.pk]))
    page = response.content.decode()
    assert reverse("admin:trading_level_change", args=[on_symbol.pk]) in page
    assert reverse("admin:trading_level_change", args=[elsewhere.pk]) not in page
    filtered = f"{LEVEL_LIST}?exchange=binanceusdm&symbol=BTC%2FUSDT%3AUSDT"
    assert escape(filtered) in page
    listed = admin_client.get(filtered).context["cl"].result_list
    assert list(listed) == [on_symbol]


def test_symbol_tiers_can_be_changed_in_the_admin(admin_client: Client) -> None:
    tiers = SymbolTiersFactory.create()
    url = reverse("admin:trading_symboltiers_change", args=[tiers.pk])
    data = page_data(admin_client.get(url))
    response = admin_client.post(url, {**data, "tier3_pct": "0.001"})
    assert response.status_code == 302
    tiers.refresh_from_db()
    assert tiers.tier3_pct == D("0.001")


@pytest.mark.parametrize("model", [Trade, BotSession, TierState])
def test_records_written_by_the_bot_are_read_only_in_the_admin(
    admin_client: Client, admin_user: User, model: type[Any]
) -> None:
    request = RequestFactory().get("/")
    request.user = admin_user
    model_admin = admin.site.get_model_admin(model)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    name = model._meta.model_name
    assert admin_client.get(reverse(f"admin:trading_{name}_add")).status_code == 403


def test_a_trade_can_be_viewed_but_not_changed_or_deleted(admin_client: Client) -> None:
    trade = TradeFactory.create()
    change = reverse("admin:trading_trade_change", args=[trade.pk])
    page = admin_client.get(change)
    assert page.status_code == 200
    assert trade.client_order_id in page.content.decode()
    assert admin_client.post(change, {"size": "9"}).status_code == 403
    delete = reverse("admin:trading_trade_delete", args=[trade.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Trade.objects.get().size == trade.size


def test_bot_session_list_shows_which_session_is_alive(admin_client: Client) -> None:
    BotSessionFactory.create(hostname="box-a")
    response = admin_client.get(reverse("admin:trading_botsession_changelist"))
    assert "box-a" in response.content.decode()
    assert 'alt="True"' in response.content.decode()


def test_bot_settings_list_leads_to_the_one_row(admin_client: Client) -> None:
    response = admin_client.get(reverse("admin:trading_botsettings_changelist"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:trading_botsettings_change", args=[1])
    assert BotSettings.objects.count() == 1


def test_bot_settings_cannot_be_added_or_deleted(admin_client: Client) -> None:
    BotSettings.load()
    assert admin_client.get(reverse("admin:trading_botsettings_add")).status_code == 403
    delete = reverse("admin:trading_botsettings_delete", args=[1])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert BotSettings.objects.count() == 1


def test_bot_settings_shows_a_bad_threshold_beside_the_field(admin_client: Client) -> None:
    url = reverse("admin:trading_botsettings_change", args=[BotSettings.load().pk])
    data = page_data(admin_client.get(url))
    response = admin_client.post(url, {**data, "sentiment_threshold": "1"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "sentiment_threshold": [messages.THRESHOLD_RANGE]
    }
    assert BotSettings.load().sentiment_threshold == D("0.6")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changelist", ["admin:auth_user_changelist", "admin:auth_group_changelist"]
)
def test_the_auth_admins_refuse_a_selection_of_no_row_ids(
    admin_client: Client, changelist: str
) -> None:
    users = User.objects.count()
    response = admin_client.post(
        reverse(changelist),
        {"action": "delete_selected", "index": "0", "_selected_action": ["nan"], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert "the selection sent holds no row ids" in response.content.decode()
    assert User.objects.count() == users
