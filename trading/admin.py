"""Admin for levels, tiers, trades, bot sessions and bot settings.

A level is not edited in place (spec 14.1): its trading fields are read-only once it exists, and a
change means deleting it and adding a new one. Pausing, resuming and resetting go through the
services, as they do from the dashboard.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.forms import ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import ngettext

from trading import services
from trading.models import (
    AccountRisk,
    BacktestJob,
    BacktestRun,
    BotSession,
    BotSettings,
    CloseRequest,
    FeedStatus,
    FundingPayment,
    Installation,
    Level,
    LevelEvent,
    Market,
    PaperFill,
    PaperPosition,
    SymbolRisk,
    SymbolTiers,
    TierState,
    Trade,
)

LEVEL_TRADING_FIELDS = (
    "exchange",
    "symbol",
    "level_price",
    "base_size",
    "leverage",
    "margin_type",
    "cool_down_ms",
    "take_profit_pct",
    "stop_loss_pct",
    "close_on_touch",
    "source",
)
LEVEL_EDITABLE_FIELDS = ("is_active", "note")
LEVEL_RUNTIME_FIELDS = ("last_trigger_ms", "created_at")


def adopt(target: Model, saved: Model) -> None:
    """Make the admin's unsaved `target` stand for the row a service saved as `saved`."""
    target.pk = saved.pk
    target.refresh_from_db()
    target._state.adding = False


class SelectionChecked:
    """Admin actions refuse, with a message, a selection that holds no row ids."""

    model: type[Model]

    def response_action(self, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        # Only a hand-made post selects such rows; Django would answer it with a server error.
        pk = self.model._meta.pk
        assert pk is not None
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                pk.to_python(value)
        except ValidationError:
            self.message_user(
                request,
                "Select the rows again: the selection sent holds no row ids.",
                messages.ERROR,
            )
            return HttpResponseRedirect(request.get_full_path())
        return super().response_action(request, queryset)


class TradingAdmin(SelectionChecked, admin.ModelAdmin):
    """The admin of levelbot's models."""


# The site's other admins, Django's users and groups, get the same check.
class CheckedUserAdmin(SelectionChecked, UserAdmin):
    pass


class CheckedGroupAdmin(SelectionChecked, GroupAdmin):
    pass


for _model, _model_admin in ((User, CheckedUserAdmin), (Group, CheckedGroupAdmin)):
    admin.site.unregister(_model)
    admin.site.register(_model, _model_admin)


class ReadOnlyAdminMixin:
    """History and runtime records: looked at in the admin, written only by the bot."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class TierStateInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TierState
    fields = ("side", "fired_tiers", "filled_size", "cycle", "updated_at")
    readonly_fields = fields
    extra = 0


@admin.register(Level)
class LevelAdmin(TradingAdmin):
    list_display = (
        "__str__",
        "exchange",
        "symbol",
        "level_price",
        "base_size",
        "leverage",
        "margin_type",
        "cool_down_ms",
        "is_active",
        "source",
        "created_at",
    )
    list_filter = ("exchange", "symbol", "is_active", "margin_type")
    search_fields = ("symbol", "exchange", "note", "source")
    actions = ("pause", "resume", "reset_tier_state")

    def get_fields(self, request: HttpRequest, obj: Level | None = None) -> tuple[str, ...]:
        if obj is None:
            return (*LEVEL_TRADING_FIELDS, *LEVEL_EDITABLE_FIELDS)
        return (*LEVEL_TRADING_FIELDS, *LEVEL_EDITABLE_FIELDS, *LEVEL_RUNTIME_FIELDS)

    def get_readonly_fields(
        self, request: HttpRequest, obj: Level | None = None
    ) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("exchange", "symbol", "source", *LEVEL_RUNTIME_FIELDS)

    def get_inlines(self, request: HttpRequest, obj: Level | None) -> list[type[Any]]:
        return [TierStateInline] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: Level, form: ModelForm, change: bool) -> None:
        if change:
            # Write only what this page edits, never runtime state the bot may have just written;
            # a new price resets the level's tier state (services.level_update says why).
            changes = {
                name: form.cleaned_data[name]
                for name in form.changed_data
                if name in services.LEVEL_EDITABLE
            }
            if changes and services.level_update(level=obj, **changes):
                self.message_user(
                    request,
                    "The price changed, so this level's tier state was reset.",
                    messages.WARNING,
                )
            if "is_active" in form.changed_data:
                services.level_set_active(level=obj, is_active=obj.is_active)
            return
        fields = (*LEVEL_TRADING_FIELDS, *LEVEL_EDITABLE_FIELDS)
        adopt(obj, services.level_create(**{name: form.cleaned_data[name] for name in fields}))

    def delete_model(self, request: HttpRequest, obj: Level) -> None:
        services.level_delete(level=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Level]) -> None:
        for level in queryset:
            services.level_delete(level=level)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # Tier state belongs to its level and has no delete permission of its own to ask for.
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed.discard(TierState._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    @admin.action(description="Pause selected levels", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Level]) -> None:
        count = self._set_active(queryset, is_active=False)
        self._report(request, ngettext("Paused %d level.", "Paused %d levels.", count) % count)

    @admin.action(description="Resume selected levels", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Level]) -> None:
        count = self._set_active(queryset, is_active=True)
        self._report(request, ngettext("Resumed %d level.", "Resumed %d levels.", count) % count)

    @admin.action(description="Reset tier state of selected levels", permissions=["change"])
    def reset_tier_state(self, request: HttpRequest, queryset: QuerySet[Level]) -> None:
        levels = list(queryset)
        for level in levels:
            services.level_reset_tier_state(level=level)
        message = ngettext(
            "Reset the tier state of %d level.", "Reset the tier state of %d levels.", len(levels)
        )
        self._report(request, message % len(levels))

    @staticmethod
    def _set_active(queryset: QuerySet[Level], *, is_active: bool) -> int:
        levels = list(queryset)
        for level in levels:
            services.level_set_active(level=level, is_active=is_active)
        return len(levels)

    def _report(self, request: HttpRequest, message: str) -> None:
        self.message_user(request, message, messages.SUCCESS)


@admin.register(SymbolTiers)
class SymbolTiersAdmin(TradingAdmin):
    list_display = ("exchange", "symbol", "tier1_pct", "tier2_pct", "tier3_pct", "updated_at")
    list_filter = ("exchange",)
    search_fields = ("exchange", "symbol")
    fields = ("exchange", "symbol", "tier1_pct", "tier2_pct", "tier3_pct", "levels", "updated_at")

    def get_readonly_fields(
        self, request: HttpRequest, obj: SymbolTiers | None = None
    ) -> tuple[str, ...]:
        # Tiers belong to their symbol: tiers for another symbol are added, not moved.
        if obj is None:
            return ("levels", "updated_at")
        return ("exchange", "symbol", "levels", "updated_at")

    def save_model(
        self, request: HttpRequest, obj: SymbolTiers, form: ModelForm, change: bool
    ) -> None:
        adopt(
            obj,
            services.symbol_tiers_set(
                exchange=obj.exchange,
                symbol=obj.symbol,
                tier1_pct=obj.tier1_pct,
                tier2_pct=obj.tier2_pct,
                tier3_pct=obj.tier3_pct,
            ),
        )

    @admin.display(description="levels on this symbol")
    def levels(self, obj: SymbolTiers) -> SafeString | str:
        if obj.pk is None:
            return "Shown once the tiers are saved."
        levels = Level.objects.filter(exchange=obj.exchange, symbol=obj.symbol)
        query = urlencode({"exchange": obj.exchange, "symbol": obj.symbol})
        add_link = format_html(
            '<a href="{}?{}">Add a level on this symbol</a>',
            reverse("admin:trading_level_add"),
            query,
        )
        if not levels:
            return format_html("No levels on this symbol yet. {}", add_link)
        rows = format_html_join(
            "",
            '<li><a href="{}">{}</a>{}</li>',
            (
                (
                    reverse("admin:trading_level_change", args=[level.pk]),
                    str(level),
                    "" if level.is_active else " (paused)",
                )
                for level in levels
            ),
        )
        list_link = format_html(
            '<a href="{}?{}">Open them in the level list</a>',
            reverse("admin:trading_level_changelist"),
            query,
        )
        return format_html("<ul>{}</ul>{} · {}", rows, list_link, add_link)


@admin.register(TierState)
class TierStateAdmin(ReadOnlyAdminMixin, TradingAdmin):
    list_display = ("level", "side", "fired_tiers", "filled_size", "cycle", "updated_at")
    list_filter = ("side", "level__exchange", "level__symbol")
    list_select_related = ("level",)


@admin.register(FundingPayment)
class FundingPaymentAdmin(ReadOnlyAdminMixin, TradingAdmin):
    list_display = ("paid_at", "exchange", "symbol", "side", "amount", "rate")
    list_filter = ("exchange", "symbol", "side")
    search_fields = ("settlement_id", "symbol")
    date_hierarchy = "paid_at"


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdminMixin, TradingAdmin):
    list_display = (
        "created_at",
        "exchange",
        "symbol",
        "level_key",
        "side",
        "action",
        "tiers",
        "size",
        "price",
        "fee",
        "reason",
        "status",
    )
    list_filter = ("exchange", "symbol", "side", "action", "reason", "status")
    search_fields = ("client_order_id", "exchange_order_id", "level_key", "symbol")
    date_hierarchy = "created_at"


@admin.register(SymbolRisk)
class SymbolRiskAdmin(TradingAdmin):
    list_display = (
        "exchange",
        "symbol",
        "max_position",
        "max_notional",
        "max_levels",
        "min_liquidation_distance",
    )
    list_filter = ("exchange",)
    search_fields = ("exchange", "symbol")


@admin.register(AccountRisk)
class AccountRiskAdmin(TradingAdmin):
    list_display = ("exchange", "daily_loss_limit", "updated_at")


@admin.register(BotSession)
class BotSessionAdmin(ReadOnlyAdminMixin, TradingAdmin):
    list_display = ("id", "hostname", "pid", "started_at", "heartbeat_at", "stopped_at", "alive")
    list_per_page = 50

    @admin.display(boolean=True, description="alive")
    def alive(self, obj: BotSession) -> bool:
        return obj.is_alive(BotSettings.load().heartbeat_timeout_s)


@admin.register(BotSettings)
class BotSettingsAdmin(TradingAdmin):
    fieldsets = (
        ("Kill switch", {"fields": ("entries_paused",)}),
        (
            "Settings",
            {
                "fields": (
                    "levels_reload_ms",
                    "sentiment_enabled",
                    "sentiment_window_s",
                    "sentiment_threshold",
                    "heartbeat_timeout_s",
                    "paper_fee_rate",
                    "paper_slippage_bps",
                )
            },
        ),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: BotSettings | None = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # There is one row: the list would only ever hold it, so go straight to it.
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        row = BotSettings.load()
        return HttpResponseRedirect(reverse("admin:trading_botsettings_change", args=[row.pk]))


# What the bot writes as it runs, and what backtests saved: to read, never to edit by hand.


@admin.register(PaperPosition)
class PaperPositionAdmin(ReadOnlyAdminMixin, TradingAdmin):
    list_display = ("exchange", "symbol", "side", "size", "entry_price", "realized_pnl", "fees")
    list_filter = ("exchange", "side")
    actions = ["close_sides"]

    @admin.action(description="Close the selected sides now (the bot sends a reduce-only order)")
    def close_sides(self, request: HttpRequest, queryset: QuerySet[PaperPosition]) -> None:
        count = 0
        for position in queryset.filter(size__gt=0):
            services.position_close_request(
                exchange=position.exchange,
                symbol=position.symbol,
                side=position.side,
                requested_by=request.user.get_username(),
            )
            count += 1
        self.message_user(
            request,
            f"{count} close request{'s' if count != 1 else ''} sent to the bot; "
            "the positions page shows the outcome.",
        )


@admin.register(CloseRequest)
class CloseRequestAdmin(ReadOnlyAdminMixin, TradingAdmin):
    list_display = ("created_at", "exchange", "symbol", "side", "status", "requested_by", "detail")
    list_filter = ("status", "exchange", "side")


@admin.register(Market)
class MarketAdmin(ReadOnlyAdminMixin, TradingAdmin):
    list_display = (
        "exchange",
        "symbol",
        "market_id",
        "amount_step",
        "min_amount",
        "min_notional",
        "contract_size",
        "max_leverage",
        "updated_at",
    )
    list_filter = ("exchange",)
    search_fields = ("symbol", "market_id")


@admin.register(PaperFill)
class PaperFillAdmin(ReadOnlyAdminMixin, TradingAdmin):
    list_display = ("created_at", "client_order_id", "symbol", "side", "action", "size", "price")
    list_filter = ("exchange", "side", "action")
    search_fields = ("client_order_id", "symbol")


@admin.register(FeedStatus)
class FeedStatusAdmin(ReadOnlyAdminMixin, TradingAdmin):
    list_display = ("exchange", "symbol", "feed", "state", "last_message_at", "last_price")


@admin.register(LevelEvent)
class LevelEventAdmin(ReadOnlyAdminMixin, TradingAdmin):
    list_display = ("created_at", "level_key", "symbol", "kind", "side", "tiers", "reason")
    list_filter = ("kind", "reason", "exchange")
    search_fields = ("level_key", "symbol", "detail")


@admin.register(BacktestRun)
class BacktestRunAdmin(TradingAdmin):
    """Saved runs are read here and may be deleted; they are never edited."""

    list_display = ("created_at", "exchange", "symbol", "candles", "orders_truncated")
    list_filter = ("exchange",)
    exclude = ("orders", "equity_curve")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Installation)
class InstallationAdmin(ReadOnlyAdminMixin, TradingAdmin):
    list_display = ("order_prefix", "created_at")


@admin.register(BacktestJob)
class BacktestJobAdmin(ReadOnlyAdminMixin, TradingAdmin):
    """Backtests started from the dashboard: written only by their worker."""

    list_display = ("created_at", "exchange", "symbol", "status", "progress", "run", "requested_by")
    list_filter = ("status", "exchange")
    search_fields = ("symbol", "error")
