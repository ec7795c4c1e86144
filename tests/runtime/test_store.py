"""The order path's own SQL: the rows it writes are the ones the ORM wrote, here and on
PostgreSQL."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from tests.postgres import running_postgres
from tests.test_settings import manage
from trading.engine import LONG, SHORT, LevelState, OrderIntent, SideState
from trading.models import Level, TierState, Trade
from trading.numbers import decimal_of
from trading.runtime import sqlrows, store
from trading.runtime.journal import Decisions
from trading.services import level_create, level_delete

pytestmark = pytest.mark.django_db

EXCHANGE, SYMBOL = "bybit", "ETH/USDT:USDT"


def make_level(price: str) -> Level:
    return level_create(
        exchange=EXCHANGE,
        symbol=SYMBOL,
        level_price=Decimal(price),
        base_size=Decimal("0.5"),
        leverage=5,
        cool_down_ms=0,
    )


def stored(table: str, where: str, *params: object) -> list[dict[str, object]]:
    """Rows as the database holds them, through the driver alone."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY id", params)
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def without(row: dict[str, object], *names: str) -> dict[str, object]:
    return {k: v for k, v in row.items() if k not in names}


def test_intents_are_stored_as_the_orm_stores_them():
    level = make_level("200")
    entry = OrderIntent(1000, level.pk, SHORT, "add", (2, 3), 1.5, 203.25, "tier", 4)
    close = OrderIntent(2000, None, LONG, "close", (), 0.75, 199.5, "sentiment_exit", 1)
    fired = LevelState(1000, SideState(), SideState((1, 2, 3), 2.0, 4))
    before = timezone.now()
    cids = ["tst001E1S641", "tst001C1L1X"]
    orders = [(entry, cids[0]), (close, cids[1])]
    store.record_decisions(Decisions(EXCHANGE, SYMBOL, {level.pk: fired}, orders))
    after = timezone.now()
    # The same intents through the ORM, as record_decisions wrote them before.
    reference = Trade.objects.bulk_create(
        Trade(
            exchange=EXCHANGE,
            symbol=SYMBOL,
            level_id=o.level_id,
            level_key="" if o.level_id is None else str(o.level_id),
            side=o.side,
            action=o.action,
            tiers=list(o.tiers),
            size=decimal_of(o.size),
            tick_price=decimal_of(o.price),
            reason=o.reason,
            client_order_id=f"ref{i}",
            event_ts_ms=o.ts,
        )
        for i, o in enumerate((entry, close))
    )

    unique = ("id", "client_order_id", "created_at", "updated_at")
    for mine, theirs in zip(cids, reference, strict=True):
        assert without(stored("trading_trade", "client_order_id = %s", mine)[0], *unique) == (
            without(stored("trading_trade", "id = %s", theirs.pk)[0], *unique)
        )
    trades = list(Trade.objects.filter(client_order_id__in=cids).order_by("id"))
    assert [t.client_order_id for t in trades] == ["tst001E1S641", "tst001C1L1X"]
    first = trades[0]
    assert (first.level_id, first.level_key, first.tiers, first.size, first.tick_price) == (
        level.pk,
        str(level.pk),
        [2, 3],
        Decimal("1.5"),
        Decimal("203.25"),
    )
    assert (first.status, first.fee, first.price, first.exchange_order_id) == (
        "intent",
        Decimal(0),
        None,
        "",
    )
    assert before <= first.created_at <= first.updated_at <= after
    for trade in trades:
        trade.full_clean()


def test_tier_state_upsert_stores_what_the_orm_stored():
    mine, theirs = make_level("200"), make_level("300")
    state = LevelState(5000, SideState((1, 2), 1.0, 3), SideState((1,), 0.5, 0))
    before = timezone.now()
    store.save_states({mine.pk: state})  # the rows exist: an update
    TierState.objects.filter(level=mine).delete()
    store.save_states({mine.pk: state})  # and again as an insert
    # The same state through the ORM, as save_states wrote it before.
    TierState.objects.bulk_create(
        [
            TierState(
                level=theirs,
                side=side,
                fired_tiers=list(state.side(side).fired),
                filled_size=decimal_of(state.side(side).filled),
                cycle=state.side(side).cycle,
                updated_at=timezone.now(),
            )
            for side in (LONG, SHORT)
        ],
        update_conflicts=True,
        unique_fields=["level", "side"],
        update_fields=["fired_tiers", "filled_size", "cycle", "updated_at"],
    )

    unique = ("id", "level_id", "updated_at")
    assert [without(r, *unique) for r in stored("trading_tierstate", "level_id = %s", mine.pk)] == [
        without(r, *unique) for r in stored("trading_tierstate", "level_id = %s", theirs.pk)
    ]
    rows = {s.side: s for s in TierState.objects.filter(level=mine)}
    assert (rows[LONG].fired_tiers, rows[LONG].filled_size, rows[LONG].cycle) == (
        [1, 2],
        Decimal("1"),
        3,
    )
    assert (rows[SHORT].fired_tiers, rows[SHORT].filled_size, rows[SHORT].cycle) == (
        [1],
        Decimal("0.5"),
        0,
    )
    assert all(before <= row.updated_at <= timezone.now() for row in rows.values())
    assert Level.objects.get(pk=mine.pk).last_trigger_ms == 5000


def test_tier_states_of_more_levels_than_one_statement_takes_are_all_written():
    levels = [make_level(str(100 + i)) for i in range(sqlrows.ROWS_PER_STATEMENT + 50)]
    states = {
        level.pk: LevelState(
            None if i % 3 == 0 else 1000 + i, SideState((1,), 0.5, i), SideState((), 0.0, 2 * i)
        )
        for i, level in enumerate(levels)
    }
    store.save_states(states)
    written = {
        (row.level_id, row.side): (row.fired_tiers, row.cycle) for row in TierState.objects.all()
    }
    assert written == {
        (pk, side): (list(state.side(side).fired), state.side(side).cycle)
        for pk, state in states.items()
        for side in (LONG, SHORT)
    }
    triggers = dict(Level.objects.values_list("pk", "last_trigger_ms"))
    assert triggers == {pk: state.last_trigger_ms for pk, state in states.items()}


def test_a_level_deleted_since_the_decision_is_skipped_and_its_trade_keeps_its_key():
    kept, deleted = make_level("200"), make_level("300")
    gone = deleted.pk
    level_delete(level=deleted)
    fired = LevelState(7000, SideState((1,), 0.5, 0), SideState())
    orders = [
        (OrderIntent(7000, kept.pk, LONG, "open", (1,), 0.5, 196.0, "tier", 0), "tst001E1L10"),
        (OrderIntent(7000, gone, LONG, "open", (1,), 0.5, 294.0, "tier", 0), "tst001E2L10"),
    ]
    store.record_decisions(Decisions(EXCHANGE, SYMBOL, {kept.pk: fired, gone: fired}, orders))
    trades = [Trade.objects.get(client_order_id=cid) for _, cid in orders]
    assert [(t.level_id, t.level_key) for t in trades] == [
        (kept.pk, str(kept.pk)),
        (None, str(gone)),
    ]
    assert not TierState.objects.filter(level_id=gone).exists()
    assert TierState.objects.get(level=kept, side=LONG).fired_tiers == [1]


POSTGRES_PROBE = """
import json
from decimal import Decimal
from trading.engine import LevelState, OrderIntent, SideState
from trading.models import Level, TierState, Trade
from trading.runtime import store
from trading.runtime.journal import Decisions
from trading.services import level_create
level = level_create(exchange="bybit", symbol="ETH/USDT:USDT", level_price=Decimal("200"),
                     base_size=Decimal("0.5"), leverage=5, cool_down_ms=0)
state = LevelState(1000, SideState(), SideState((1, 2), 1.0, 2))
other = level_create(exchange="bybit", symbol="ETH/USDT:USDT", level_price=Decimal("300"),
                     base_size=Decimal("0.5"), leverage=5, cool_down_ms=0)
store.save_states({other.pk: LevelState(None, SideState((1,), 0.5, 1), SideState())})
entry = OrderIntent(1000, level.pk, "SHORT", "add", (2,), 0.5, 203.5, "tier", 2)
close = OrderIntent(1000, None, "LONG", "close", (), 0.25, 203.5, "sentiment_exit", 0)
store.record_decisions(Decisions(
    "bybit", "ETH/USDT:USDT", {level.pk: state, 999: state}, [(entry, "a1"), (close, "a2")]))
store.save_states({level.pk: LevelState(1500, SideState(), SideState((1, 2, 3), 2.0, 2))})
print(json.dumps({
    "trades": list(Trade.objects.order_by("id").values_list(
        "client_order_id", "level_id", "level_key", "tiers", "size", "tick_price", "status",
        "fee")),
    "states": list(TierState.objects.filter(level=level).order_by("side").values_list(
        "side", "fired_tiers", "filled_size", "cycle")),
    "last_trigger_ms": Level.objects.get(pk=level.pk).last_trigger_ms,
    "other": [Level.objects.get(pk=other.pk).last_trigger_ms, list(TierState.objects.filter(
        level=other).order_by("side").values_list("side", "fired_tiers", "cycle"))],
}, default=float))
"""


@pytest.mark.needs("postgresql")
def test_the_order_path_sql_runs_on_postgresql():
    with running_postgres() as url:
        env = {"DATABASE_URL": url, "SECRET_KEY": "test-only-key"}
        migrate = manage("migrate", "--noinput", **env)
        assert migrate.returncode == 0, migrate.stderr
        probe = manage("shell", "-c", POSTGRES_PROBE, **env)
        assert probe.returncode == 0, probe.stderr
    seen = json.loads(probe.stdout.strip().splitlines()[-1])
    assert seen["trades"] == [
        ["a1", 1, "1", [2], 0.5, 203.5, "intent", 0],
        ["a2", None, "", [], 0.25, 203.5, "intent", 0],
    ]
    assert seen["states"] == [["LONG", [], 0, 0], ["SHORT", [1, 2, 3], 2, 2]]
    assert seen["last_trigger_ms"] == 1500
    assert seen["other"] == [None, [["LONG", [1], 1], ["SHORT", [], 0]]]
