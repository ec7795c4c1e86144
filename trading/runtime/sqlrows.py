"""The order path's rows as SQL statements and their parameters (used by `store.py`).

The order path writes with SQL of its own: building model instances and compiling the ORM's
queries cost about 2 ms a batch, the statements themselves well under 0.1 ms each. The SQL
reads the same on SQLite and PostgreSQL, and each value goes
through the backend's adapter for its field type, as the ORM's would: the rows are the ones the
ORM wrote. Each statement finds its level in trading_level: a level deleted since the decision
gets no tier state, and a trade or event of it keeps only its level_key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connection
from django.db.backends.utils import CursorWrapper

from trading.engine import SIDES, IgnoredCrossing, LevelId, LevelState, TierFire
from trading.exchange.base import FILLED, Answers
from trading.models import LevelEvent, Trade, TradeStatus
from trading.numbers import decimal_of

if TYPE_CHECKING:
    from trading.runtime.journal import Decisions


# Several rows go in one statement, not one statement a row: each statement's steps hand the
# interpreter over to the event loop and back, and in a burst that costs more than the SQL.
SET_LAST_TRIGGERS = "UPDATE trading_level SET last_trigger_ms = CASE id {} END WHERE id IN ({})"
LAST_TRIGGER_WHEN = "WHEN %s THEN CAST(%s AS BIGINT)"
UPSERT_TIER_STATES = """
    INSERT INTO trading_tierstate (level_id, side, fired_tiers, filled_size, cycle, updated_at)
    {}
    ON CONFLICT (level_id, side) DO UPDATE SET
        fired_tiers = excluded.fired_tiers,
        filled_size = excluded.filled_size,
        cycle = excluded.cycle,
        updated_at = excluded.updated_at
"""
TIER_STATE_ROW = "SELECT id, %s, %s, %s, %s, %s FROM trading_level WHERE id = %s"
ROWS_PER_STATEMENT = 200  # SQLite takes at most 500 SELECTs joined in one statement
INSERT_INTENTS = """
    INSERT INTO trading_trade (
        exchange, symbol, level_id, level_key, side, action, tiers, size, price, tick_price,
        fee, reason, client_order_id, exchange_order_id, status, error, event_ts_ms,
        created_at, updated_at
    )
    VALUES {}
"""
INTENT_VALUES = (
    "(%s, %s, (SELECT id FROM trading_level WHERE id = %s), " + ", ".join(["%s"] * 16) + ")"
)
# An outcome finds its trade by the client order id, which the bot holds from the decision on:
# the intents' INSERT then needs no RETURNING, whose rows each cost a step.
SET_FILLED = """
    UPDATE trading_trade
    SET status = %s, price = %s, fee = %s, size = %s, exchange_order_id = %s, updated_at = %s
    WHERE client_order_id = %s
"""
SET_REFUSED = """
    UPDATE trading_trade SET status = %s, error = %s, exchange_order_id = %s, updated_at = %s
    WHERE client_order_id = %s
"""
INSERT_EVENT = """
    INSERT INTO trading_levelevent (
        level_id, level_key, exchange, symbol, kind, side, tiers, price, reason, detail,
        event_ts_ms, created_at
    )
    VALUES (
        (SELECT id FROM trading_level WHERE id = %s), %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
    )
"""
# What the model gives a new trade for the columns an intent leaves empty.
TRADE_DEFAULTS = {
    name: Trade._meta.get_field(name).get_default()
    for name in ("price", "fee", "exchange_order_id", "error")
}


@dataclass(frozen=True)
class StateRows:
    """Tier state of some levels as statement parameters: a level's last trigger, and one
    upsert row per (level, side), sorted by level."""

    triggers: list[tuple[int | None, LevelId]]
    sides: list[tuple[object, ...]]

    @classmethod
    def of(cls, states: dict[LevelId, LevelState], now: datetime) -> StateRows:
        ops = connection.ops
        updated_at = ops.adapt_datetimefield_value(now)
        sides = []
        for pk, state in sorted(states.items()):
            for side in SIDES:
                s = state.side(side)
                fired = ops.adapt_json_value(list(s.fired), None)
                sides.append((side, fired, decimal_of(s.filled), s.cycle, updated_at, pk))
        return cls([(state.last_trigger_ms, pk) for pk, state in states.items()], sides)

    def write(self, cursor: CursorWrapper) -> None:
        """In the caller's transaction."""
        for start in range(0, len(self.triggers), ROWS_PER_STATEMENT):
            triggers = self.triggers[start : start + ROWS_PER_STATEMENT]
            whens = " ".join([LAST_TRIGGER_WHEN] * len(triggers))
            cursor.execute(
                SET_LAST_TRIGGERS.format(whens, ", ".join(["%s"] * len(triggers))),
                [v for last_trigger_ms, pk in triggers for v in (pk, last_trigger_ms)]
                + [pk for _, pk in triggers],
            )
        for start in range(0, len(self.sides), ROWS_PER_STATEMENT):
            sides = self.sides[start : start + ROWS_PER_STATEMENT]
            cursor.execute(
                UPSERT_TIER_STATES.format(" UNION ALL ".join([TIER_STATE_ROW] * len(sides))),
                [v for row in sides for v in row],
            )


@dataclass(frozen=True)
class IntentRows:
    """Order intents as statement parameters, one row per order in the batch's order."""

    client_order_ids: list[str]
    params: list[object]

    @classmethod
    def of(cls, decisions: Decisions, now: datetime) -> IntentRows:
        ops = connection.ops
        created_at = ops.adapt_datetimefield_value(now)
        defaults = TRADE_DEFAULTS
        params: list[object] = []
        for order, cid in decisions.orders:
            params += (
                decisions.exchange,
                decisions.symbol,
                order.level_id,
                "" if order.level_id is None else str(order.level_id),
                order.side,
                order.action,
                ops.adapt_json_value(list(order.tiers), None),
                decimal_of(order.size),
                defaults["price"],
                decimal_of(order.price),
                defaults["fee"],
                order.reason,
                cid,
                defaults["exchange_order_id"],
                TradeStatus.INTENT.value,
                defaults["error"],
                order.ts,
                created_at,
                created_at,
            )
        return cls([cid for _, cid in decisions.orders], params)

    def write(self, cursor: CursorWrapper) -> None:
        """In the caller's transaction: insert the intents."""
        if self.client_order_ids:
            values = ", ".join([INTENT_VALUES] * len(self.client_order_ids))
            cursor.execute(INSERT_INTENTS.format(values), self.params)


def outcome_rows(
    results: Answers, now: datetime
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Orders' outcomes as statement parameters: the filled, and the refused."""
    updated_at = connection.ops.adapt_datetimefield_value(now)
    filled, refused = [], []
    for cid, r in results:
        if r.status == FILLED:
            price = None if r.price is None else decimal_of(r.price)
            filled.append(
                (
                    TradeStatus.FILLED.value,
                    price,
                    decimal_of(r.fee),
                    decimal_of(r.filled_size),
                    r.exchange_order_id,
                    updated_at,
                    cid,
                )
            )
        else:
            row = (TradeStatus.REJECTED.value, r.error[:2000], r.exchange_order_id)
            refused.append((*row, updated_at, cid))
    return filled, refused


def event_rows(
    exchange: str, symbol: str, events: list[TierFire | IgnoredCrossing], now: datetime
) -> list[tuple[object, ...]]:
    """Level events as statement parameters; a level deleted since keeps only its key."""
    ops = connection.ops
    created_at = ops.adapt_datetimefield_value(now)
    return [
        (
            event.level_id,
            str(event.level_id),
            exchange,
            symbol,
            LevelEvent.Kind.FIRED.value
            if isinstance(event, TierFire)
            else LevelEvent.Kind.IGNORED.value,
            event.side,
            ops.adapt_json_value(list(event.tiers), None),
            event.price,
            "" if isinstance(event, TierFire) else event.reason,
            detail(event),
            event.ts,
            created_at,
        )
        for event in events
    ]


def detail(event: TierFire | IgnoredCrossing) -> str:
    if isinstance(event, IgnoredCrossing):
        return event.describe()
    if event.size:
        return f"order of {event.size:g} at {event.price:g}"
    return "target already held: no order needed"
