"""The routes of spec 13.1, without trailing slashes; `{symbol}` is the market id (BTCUSDT)."""

from django.urls import path, register_converter

from dashboard.symbols import SymbolConverter
from dashboard.views import backtests, home, levels, positions, status, trades

app_name = "dashboard"

register_converter(SymbolConverter, "symbol")

# The routes under a symbol come before the symbol page: a unified symbol in a URL holds a
# slash, and the symbol page must not take `BTCUSDT/table` for one.
urlpatterns = [
    path("", home.index, name="index"),
    path("levels", levels.overview, name="levels"),
    path("levels/<str:exchange>/<symbol:symbol>/table", levels.table, name="levels-table"),
    path("levels/<str:exchange>/<symbol:symbol>/tiers", levels.tiers, name="tiers"),
    path(
        "levels/<str:exchange>/<symbol:symbol>/<int:level_id>/pause",
        levels.pause,
        name="level-pause",
    ),
    path(
        "levels/<str:exchange>/<symbol:symbol>/<int:level_id>/resume",
        levels.resume,
        name="level-resume",
    ),
    path(
        "levels/<str:exchange>/<symbol:symbol>/<int:level_id>/edit",
        levels.edit,
        name="level-edit",
    ),
    path(
        "levels/<str:exchange>/<symbol:symbol>/<int:level_id>/events",
        levels.events,
        name="level-events",
    ),
    path(
        "levels/<str:exchange>/<symbol:symbol>/<int:level_id>", levels.delete, name="level-delete"
    ),
    path("levels/<str:exchange>/<symbol:symbol>", levels.symbol_page, name="symbol"),
    path("levels/<str:exchange>", levels.exchange_page, name="exchange"),
    path("positions", positions.position_list, name="positions"),
    path(
        "positions/<str:exchange>/<symbol:symbol>/<str:side>/close",
        positions.close,
        name="position-close",
    ),
    path("trades", trades.trade_list, name="trades"),
    path("status", status.status, name="status"),
    path("kill-switch", status.kill_switch, name="kill-switch"),
    path("close-everything", status.close_everything, name="close-everything"),
    path("backtests", backtests.run_list, name="backtests"),
    path("backtests/jobs", backtests.jobs, name="backtest-jobs"),
    path("backtests/<int:run_id>", backtests.run_detail, name="backtest"),
]
