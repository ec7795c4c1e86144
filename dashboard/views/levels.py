"""Levels and tiers pages (spec 13.3, 14): overview, one exchange, one symbol, and its actions.

Every write goes through trading.services; an htmx request gets the partial it swaps in, a plain
form post a redirect (or the page with the errors, status 400).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms import BaseForm
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from dashboard.charts import LevelLine, price_svg
from dashboard.decorators import staff_required
from dashboard.forms import LevelForm, SymbolPickForm, TiersForm
from dashboard.http import HtmxHttpRequest, render_page
from dashboard.live import socket_url
from dashboard.panels import ON_EXCHANGE_PAGE, SymbolPanel
from dashboard.symbols import UnknownSymbol, unified_symbol
from trading import selectors, services
from trading.models import Level, Side, SymbolTiers
from trading.validators import validate_exchange_id

PAGE = "dashboard/levels_symbol.html"
EVENTS_SHOWN = 100
CHART_WINDOW = timedelta(hours=1)


def _exchange_or_404(exchange: str) -> str:
    try:
        validate_exchange_id(exchange)
    except ValidationError:
        raise Http404(
            f"{exchange} is not an exchange id: use the exchange's ccxt id in lowercase, "
            "such as bybit, binanceusdm or okx."
        ) from None
    return exchange


def _panel(request: HtmxHttpRequest, exchange: str, symbol: str) -> SymbolPanel:
    """The panel named by the URL; a 404 that says what to type for a symbol it cannot read."""
    try:
        unified = unified_symbol(symbol)
    except UnknownSymbol as e:
        raise Http404(str(e)) from None
    on_exchange_page = request.GET.get("in") == ON_EXCHANGE_PAGE
    return SymbolPanel(_exchange_or_404(exchange), unified, on_exchange_page)


def _level_or_404(panel: SymbolPanel, level_id: int) -> Level:
    level = selectors.level_get_for_symbol(
        exchange=panel.exchange, symbol=panel.symbol, level_id=level_id
    )
    if level is None:
        raise Http404(f"{panel.exchange} {panel.symbol} has no level {level_id}.")
    return level


def _price_chart(panel: SymbolPanel, levels: list[Level], tiers: SymbolTiers | None) -> SafeString:
    """The symbol's recent prices, its levels with their tier bands, and its fills."""
    history = selectors.price_history_get(
        exchange=panel.exchange, symbol=panel.symbol, since=CHART_WINDOW
    )
    lines = []
    for level in levels:
        boundaries = selectors.tier_boundaries(level, tiers)
        lines.append(
            LevelLine(
                float(level.level_price),
                above=boundaries[Side.SHORT],
                below=boundaries[Side.LONG],
                active=level.is_active,
            )
        )
    return price_svg(history.prices, levels=lines, trades=history.trades)


def levels_table_context(panel: SymbolPanel) -> dict[str, Any]:
    """The levels table; on the symbol page, the price chart too, refreshed with it, and the
    live socket that keeps both current where there is live push."""
    tiers = selectors.symbol_tiers_get(exchange=panel.exchange, symbol=panel.symbol)
    levels = selectors.level_list_for_symbol(exchange=panel.exchange, symbol=panel.symbol)
    context: dict[str, Any] = {"panel": panel, "tiers": tiers, "levels": levels}
    if not panel.on_exchange_page:
        context["chart"] = _price_chart(panel, levels, tiers)
        context["live_url"] = socket_url("levels", exchange=panel.exchange, symbol=panel.symbol)
    return context


def _panel_context(
    panel: SymbolPanel,
    *,
    level_form: LevelForm | None = None,
    tiers_form: TiersForm | None = None,
) -> dict[str, Any]:
    """Everything one panel shows: tiers widget, level form and levels table."""
    context = levels_table_context(panel)
    symbol = {"exchange": panel.exchange, "symbol": panel.symbol}
    context["level_form"] = level_form or LevelForm(**symbol, auto_id=panel.auto_id)
    context["tiers_form"] = tiers_form or TiersForm(
        **symbol, tiers=context["tiers"], auto_id=panel.auto_id
    )
    return context


def _saved(form: BaseForm, service: Callable[..., object], **fields: str) -> bool:
    """Validate the form, then write its data and `fields` through the service.

    The service validates again, inside its transaction; what it refuses is shown beside its
    field, or above the form for a field the form does not have.
    """
    if not form.is_valid():
        return False
    try:
        service(**fields, **form.cleaned_data)
    except ValidationError as error:
        if not hasattr(error, "error_dict"):
            form.add_error(None, error)
            return False
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
        return False
    return True


def _table(request: HtmxHttpRequest, panel: SymbolPanel) -> HttpResponse:
    return render(request, f"{PAGE}#levels-table", levels_table_context(panel))


@require_GET
@staff_required
def overview(request: HtmxHttpRequest) -> HttpResponse:
    """Every exchange and symbol with its levels and tiers; the form opens a symbol's page."""
    pick = SymbolPickForm(request.GET or None)
    if pick.is_bound and pick.is_valid():
        return redirect(SymbolPanel(**pick.cleaned_data).page_url)
    context = {"symbols": selectors.symbol_overview_list(), "pick": pick}
    status = 400 if pick.is_bound else 200
    return render_page(
        request, "dashboard/levels_overview.html", context, partial="overview", status=status
    )


@require_GET
@staff_required
def exchange_page(request: HtmxHttpRequest, exchange: str) -> HttpResponse:
    """The tiers widget, level form and levels table of each symbol of one exchange."""
    exchange = _exchange_or_404(exchange)
    panels = [
        _panel_context(SymbolPanel(exchange, overview.symbol, on_exchange_page=True))
        for overview in selectors.symbol_overview_list(exchange=exchange)
    ]
    context = {
        "exchange": exchange,
        "panels": panels,
        "pick": SymbolPickForm(initial={"exchange": exchange}),
    }
    return render_page(request, "dashboard/levels_exchange.html", context, partial="panels")


@require_http_methods(["GET", "POST"])
@staff_required
def symbol_page(request: HtmxHttpRequest, exchange: str, symbol: str) -> HttpResponse:
    """GET: the symbol's tiers, level form and levels. POST: add a level (spec 13.1)."""
    panel = _panel(request, exchange, symbol)
    if request.method == "GET":
        return render_page(request, PAGE, _panel_context(panel), partial="symbol-panel")
    form = LevelForm(
        request.POST, exchange=panel.exchange, symbol=panel.symbol, auto_id=panel.auto_id
    )
    if _saved(form, services.level_create, exchange=panel.exchange, symbol=panel.symbol):
        if not request.htmx:
            return redirect(panel.home_url)
        # The new table, and a blank form swapped out of band in place of the one just sent.
        return render(request, f"{PAGE}#level-added", _panel_context(panel))
    if not request.htmx:
        return render(request, PAGE, _panel_context(panel, level_form=form), status=400)
    response = render(
        request, f"{PAGE}#level-form", {"panel": panel, "level_form": form}, status=422
    )
    # The form posts into the table; its errors belong in the form.
    return reswap(retarget(response, f"#{panel.form_id}"), "outerHTML")


@require_GET
@staff_required
def table(request: HtmxHttpRequest, exchange: str, symbol: str) -> HttpResponse:
    """The levels table alone, polled every 2 s."""
    return _table(request, _panel(request, exchange, symbol))


@require_POST
@staff_required
def tiers(request: HtmxHttpRequest, exchange: str, symbol: str) -> HttpResponse:
    """Set the symbol's tiers; on success the widget, and the levels table out of band."""
    panel = _panel(request, exchange, symbol)
    current = selectors.symbol_tiers_get(exchange=panel.exchange, symbol=panel.symbol)
    form = TiersForm(
        request.POST,
        exchange=panel.exchange,
        symbol=panel.symbol,
        tiers=current,
        auto_id=panel.auto_id,
    )
    if _saved(form, services.symbol_tiers_set, exchange=panel.exchange, symbol=panel.symbol):
        if not request.htmx:
            return redirect(panel.home_url)
        return render(request, f"{PAGE}#tiers-saved", {**_panel_context(panel), "saved": True})
    if not request.htmx:
        return render(request, PAGE, _panel_context(panel, tiers_form=form), status=400)
    context = {"panel": panel, "tiers": current, "tiers_form": form}
    return render(request, f"{PAGE}#tiers-widget", context, status=422)


@require_http_methods(["DELETE"])
@staff_required
def delete(request: HtmxHttpRequest, exchange: str, symbol: str, level_id: int) -> HttpResponse:
    """Delete a level and its tier state (spec 14.4); answers with the refreshed table."""
    panel = _panel(request, exchange, symbol)
    services.level_delete(level=_level_or_404(panel, level_id))
    return _table(request, panel)


@require_http_methods(["GET", "POST"])
@staff_required
def edit(request: HtmxHttpRequest, exchange: str, symbol: str, level_id: int) -> HttpResponse:
    """Edit a level: a new price resets its tier state, any other change keeps it."""
    panel = _panel(request, exchange, symbol)
    level = _level_or_404(panel, level_id)
    price_before = level.level_price
    form = LevelForm(
        request.POST if request.method == "POST" else None,
        exchange=panel.exchange,
        symbol=panel.symbol,
        instance=level,
    )
    if request.method == "POST":
        outcome: dict[str, bool] = {}

        def update(**fields: Any) -> None:
            outcome["reset"] = services.level_update(level=level, **fields)

        if _saved(form, update):
            if outcome["reset"]:
                note = (
                    "its price changed, so its tier state was reset: no tier fired, nothing filled."
                )
            else:
                note = "its tier state is kept: fired tiers stay fired."
            messages.success(request, f"Level {level.pk} saved; {note}")
            return redirect(panel.home_url)
    context = {"panel": panel, "level": level, "form": form, "price_before": price_before}
    status = 400 if form.is_bound else 200
    return render(request, "dashboard/level_edit.html", context, status=status)


def _set_active(
    request: HtmxHttpRequest, exchange: str, symbol: str, level_id: int, *, is_active: bool
) -> HttpResponse:
    panel = _panel(request, exchange, symbol)
    services.level_set_active(level=_level_or_404(panel, level_id), is_active=is_active)
    if not request.htmx:
        return redirect(panel.home_url)
    return _table(request, panel)


@require_POST
@staff_required
def pause(request: HtmxHttpRequest, exchange: str, symbol: str, level_id: int) -> HttpResponse:
    """Pause a level: it fires no tiers, and keeps its tier state."""
    return _set_active(request, exchange, symbol, level_id, is_active=False)


@require_POST
@staff_required
def resume(request: HtmxHttpRequest, exchange: str, symbol: str, level_id: int) -> HttpResponse:
    """Resume a paused level."""
    return _set_active(request, exchange, symbol, level_id, is_active=True)


@require_GET
@staff_required
def events(request: HtmxHttpRequest, exchange: str, symbol: str, level_id: int) -> HttpResponse:
    """Why a level's tiers fired or not: its tier state and its latest events, newest first."""
    panel = _panel(request, exchange, symbol)
    level = _level_or_404(panel, level_id)
    context = {
        "panel": panel,
        "level": level,
        "sides": selectors.level_side_list(level=level),
        "events": selectors.level_event_list(level=level, limit=EVENTS_SHOWN),
        "limit": EVENTS_SHOWN,
    }
    return render_page(request, "dashboard/level_events.html", context, partial="level-events")
