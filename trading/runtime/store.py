"""The bot's database work: synchronous, one short transaction per call.

The async runtime calls these on its database threads (`database.py`), one call per batch of
work, so that the database sees few, short writes (Takahē's lesson) and the web process can
read in between.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from trading.engine import (
    SIDES,
    IgnoredCrossing,
    LevelConfig,
    LevelId,
    LevelState,
    RiskLimits,
    SentimentConfig,
    SideState,
    TierFire,
    Tiers,
)
from trading.exchange.base import FILLED, Answers
from trading.models import (
    AccountRisk,
    BotSession,
    BotSettings,
    CloseRequest,
    FeedStatus,
    Installation,
    Level,
    LevelEvent,
    SymbolRisk,
    SymbolTiers,
    TierState,
    Trade,
    TradeStatus,
)
from trading.runtime import sqlrows
from trading.runtime.dailyloss import Outcome
from trading.runtime.journal import Decisions


@dataclass(frozen=True)
class SymbolSnapshot:
    """Everything the bot reloads for one (exchange, symbol)."""

    tiers: Tiers | None
    tiers_key: int | None
    levels: tuple[LevelConfig, ...]
    states: dict[LevelId, LevelState]
    sentiment: SentimentConfig
    risk: RiskLimits
    entries_paused: bool
    reload_ms: int
    heartbeat_timeout_s: int
    fee_rate: float
    slippage_bps: float


def _state_of(sides: dict[str, SideState], last_trigger_ms: int | None) -> LevelState:
    """A level's tier state from its sides' rows; a side never written is new."""
    return LevelState(
        last_trigger_ms, sides.get("LONG", SideState()), sides.get("SHORT", SideState())
    )


def trading_pairs() -> list[tuple[str, str]]:
    """Every (exchange, symbol) with tiers and at least one level, in a stable order."""
    with_levels = set(Level.objects.values_list("exchange", "symbol").distinct())
    with_tiers = set(SymbolTiers.objects.values_list("exchange", "symbol"))
    return sorted(with_levels & with_tiers)


def load_symbol(exchange: str, symbol: str) -> SymbolSnapshot:
    """Levels by id (paused ones too: they keep their state and report crossings), tier state,
    tiers and the bot settings."""
    settings = BotSettings.load()
    tiers = SymbolTiers.objects.filter(exchange=exchange, symbol=symbol).first()
    risk = SymbolRisk.objects.filter(exchange=exchange, symbol=symbol).first()
    levels = list(Level.objects.filter(exchange=exchange, symbol=symbol).order_by("id"))
    # One query for every level's tier state: a prefetch builds a queryset per level.
    sides: dict[LevelId, dict[str, SideState]] = {}
    for level_id, side, fired, filled, cycle in TierState.objects.filter(
        level__exchange=exchange, level__symbol=symbol
    ).values_list("level_id", "side", "fired_tiers", "filled_size", "cycle"):
        sides.setdefault(level_id, {})[side] = SideState(tuple(fired), float(filled), cycle)
    return SymbolSnapshot(
        tiers=tiers.to_engine() if tiers else None,
        tiers_key=tiers.pk if tiers else None,
        levels=tuple(level.to_engine() for level in levels),
        states={
            level.pk: _state_of(sides.get(level.pk, {}), level.last_trigger_ms) for level in levels
        },
        sentiment=settings.sentiment(),
        risk=risk.to_engine() if risk else RiskLimits(),
        entries_paused=settings.entries_paused,
        reload_ms=settings.levels_reload_ms,
        heartbeat_timeout_s=settings.heartbeat_timeout_s,
        fee_rate=float(settings.paper_fee_rate),
        slippage_bps=float(settings.paper_slippage_bps),
    )


def close_cycles(exchange: str, symbol: str) -> dict[str, int]:
    """How many closes each side has had: the next close's cycle, so its id is new."""
    counts = dict(
        Trade.objects.filter(exchange=exchange, symbol=symbol, action="close")
        .values_list("side")
        .annotate(n=Count("id"))
    )
    return {side: counts.get(side, 0) for side in SIDES}


def order_prefix() -> str:
    return Installation.load().order_prefix


def record_decisions(decisions: Decisions) -> None:
    """Persist tier state and order intents together.

    One transaction: after a crash either a decision and its intent are both on disk, or
    neither is, and no tier can fire twice. Only what safety needs is written here, on the
    order path; level events follow with the outcome. The statements' parameters are built
    before the transaction begins, so that it holds the write lock for its statements alone.
    """
    state_rows = sqlrows.StateRows.of(decisions.states, decisions.at)
    intent_rows = sqlrows.IntentRows.of(decisions, decisions.at)
    with transaction.atomic(), connection.cursor() as cursor:
        state_rows.write(cursor)
        intent_rows.write(cursor)


@transaction.atomic
def record_outcome(
    exchange: str,
    symbol: str,
    results: Answers,
    states: dict[LevelId, LevelState],
    events: list[TierFire | IgnoredCrossing],
) -> None:
    """Each order's outcome on its trade row, found by its client order id; the tier state
    after it (a refused entry was never filled), and the level events of the batch."""
    if results:
        filled, refused_rows = sqlrows.outcome_rows(results, timezone.now())
        with connection.cursor() as cursor:
            if filled:
                cursor.executemany(sqlrows.SET_FILLED, filled)
            if refused_rows:
                cursor.executemany(sqlrows.SET_REFUSED, refused_rows)
    refused = [cid for cid, result in results if result.status != FILLED]
    if refused:
        _record_refusals(refused)
    save_states(states)
    if events:
        rows = sqlrows.event_rows(exchange, symbol, events, timezone.now())
        with connection.cursor() as cursor:
            cursor.executemany(sqlrows.INSERT_EVENT, rows)


def _record_refusals(client_order_ids: list[str]) -> None:
    """An entry the exchange refused goes on its level's timeline, with the exchange's reason."""
    LevelEvent.objects.bulk_create(
        LevelEvent(
            level_id=trade.level_id,
            level_key=trade.level_key,
            exchange=trade.exchange,
            symbol=trade.symbol,
            kind=LevelEvent.Kind.REFUSED,
            side=trade.side,
            tiers=trade.tiers,
            price=float(trade.tick_price or 0),
            reason="exchange",
            detail=trade.error[:255],
            event_ts_ms=trade.event_ts_ms,
        )
        for trade in Trade.objects.filter(client_order_id__in=client_order_ids, level__isnull=False)
    )


def save_states(states: dict[LevelId, LevelState]) -> None:
    """Write the engine's tier state of these levels; deleted levels are skipped."""
    rows = sqlrows.StateRows.of(states, timezone.now())
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        rows.write(cursor)


def record_journal(entries: list[Decisions]) -> int:
    """The journal's entries that the database does not hold, written as the bot would have
    written them, in their order; returns how many. An entry's intents are recorded all or
    none (one transaction each), so one of its client ids tells."""
    cids = [cid for entry in entries for _, cid in entry.orders]
    held: set[str] = set()
    for start in range(0, len(cids), 500):
        held.update(
            Trade.objects.filter(client_order_id__in=cids[start : start + 500]).values_list(
                "client_order_id", flat=True
            )
        )
    missing = [entry for entry in entries if entry.orders and entry.orders[0][1] not in held]
    with transaction.atomic():
        for entry in missing:
            record_decisions(entry)
    return len(missing)


def pending_trades(exchange: str, symbol: str) -> list[Trade]:
    """Orders written as intents whose outcome was never recorded (the bot stopped)."""
    return list(
        Trade.objects.filter(
            exchange=exchange, symbol=symbol, status__in=[TradeStatus.INTENT, TradeStatus.SENT]
        ).order_by("id")
    )


def take_over_checkpoints() -> None:
    """On SQLite: this connection no longer checkpoints the write-ahead log at the commit that
    fills it (5-9 ms, which would land on an order's intent now and then); the bot's
    housekeeping does it instead (`checkpoint`). Other connections keep SQLite's default."""
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint=0")


def checkpoint() -> None:
    """Copy the write-ahead log back into the database, without waiting for readers or
    writers. Called off the order path's thread, on a connection of its own (closed after):
    the copy and its fsync (up to a few hundred ms on a busy disk) never hold an order up."""
    if connection.vendor != "sqlite":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        connection.close()


def session_start() -> uuid.UUID:
    session = BotSession.objects.create(
        pid=os.getpid(), hostname=socket.gethostname(), heartbeat_at=timezone.now()
    )
    return session.pk


def session_heartbeat(session_id: uuid.UUID) -> None:
    BotSession.objects.filter(pk=session_id).update(heartbeat_at=timezone.now())


def session_stop(session_id: uuid.UUID) -> None:
    now = timezone.now()
    BotSession.objects.filter(pk=session_id).update(stopped_at=now, heartbeat_at=now)
    FeedStatus.objects.filter(session_id=session_id).update(state=FeedStatus.State.STOPPED)


def feed_status(exchange: str, symbol: str, **fields: object) -> None:
    FeedStatus.objects.update_or_create(exchange=exchange, symbol=symbol, defaults=fields)


def prune_events(older_than: timedelta) -> int:
    deleted, _ = LevelEvent.objects.filter(created_at__lt=timezone.now() - older_than).delete()
    return deleted


def pending_close_requests(pairs: list[tuple[str, str]]) -> list[CloseRequest]:
    """The close requests waiting for the symbols this bot trades, oldest first."""
    wanted = set(pairs)
    pending = CloseRequest.objects.filter(status=CloseRequest.Status.PENDING).order_by("id")
    return [r for r in pending if (r.exchange, r.symbol) in wanted]


def close_request_done(request_id: int, status: str, detail: str) -> None:
    CloseRequest.objects.filter(pk=request_id).update(
        status=status, detail=detail, done_at=timezone.now()
    )


def outcomes_since(floor: int) -> tuple[list[Outcome], int | None]:
    """Orders settled (filled or rejected) with an id above `floor`, and the lowest id of an
    order still unsettled (an intent whose outcome is not recorded yet)."""
    rows = (
        Trade.objects.filter(id__gt=floor, status__in=[TradeStatus.FILLED, TradeStatus.REJECTED])
        .order_by("id")
        .values_list(
            "id",
            "exchange",
            "symbol",
            "side",
            "action",
            "status",
            "size",
            "price",
            "fee",
            "reason",
            "tiers",
            "error",
            "created_at",
        )
    )
    outcomes = [
        Outcome(
            pk,
            exchange,
            symbol,
            side,
            action,
            status,
            float(size),
            float(price or 0),
            float(fee),
            reason,
            tuple(tiers),
            error,
            at,
        )
        for (
            pk,
            exchange,
            symbol,
            side,
            action,
            status,
            size,
            price,
            fee,
            reason,
            tiers,
            error,
            at,
        ) in rows.iterator()
    ]
    unsettled = (
        Trade.objects.filter(id__gt=floor, status__in=[TradeStatus.INTENT, TradeStatus.SENT])
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    return outcomes, unsettled


def daily_loss_limits() -> dict[str, Decimal]:
    """Each exchange account's daily loss limit, where one is set."""
    return dict(
        AccountRisk.objects.filter(daily_loss_limit__isnull=False).values_list(
            "exchange", "daily_loss_limit"
        )
    )
