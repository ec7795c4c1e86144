"""The bot's database work: synchronous, one short transaction per call.

The async runtime calls these through `sync_to_async`, one call per batch of work, so that the
database sees few, short writes (Takahē's lesson) and the web process can read in between.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from trading.engine import (
    SIDES,
    IgnoredCrossing,
    LevelConfig,
    LevelId,
    LevelState,
    OrderIntent,
    RiskLimits,
    SentimentConfig,
    SideState,
    TierFire,
    Tiers,
)
from trading.exchange.base import FILLED, OrderResult
from trading.models import (
    BotSession,
    BotSettings,
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


@dataclass
class Decisions:
    """One batch's decisions to record before any order is sent: tier state and intents."""

    exchange: str
    symbol: str
    states: dict[LevelId, LevelState]
    orders: list[tuple[OrderIntent, str]] = field(default_factory=list)


def _decimal(value: float) -> Decimal:
    return Decimal(repr(value))


def _state_of(rows: list[TierState], last_trigger_ms: int | None) -> LevelState:
    sides = {
        row.side: SideState(tuple(row.fired_tiers), float(row.filled_size), row.cycle)
        for row in rows
    }
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
    levels = list(
        Level.objects.filter(exchange=exchange, symbol=symbol)
        .prefetch_related("tier_states")
        .order_by("id")
    )
    return SymbolSnapshot(
        tiers=tiers.to_engine() if tiers else None,
        tiers_key=tiers.pk if tiers else None,
        levels=tuple(level.to_engine() for level in levels),
        states={
            level.pk: _state_of(list(level.tier_states.all()), level.last_trigger_ms)
            for level in levels
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


@transaction.atomic
def record_decisions(decisions: Decisions) -> list[int]:
    """Persist tier state and order intents together; return the trade ids.

    One transaction: after a crash either a decision and its intent are both on disk, or
    neither is, and no tier can fire twice. Only what safety needs is written here, on the
    order path; level events follow with the outcome.
    """
    existing = save_states(decisions.states)
    trades = Trade.objects.bulk_create(
        Trade(
            exchange=decisions.exchange,
            symbol=decisions.symbol,
            level_id=order.level_id if order.level_id in existing else None,
            level_key="" if order.level_id is None else str(order.level_id),
            side=order.side,
            action=order.action,
            tiers=list(order.tiers),
            size=_decimal(order.size),
            tick_price=_decimal(order.price),
            reason=order.reason,
            client_order_id=cid,
            status=TradeStatus.INTENT,
            event_ts_ms=order.ts,
        )
        for order, cid in decisions.orders
    )
    trade_ids = [trade.pk for trade in trades]
    return trade_ids


@transaction.atomic
def record_outcome(
    exchange: str,
    symbol: str,
    results: list[tuple[int, OrderResult]],
    states: dict[LevelId, LevelState],
    events: list[TierFire | IgnoredCrossing],
) -> None:
    """Each order's outcome on its trade row, the tier state after it (a refused entry was
    never filled), and the level events of the batch."""
    for trade_id, result in results:
        fields: dict[str, object] = {"exchange_order_id": result.exchange_order_id}
        if result.status == FILLED:
            fields.update(
                status=TradeStatus.FILLED,
                price=_decimal(result.price) if result.price is not None else None,
                fee=_decimal(result.fee),
                size=_decimal(result.filled_size),
            )
        else:
            fields.update(status=TradeStatus.REJECTED, error=result.error[:2000])
        Trade.objects.filter(pk=trade_id).update(updated_at=timezone.now(), **fields)
    existing = save_states(states)
    unknown = {e.level_id for e in events} - existing - set(states)
    if unknown:
        existing |= set(Level.objects.filter(pk__in=unknown).values_list("pk", flat=True))
    LevelEvent.objects.bulk_create(
        LevelEvent(
            level_id=event.level_id if event.level_id in existing else None,
            level_key=str(event.level_id),
            exchange=exchange,
            symbol=symbol,
            kind=LevelEvent.Kind.FIRED if isinstance(event, TierFire) else LevelEvent.Kind.IGNORED,
            side=event.side,
            tiers=list(event.tiers),
            price=event.price,
            reason="" if isinstance(event, TierFire) else event.reason,
            detail=_detail(event),
            event_ts_ms=event.ts,
        )
        for event in events
    )


def _detail(event: TierFire | IgnoredCrossing) -> str:
    if isinstance(event, IgnoredCrossing):
        return event.describe()
    if event.size:
        return f"order of {event.size:g} at {event.price:g}"
    return "target already held: no order needed"


def save_states(states: dict[LevelId, LevelState]) -> set[int]:
    """Write the engine's tier state of these levels in three statements whatever their
    number (this runs on the order path); deleted levels are skipped. Returns the ids of the
    levels that still exist."""
    if not states:
        return set()
    existing = set(Level.objects.filter(pk__in=states).order_by().values_list("pk", flat=True))
    by_trigger: dict[int | None, list[int]] = defaultdict(list)
    for pk in existing:
        by_trigger[states[pk].last_trigger_ms].append(pk)
    for last_trigger_ms, pks in by_trigger.items():
        Level.objects.filter(pk__in=pks).update(last_trigger_ms=last_trigger_ms)
    now = timezone.now()
    TierState.objects.bulk_create(
        [
            TierState(
                level_id=pk,
                side=side,
                fired_tiers=list(states[pk].side(side).fired),
                filled_size=_decimal(states[pk].side(side).filled),
                cycle=states[pk].side(side).cycle,
                updated_at=now,
            )
            for pk in sorted(existing)
            for side in SIDES
        ],
        update_conflicts=True,
        unique_fields=["level", "side"],
        update_fields=["fired_tiers", "filled_size", "cycle", "updated_at"],
    )
    return existing


def pending_trades(exchange: str, symbol: str) -> list[Trade]:
    """Orders written as intents whose outcome was never recorded (the bot stopped)."""
    return list(
        Trade.objects.filter(
            exchange=exchange, symbol=symbol, status__in=[TradeStatus.INTENT, TradeStatus.SENT]
        ).order_by("id")
    )


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
