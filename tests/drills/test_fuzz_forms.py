"""Bad input on every web surface: the dashboard's routes and forms, and every admin form.

Whatever a logged-in staff user sends (garbage numbers and text, fields missing or extra, the
wrong method, URL parts that name nothing) the answer is a page or a 4xx, never a 500; a refused
request leaves every trading row as it was; and no request leaves a row that fails its own
validation or names no exchange or symbol.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.contrib import admin
from django.db import models, transaction
from django.forms.models import model_to_dict
from django.http import HttpResponse
from django.test import Client
from django.urls import URLPattern, reverse
from hypothesis import strategies as st

from dashboard.urls import urlpatterns
from tests.drills.conftest import (
    field_values,
    fuzz,
    garbage_texts,
    invalid_rows,
    number_texts,
    trading_rows,
)
from tests.factories import SymbolTiersFactory
from tests.shared_data import GOLDEN_SCENARIOS
from trading import services
from trading.models import AccountRisk, BotSettings, Level, Side, SymbolRisk

pytestmark = pytest.mark.django_db

EXCHANGE = "binanceusdm"
SYMBOL = "BTC/USDT:USDT"
MARKET_ID = "BTCUSDT"
METHODS = ("GET", "POST", "DELETE", "PUT", "PATCH", "HEAD", "OPTIONS")
DATA_FILE = str(GOLDEN_SCENARIOS["ethusdt_2024-08-08"])

VALID_LEVEL = {
    "level_price": "62750",
    "base_size": "0.002",
    "leverage": "10",
    "margin_type": "isolated",
    "cool_down_ms": "1000",
    "take_profit_pct": "0.01",
    "stop_loss_pct": "0.02",
    "close_on_touch": "on",
    "note": "drill",
}
VALID_TIERS = {"tier1_pct": "0.005", "tier2_pct": "0.003", "tier3_pct": "0.0015"}
VALID_JOB = {
    "exchange": EXCHANGE,
    "symbol": MARKET_ID,
    "data_files": DATA_FILE,
    "fee_rate": "0.0005",
    "slippage_bps": "1",
}


@pytest.fixture
def book(db: None) -> Level:
    """One symbol with tiers and a level, the settings row, and risk limits to edit."""
    BotSettings.load()
    SymbolTiersFactory(exchange=EXCHANGE, symbol=SYMBOL)
    SymbolRisk.objects.create(exchange=EXCHANGE, symbol=SYMBOL, max_levels=3)
    AccountRisk.objects.create(exchange=EXCHANGE)
    return services.level_create(
        exchange=EXCHANGE, symbol=SYMBOL, level_price=62750, base_size=1, leverage=10
    )


# What a request may put in the URL.


def exchanges() -> st.SearchStrategy[str]:
    known = st.sampled_from([EXCHANGE, "bybit", "okx", "Binance", "nosuch1", "1x", "a-b"])
    return st.one_of(known, garbage_texts().filter(bool))


def symbols() -> st.SearchStrategy[str]:
    known = st.sampled_from([MARKET_ID, "ETHUSDC", "btcusdt", SYMBOL, "BTC/USD:BTC", "BTC", "USDT"])
    return st.one_of(known, garbage_texts().filter(bool))


def ids(known: int) -> st.SearchStrategy[int]:
    return st.one_of(st.just(known), st.integers(min_value=0, max_value=10**30))


def mutated(valid: dict[str, str], fields: list[str] | None = None) -> st.SearchStrategy[dict]:
    """The valid form with some fields garbled or left out, and maybe a field it does not have."""
    names = sorted(set(valid) | set(fields or ()))
    changes = st.dictionaries(
        st.sampled_from(names), st.one_of(st.none(), field_values()), max_size=len(names)
    )
    extra = st.dictionaries(st.text(max_size=12), field_values(), max_size=2)

    def apply(changes: dict[str, str | None], extra: dict[str, str]) -> dict[str, str]:
        data = {**extra, **valid}
        for name, value in changes.items():
            if value is None:
                data.pop(name, None)
            else:
                data[name] = value
        return data

    return st.builds(apply, changes, extra)


def url_part(text: str) -> str:
    return quote(text, safe="")


def symbol_url(exchange: str, symbol: str, tail: str = "") -> str:
    return f"/levels/{url_part(exchange)}/{quote(symbol, safe='/:')}{tail}"


# One request, judged.


Form = dict[str, str] | list[tuple[str, str]]


def send(client: Client, method: str, url: str, data: Form, htmx: bool) -> HttpResponse:
    headers = {"HX-Request": "true"} if htmx else {}
    if method in ("GET", "HEAD"):
        return client.generic(method, f"{url}?{urlencode(data)}", headers=headers)
    return client.generic(
        method,
        url,
        urlencode(data),
        content_type="application/x-www-form-urlencoded",
        headers=headers,
    )


def tier_states_incomplete() -> list[int]:
    """Levels without exactly one tier state per side: a level saved only in part."""
    counts = models.Count("tier_states", filter=models.Q(tier_states__side__in=Side.values))
    return list(Level.objects.annotate(n=counts).exclude(n=2).values_list("pk", flat=True))


def refused(response: HttpResponse) -> bool:
    return response.status_code >= 400


def attempt(
    client: Client,
    method: str,
    url: str,
    data: Form,
    *,
    htmx: bool = False,
    refusal: Callable[[HttpResponse], bool] = refused,
) -> HttpResponse:
    """Send the request, check what it left behind, and roll it back for the next case.

    A request that `refusal` says was refused must leave every trading row as it was.
    """
    with transaction.atomic():
        before = trading_rows()
        response = send(client, method, url, data, htmx)
        after = trading_rows()
        invalid, partial = invalid_rows(), tier_states_incomplete()
        transaction.set_rollback(True)
    assert response.status_code < 500, (method, url, data)
    if refusal(response):
        assert after == before, f"{method} {url} was refused but changed the database"
    assert invalid == [], f"{method} {url} {data} saved invalid rows"
    assert partial == [], f"{method} {url} {data} saved levels without their tier state"
    return response


# Every route of the dashboard, any method, any URL parts, any data.

_CONVERTER = re.compile(r"<(?:\w+:)?(\w+)>")


def route_templates() -> list[str]:
    """Each dashboard route with its URL parts as `{name}`, from dashboard.urls itself."""
    routes = []
    for pattern in urlpatterns:
        assert isinstance(pattern, URLPattern)
        routes.append("/" + _CONVERTER.sub(r"{\1}", str(pattern.pattern)))
    return routes


def test_every_dashboard_route_is_fuzzed() -> None:
    parts = {name for route in route_templates() for name in re.findall(r"{(\w+)}", route)}
    assert len(route_templates()) == len(urlpatterns) >= 20
    assert parts == set(URL_PARTS)


URL_PARTS: dict[str, Callable[[Level], st.SearchStrategy[Any]]] = {
    "exchange": lambda level: exchanges(),
    "symbol": lambda level: symbols(),
    "level_id": lambda level: ids(level.pk),
    "run_id": lambda level: ids(1),
    "side": lambda level: st.one_of(st.sampled_from([*Side.values, "long", "BOTH"]), st.text()),
}


@fuzz(
    120,
    route=st.sampled_from(route_templates()),
    method=st.sampled_from(METHODS),
    data=st.data(),
)
def test_any_route_method_and_parts_answer_without_a_server_error(
    fuzz_client: Client, book: Level, route: str, method: str, data: st.DataObject
) -> None:
    values = {
        name: data.draw(URL_PARTS[name](book), label=name) for name in re.findall(r"{(\w+)}", route)
    }
    url = route.format(
        **{
            name: quote(str(value), safe="/:" if name == "symbol" else "")
            for name, value in values.items()
        }
    )
    query = data.draw(
        st.dictionaries(
            st.sampled_from(["symbol", "exchange", "in", "paused", "page", "x"]),
            field_values(),
            max_size=3,
        ),
        label="query or form",
    )
    response = attempt(fuzz_client, method, url, query, htmx=data.draw(st.booleans()))
    if method not in ("GET", "HEAD", "POST", "DELETE"):
        assert response.status_code in (404, 405)


# The forms, from valid data garbled field by field.


@fuzz(60, exchange=exchanges(), symbol=symbols(), form=mutated(VALID_LEVEL), htmx=st.booleans())
def test_level_form_refuses_bad_input_and_saves_nothing_of_it(
    fuzz_client: Client, book: Level, exchange: str, symbol: str, form: dict, htmx: bool
) -> None:
    before = Level.objects.count()
    response = attempt(fuzz_client, "POST", symbol_url(exchange, symbol), form, htmx=htmx)
    if form == VALID_LEVEL and exchange == EXCHANGE and symbol == MARKET_ID:
        assert not refused(response)
    if refused(response):
        assert Level.objects.count() == before


@fuzz(50, form=mutated(VALID_LEVEL), htmx=st.booleans())
def test_level_edit_refuses_bad_input_and_keeps_the_level(
    fuzz_client: Client, book: Level, form: dict, htmx: bool
) -> None:
    url = symbol_url(EXCHANGE, MARKET_ID, f"/{book.pk}/edit")
    response = attempt(fuzz_client, "POST", url, form, htmx=htmx)
    assert response.status_code in (302, 400), response.status_code
    assert Level.objects.get(pk=book.pk).level_price == book.level_price  # rolled back


@fuzz(50, exchange=exchanges(), symbol=symbols(), form=mutated(VALID_TIERS), htmx=st.booleans())
def test_tiers_form_refuses_bad_input_and_keeps_the_tiers(
    fuzz_client: Client, book: Level, exchange: str, symbol: str, form: dict, htmx: bool
) -> None:
    response = attempt(fuzz_client, "POST", symbol_url(exchange, symbol, "/tiers"), form, htmx=htmx)
    if form == VALID_TIERS and exchange == EXCHANGE and symbol == MARKET_ID:
        assert not refused(response)


@fuzz(
    40,
    form=mutated(VALID_JOB),
    paths=st.lists(
        st.one_of(
            st.sampled_from([DATA_FILE, "/", "/etc", "/nonexistent.csv", "~nosuchuser/a.csv"]),
            garbage_texts(),
        ),
        max_size=3,
    ),
    htmx=st.booleans(),
)
def test_backtest_job_form_refuses_bad_input_and_queues_nothing(
    fuzz_client: Client, book: Level, form: dict, paths: list[str], htmx: bool
) -> None:
    if paths:
        form = {**form, "data_files": "\n".join(paths)}
    attempt(fuzz_client, "POST", "/backtests/jobs", form, htmx=htmx)


@fuzz(
    40,
    exchange=exchanges(),
    symbol=symbols(),
    side=st.one_of(st.sampled_from(Side.values), st.text(max_size=8)),
    htmx=st.booleans(),
)
def test_position_close_asks_only_for_a_real_side_of_a_real_symbol(
    fuzz_client: Client, book: Level, exchange: str, symbol: str, side: str, htmx: bool
) -> None:
    url = f"/positions/{url_part(exchange)}/{quote(symbol, safe='/:')}/{url_part(side)}/close"
    attempt(fuzz_client, "POST", url, {}, htmx=htmx)


@fuzz(
    30,
    path=st.sampled_from(["/kill-switch", "/close-everything"]),
    form=mutated({"paused": "1"}),
    htmx=st.booleans(),
)
def test_kill_switch_and_close_everything_take_any_form(
    fuzz_client: Client, book: Level, path: str, form: dict, htmx: bool
) -> None:
    response = attempt(fuzz_client, "POST", path, form, htmx=htmx)
    assert not refused(response)


# Every admin add and change form.

ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def admin_url(model: type[models.Model], view: str, *args: Any) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


def admin_baseline(model: type[models.Model]) -> tuple[str | None, dict[str, str]]:
    """The pk of a row of the model (None when there is none) and its fields as form data."""
    row = model._default_manager.order_by("pk").first()
    if row is None:
        return None, {}
    data = {}
    for name, value in model_to_dict(row).items():
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is not None and not isinstance(value, list | dict):
            data[name] = str(value)
    return str(row.pk), data


@fuzz(
    100,
    registered=st.sampled_from(ADMINS),
    view=st.sampled_from(["add", "change"]),
    data=st.data(),
)
def test_admin_forms_refuse_bad_input_and_save_nothing_partial(
    fuzz_client: Client,
    book: Level,
    registered: tuple[type[models.Model], admin.ModelAdmin],
    view: str,
    data: st.DataObject,
) -> None:
    model, _ = registered
    pk, baseline = admin_baseline(model)
    names = [field.name for field in model._meta.concrete_fields]
    form = data.draw(mutated(baseline, names), label="form")
    if model is Level:
        form.update(data.draw(st.dictionaries(inline_management(), field_values(), max_size=2)))
    url = admin_url(model, "add") if view == "add" or pk is None else admin_url(model, "change", pk)
    # Anything but the redirect that follows a save is a refusal: the form again, or a 403.
    response = attempt(fuzz_client, "POST", url, form, refusal=lambda r: r.status_code != 302)
    assert response.status_code in (200, 302, 403), response.status_code
    if response.status_code == 200:  # the form again, with what to fix
        assert b"errornote" in response.content or b"errorlist" in response.content


def inline_management() -> st.SearchStrategy[str]:
    return st.sampled_from(
        [f"tier_states-{key}" for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MAX_NUM_FORMS")]
    )


@fuzz(
    40,
    registered=st.sampled_from(ADMINS),
    selected=st.lists(st.one_of(number_texts(), st.text(max_size=20)), max_size=4),
    confirm=st.booleans(),
    data=st.data(),
)
def test_admin_actions_take_any_selection(
    fuzz_client: Client,
    book: Level,
    registered: tuple[type[models.Model], admin.ModelAdmin],
    selected: list[str],
    confirm: bool,
    data: st.DataObject,
) -> None:
    model, model_admin = registered
    known = [str(name) for name in model_admin.actions or ()]
    action = data.draw(st.one_of(st.sampled_from([*known, "delete_selected"]), st.text()))
    form = [("action", action), ("index", "0"), *(("_selected_action", pk) for pk in selected)]
    if confirm:
        form.append(("post", "yes"))
    response = attempt(fuzz_client, "POST", admin_url(model, "changelist"), form)
    assert response.status_code in (200, 302, 403), response.status_code
