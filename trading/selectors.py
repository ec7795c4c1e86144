"""Reads of the database shaped for the engine: what the bot and the backtest trade."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from django.db.models import Prefetch, Q, Sum
from django.utils import timezone

from trading.accounting import SidePosition
from trading.backtest.scenario import Scenario, ScenarioError
from trading.engine import LONG, SIDES, RiskLimits
from trading.engine.types import to_decimal
from trading.models import (
    BacktestRun,
    BotSession,
    BotSettings,
    FeedStatus,
    FundingPayment,
    Level,
    LevelEvent,
    PaperPosition,
    SymbolRisk,
    SymbolTiers,
    TierState,
    Trade,
    TradeAction,
)


def scenario_from_db(*, exchange: str, symbol: str) -> Scenario:
    """The active levels (by id) and tiers of one (exchange, symbol), with the bot's settings.

    Raises ScenarioError with a sentence saying what is missing.
    """
    tiers = SymbolTiers.objects.filter(exchange=exchange, symbol=symbol).first()
    if tiers is None:
        raise ScenarioError(
            f"{exchange} {symbol} has no tiers yet: set them in the admin or on the levels page."
        )
    levels = Level.objects.filter(exchange=exchange, symbol=symbol, is_active=True).order_by("id")
    configs = tuple(level.to_engine() for level in levels)
    if not configs:
        raise ScenarioError(f"{exchange} {symbol} has no active levels to replay.")
    risk = SymbolRisk.objects.filter(exchange=exchange, symbol=symbol).first()
    return Scenario(
        exchange,
        symbol,
        tiers.to_engine(),
        BotSettings.load().sentiment(),
        configs,
        risk.to_engine() if risk else RiskLimits(),
    )


# Reads for the dashboard's pages.


@dataclass(frozen=True)
class SymbolOverview:
    """One (exchange, symbol) with its levels (highest price first) and its tiers, if set."""

    exchange: str
    symbol: str
    levels: list[Level]
    tiers: SymbolTiers | None

    @property
    def active_count(self) -> int:
        return sum(level.is_active for level in self.levels)


def symbol_overview_list(*, exchange: str | None = None) -> list[SymbolOverview]:
    """Every (exchange, symbol) with levels or tiers, ordered by exchange then symbol.

    A symbol with tiers but no levels yet is listed too, as is one with levels but no tiers.
    """
    levels = Level.objects.order_by("exchange", "symbol", "-level_price", "id")
    tiers = SymbolTiers.objects.all()
    if exchange is not None:
        levels = levels.filter(exchange=exchange)
        tiers = tiers.filter(exchange=exchange)
    by_symbol: dict[tuple[str, str], list[Level]] = {}
    for level in levels:
        by_symbol.setdefault((level.exchange, level.symbol), []).append(level)
    tiers_by_symbol = {(t.exchange, t.symbol): t for t in tiers}
    keys = sorted(by_symbol.keys() | tiers_by_symbol.keys())
    return [
        SymbolOverview(key[0], key[1], by_symbol.get(key, []), tiers_by_symbol.get(key))
        for key in keys
    ]


def symbol_tiers_get(*, exchange: str, symbol: str) -> SymbolTiers | None:
    return SymbolTiers.objects.filter(exchange=exchange, symbol=symbol).first()


def level_list_for_symbol(*, exchange: str, symbol: str) -> list[Level]:
    """The levels of one (exchange, symbol), highest price first, with their tier state."""
    return list(
        Level.objects.filter(exchange=exchange, symbol=symbol)
        .prefetch_related(Prefetch("tier_states", TierState.objects.order_by("side")))
        .order_by("-level_price", "id")
    )


def level_get_for_symbol(*, exchange: str, symbol: str, level_id: int) -> Level | None:
    """The level with this id, only if it belongs to this (exchange, symbol)."""
    return Level.objects.filter(pk=level_id, exchange=exchange, symbol=symbol).first()


def trade_list(*, symbol: str | None = None, limit: int = 200) -> list[Trade]:
    """The latest trades, newest first, of one symbol or of all."""
    trades = Trade.objects.order_by("-created_at", "-id")
    if symbol:
        trades = trades.filter(symbol=symbol)
    return list(trades[:limit])


def trade_symbol_list() -> list[str]:
    """The symbols that have trades, for a filter."""
    return list(Trade.objects.order_by("symbol").values_list("symbol", flat=True).distinct())


def backtest_run_list(*, limit: int = 100) -> list[BacktestRun]:
    """The latest saved backtests without their orders and curve, which only a detail needs."""
    return list(BacktestRun.objects.defer("orders", "equity_curve", "scenario")[:limit])


def backtest_run_get(*, run_id: int) -> BacktestRun | None:
    return BacktestRun.objects.filter(pk=run_id).first()


# The bot at work: its positions, its health, each level's timeline and the prices it saw.


@dataclass(frozen=True)
class PositionRow:
    """One open side of the paper account, marked to the symbol's last price where known."""

    position: PaperPosition
    current_price: Decimal | None
    # The state of the feed the price came from: a price from a stale or stopped feed is old.
    feed_state: str | None
    leverages: tuple[int, ...]
    margin_types: tuple[str, ...]
    # Received less paid by this side on the exchange (live accounts; paper has no funding).
    funding: Decimal = Decimal(0)

    @property
    def unrealized_pnl(self) -> Decimal | None:
        if self.current_price is None:
            return None
        held = SidePosition(float(self.position.size), float(self.position.entry_price))
        return to_decimal(held.unrealized(self.position.side, float(self.current_price)))


@dataclass(frozen=True)
class PositionBook:
    """The open positions and the account's totals; realized PnL, funding and fees count
    closed sides too."""

    rows: list[PositionRow]
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal = Decimal(0)

    @property
    def unrealized_pnl(self) -> Decimal:
        """Of the positions that have a price; `unpriced` says how many have none."""
        return sum(
            (r.unrealized_pnl for r in self.rows if r.unrealized_pnl is not None), Decimal(0)
        )

    @property
    def unpriced(self) -> int:
        return sum(row.current_price is None for row in self.rows)

    @property
    def net_pnl(self) -> Decimal:
        return self.realized_pnl + self.funding + self.unrealized_pnl - self.fees


def position_book() -> PositionBook:
    """The paper account's open sides with price, PnL, funding and their symbol's levels'
    leverage and margin type (every value in use, as the levels may differ), in four queries.

    Funding is what the exchange settled on a live account (FundingPayment) for the same
    exchange, symbol and side; the total counts every settlement, whichever side."""
    positions = list(PaperPosition.objects.order_by("exchange", "symbol", "side"))
    open_positions = [p for p in positions if p.size > 0]
    pairs = {(p.exchange, p.symbol) for p in open_positions}
    of_pairs = Q(exchange__in={e for e, _ in pairs}, symbol__in={s for _, s in pairs})
    feeds = {(f.exchange, f.symbol): f for f in FeedStatus.objects.filter(of_pairs)}
    leverages: dict[tuple[str, str], set[int]] = {}
    margins: dict[tuple[str, str], set[str]] = {}
    levels = Level.objects.filter(of_pairs).values_list(
        "exchange", "symbol", "leverage", "margin_type"
    )
    for exchange, symbol, leverage, margin_type in levels:
        leverages.setdefault((exchange, symbol), set()).add(leverage)
        margins.setdefault((exchange, symbol), set()).add(margin_type)
    funding = {
        (row["exchange"], row["symbol"], row["side"]): row["total"]
        for row in FundingPayment.objects.values("exchange", "symbol", "side")
        .annotate(total=Sum("amount"))
        .order_by()
    }
    rows = []
    for position in open_positions:
        key = (position.exchange, position.symbol)
        feed = feeds.get(key)
        rows.append(
            PositionRow(
                position=position,
                current_price=feed.last_price if feed else None,
                feed_state=feed.state if feed else None,
                leverages=tuple(sorted(leverages.get(key, ()))),
                margin_types=tuple(sorted(margins.get(key, ()))),
                funding=funding.get((*key, position.side), Decimal(0)),
            )
        )
    return PositionBook(
        rows=rows,
        realized_pnl=sum((p.realized_pnl for p in positions), Decimal(0)),
        fees=sum((p.fees for p in positions), Decimal(0)),
        funding=sum(funding.values(), Decimal(0)),
    )


@dataclass(frozen=True)
class BotStatus:
    """The latest bot session and whether the bot is running, judged at `now`.

    `state` is `alive`, `none` (no session ever), `stopped` (it stopped itself) or `silent`
    (no heartbeat within the timeout: it crashed, hung or lost the database).
    """

    session: BotSession | None
    timeout_s: int
    now: datetime

    @property
    def alive(self) -> bool:
        return self.session is not None and self.session.is_alive(self.timeout_s, now=self.now)

    @property
    def state(self) -> str:
        if self.session is None:
            return "none"
        if self.session.stopped_at is not None:
            return "stopped"
        return "alive" if self.alive else "silent"

    @property
    def uptime(self) -> timedelta | None:
        """How long the session ran: until now, until it stopped, or until it last spoke."""
        if self.session is None:
            return None
        end = self.session.stopped_at or (self.now if self.alive else self.last_seen)
        return max(end - self.session.started_at, timedelta(0)) if end else None

    @property
    def last_seen(self) -> datetime | None:
        if self.session is None:
            return None
        return self.session.heartbeat_at or self.session.started_at

    @property
    def heartbeat_age(self) -> timedelta | None:
        return None if self.last_seen is None else max(self.now - self.last_seen, timedelta(0))


def bot_status_get(*, now: datetime | None = None) -> BotStatus:
    """The latest session of the bot process and the heartbeat timeout it is judged by."""
    return BotStatus(
        session=BotSession.objects.order_by("-started_at").first(),
        timeout_s=BotSettings.load().heartbeat_timeout_s,
        now=now or timezone.now(),
    )


@dataclass(frozen=True)
class FeedRow:
    """One symbol's feed health; `current` when the running bot session keeps it up to date."""

    feed: FeedStatus
    current: bool
    message_age: timedelta | None

    @property
    def healthy(self) -> bool:
        return self.current and self.feed.state == FeedStatus.State.LIVE


def feed_row_list(*, bot: BotStatus) -> list[FeedRow]:
    """Every symbol's feed, by exchange and symbol. A feed not written by the running session
    says what it said last: `current` is False when the bot is down or no longer trades it."""
    running = bot.session.pk if bot.session is not None and bot.alive else None
    return [
        FeedRow(
            feed=feed,
            current=running is not None and feed.session_id == running,
            message_age=(
                max(bot.now - feed.last_message_at, timedelta(0)) if feed.last_message_at else None
            ),
        )
        for feed in FeedStatus.objects.order_by("exchange", "symbol")
    ]


def level_event_list(*, level: Level, limit: int = 100) -> list[LevelEvent]:
    """The level's latest fires and ignored crossings, newest first (the bot writes them in
    event order, so the id orders them)."""
    return list(LevelEvent.objects.filter(level=level).order_by("-id")[:limit])


class TierMark(NamedTuple):
    tier: int
    boundary: float
    fired: bool


@dataclass(frozen=True)
class LevelSide:
    """One side of a level: its tier boundaries, which fired, what it filled, which cycle."""

    side: str
    tiers: list[TierMark]
    state: TierState | None

    @property
    def filled_size(self) -> Decimal:
        return self.state.filled_size if self.state else Decimal(0)

    @property
    def cycle(self) -> int:
        return self.state.cycle if self.state else 0


def tier_boundaries(level: Level, tiers: SymbolTiers | None) -> dict[str, tuple[float, ...]]:
    """Each side's tier boundary prices, tier 1 first (rule 2); none without tiers."""
    if tiers is None:
        return {side: () for side in SIDES}
    config, pcts = level.to_engine(), tiers.to_engine().pcts()
    return {side: tuple(config.boundary(side, pct) for pct in pcts) for side in SIDES}


def level_side_list(*, level: Level) -> list[LevelSide]:
    """The level's LONG and SHORT sides as the engine keeps them, with their boundaries."""
    tiers = symbol_tiers_get(exchange=level.exchange, symbol=level.symbol)
    states = {state.side: state for state in TierState.objects.filter(level=level)}
    boundaries = tier_boundaries(level, tiers)
    sides = []
    for side in SIDES:
        state = states.get(side)
        fired = set(state.fired_tiers) if state else set()
        marks = [
            TierMark(k, price, k in fired) for k, price in enumerate(boundaries[side], start=1)
        ]
        sides.append(LevelSide(side=side, tiers=marks, state=state))
    return sides


class PricePoint(NamedTuple):
    ts_ms: float
    price: float


class TradePoint(NamedTuple):
    ts_ms: float
    price: float
    buy: bool


@dataclass(frozen=True)
class PriceHistory:
    """The prices the bot recorded for a symbol: it keeps no ticks, so these are the prices of
    level events and fills, and the feed's last price, in time order (wall clock, ms)."""

    prices: list[PricePoint]
    trades: list[TradePoint]


def _ms(moment: datetime) -> float:
    return moment.timestamp() * 1000


def _is_buy(trade: Trade) -> bool:
    # Opening or adding to a LONG buys, closing it sells; the other way round for SHORT.
    return (trade.side == LONG) != (trade.action == TradeAction.CLOSE)


def price_history_get(
    *, exchange: str, symbol: str, since: timedelta = timedelta(hours=1), limit: int = 500
) -> PriceHistory:
    """The symbol's prices at level events and fills over `since`, with its latest price.

    At most `limit` of each, the latest: a chart redrawn every few seconds stays cheap.
    """
    start = timezone.now() - since
    of_symbol = Q(exchange=exchange, symbol=symbol, created_at__gte=start)
    fills = (
        Trade.objects.filter(of_symbol, price__isnull=False)
        .only("created_at", "price", "side", "action")
        .order_by("-id")[:limit]
    )
    trades = [TradePoint(_ms(t.created_at), float(t.price), _is_buy(t)) for t in fills]
    events = LevelEvent.objects.filter(of_symbol).order_by("-id").values_list("created_at", "price")
    prices = [PricePoint(_ms(at), price) for at, price in events[:limit]]
    prices += [PricePoint(t.ts_ms, t.price) for t in trades]
    feed = FeedStatus.objects.filter(exchange=exchange, symbol=symbol).first()
    if feed is not None and feed.last_price is not None:
        at = feed.last_message_at or feed.updated_at
        if at >= start:
            prices.append(PricePoint(_ms(at), float(feed.last_price)))
    return PriceHistory(prices=sorted(prices), trades=sorted(trades))
