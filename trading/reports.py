"""What the background jobs find in the database, and the notifications they make of it.

Each job tells a thing once: a `NotificationMark` remembers what was told (a session found
down, a drift with its figures, a day summarized), so a job run every 30 s does not say the
same thing every 30 s, and a drift that changes is told again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from trading.accounting import Ledger
from trading.choices import Side, TradeStatus
from trading.models import (
    BotSession,
    BotSettings,
    FundingPayment,
    NotificationMark,
    PaperFill,
    PaperPosition,
    TierState,
    Trade,
)
from trading.notify import Notification, texts
from trading.notify.notification import settle_currency

# The bot is down when its heartbeat is older than this many heartbeat timeouts.
DEAD_MAN_TIMEOUTS = 3
DRIFT_TOLERANCE = Decimal("1e-9")
PENDING = (TradeStatus.INTENT, TradeStatus.SENT)


# -- marks -------------------------------------------------------------------------------


def mark_told(*, key: str, value: str = "") -> bool:
    """Remember that `key` was told with `value`; True when it is news (not told, or told
    with another value). The unique key makes two workers racing tell it once."""
    with transaction.atomic():
        mark, created = NotificationMark.objects.select_for_update().get_or_create(
            key=key, defaults={"value": value}
        )
        if created:
            return True
        if mark.value == value:
            return False
        mark.value = value
        mark.save(update_fields=["value", "updated_at"])
        return True


# -- dead man ----------------------------------------------------------------------------


def dead_man_notifications(*, now: datetime | None = None) -> list[Notification]:
    """`bot_down` for the latest bot session when it is not stopped and its heartbeat (or its
    start, before the first beat) is older than 3 x the heartbeat timeout; once per session."""
    now = now or timezone.now()
    session = BotSession.objects.order_by("-started_at").first()
    if session is None or session.stopped_at is not None:
        return []
    timeout_s = DEAD_MAN_TIMEOUTS * BotSettings.load().heartbeat_timeout_s
    last_seen = session.heartbeat_at or session.started_at
    silent_s = (now - last_seen).total_seconds()
    if silent_s <= timeout_s or not mark_told(key=f"bot_down:{session.pk}"):
        return []
    return [
        texts.bot_down(
            hostname=session.hostname,
            pid=session.pid,
            last_seen=last_seen.astimezone(UTC),
            silent_s=silent_s,
            session_id=session.pk,
        )
    ]


# -- reconcile ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SideCheck:
    exchange: str
    symbol: str
    side: str
    account_size: Decimal
    levels_size: Decimal

    @property
    def key(self) -> str:
        return f"position_drift:{self.exchange}:{self.symbol}:{self.side}"

    @property
    def drifts(self) -> bool:
        return abs(self.account_size - self.levels_size) > DRIFT_TOLERANCE


@contextmanager
def _one_snapshot() -> Iterator[None]:
    """Reads that see one moment of the database. SQLite's transactions are serializable
    (and begin IMMEDIATE here); PostgreSQL needs REPEATABLE READ, asked for first thing."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def paper_side_checks() -> list[SideCheck]:
    """The paper account's position of each side against the bot's own tier state.

    Each level's `TierState.filled_size` is what the bot believes that level holds: the engine
    sizes every later entry from it, and a close resets it on every level of the side. So on a
    paper (exchange, symbol) the account's `PaperPosition.size` of a side must equal the sum
    of `filled_size` over the symbol's levels on that side. This is exact where the filled
    trades since the side's last close are not: a trade row outlives its level, and the
    tier state is what the bot acts on. A difference is a level deleted while it held a
    position, a tier state reset by hand, or a paper position edited by hand.

    One snapshot, and pairs with an order in flight (a trade still `intent` or `sent`) are
    skipped: the bot writes the tier state before it sends, so they differ for a moment.
    Pairs whose latest filled trade is not a paper fill trade a live account, which the bot
    reconciles itself over REST: skipped too.
    """
    checks = []
    with _one_snapshot():
        positions = {
            (row.exchange, row.symbol, row.side): row.size for row in PaperPosition.objects.all()
        }
        held = {
            (row["level__exchange"], row["level__symbol"], row["side"]): row["total"]
            for row in TierState.objects.values("level__exchange", "level__symbol", "side")
            .annotate(total=Sum("filled_size"))
            .order_by()
        }
        busy = set(
            Trade.objects.filter(status__in=PENDING)
            .values_list("exchange", "symbol")
            .distinct()
            .order_by()
        )
        for exchange, symbol in sorted({(e, s) for e, s, _ in positions}):
            if (exchange, symbol) in busy or not _trades_on_paper(exchange, symbol):
                continue
            for side in Side.values:
                checks.append(
                    SideCheck(
                        exchange,
                        symbol,
                        side,
                        positions.get((exchange, symbol, side)) or Decimal(0),
                        held.get((exchange, symbol, side)) or Decimal(0),
                    )
                )
    return checks


def _trades_on_paper(exchange: str, symbol: str) -> bool:
    latest = (
        Trade.objects.filter(exchange=exchange, symbol=symbol, status=TradeStatus.FILLED)
        .order_by("-id")
        .values_list("client_order_id", flat=True)
        .first()
    )
    return latest is None or PaperFill.objects.filter(client_order_id=latest).exists()


def drift_notifications() -> list[Notification]:
    """`position_drift` for each paper side that differs, when its figures are news; a side
    that agrees again forgets its drift, so that a new one is told."""
    found = []
    for check in paper_side_checks():
        if not check.drifts:
            NotificationMark.objects.filter(key=check.key).delete()
            continue
        figures = f"{check.account_size.normalize()}/{check.levels_size.normalize()}"
        if mark_told(key=check.key, value=figures):
            found.append(
                texts.position_drift(
                    exchange=check.exchange,
                    symbol=check.symbol,
                    side=check.side,
                    account_size=check.account_size,
                    levels_size=check.levels_size,
                )
            )
    return found


# -- daily summary -----------------------------------------------------------------------


@dataclass(frozen=True)
class DayTotals:
    exchange: str
    currency: str
    fills: int
    rejected: int
    fees: Decimal
    realized_pnl: Decimal  # funding included
    funding: Decimal = Decimal(0)  # received less paid; live accounts only


def previous_utc_day(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(UTC).date() - timedelta(days=1)


def day_totals(day: date) -> list[DayTotals]:
    """Fills, rejected orders, fees and realized PnL of the orders decided on `day` (UTC),
    per exchange and settle currency; the funding settled on `day` (live accounts: paper has
    none) counts in the realized PnL, and is also given apart.

    Trade rows carry no PnL, and only the paper account keeps it per fill (PaperFill), so the
    realized PnL replays each symbol's filled trades through the accounting Ledger, the paper
    exchange's own arithmetic: on paper it is exactly PaperFill's, on a live account the
    average-entry PnL of the fills the bot recorded.
    """
    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    counts = (
        Trade.objects.filter(
            created_at__gte=start,
            created_at__lt=end,
            status__in=[TradeStatus.FILLED, TradeStatus.REJECTED],
        )
        .values("exchange", "symbol", "status")
        .annotate(n=Count("id"), fees=Sum("fee"))
        .order_by()
    )
    totals: dict[tuple[str, str], dict[str, Decimal | int]] = defaultdict(
        lambda: {
            "fills": 0,
            "rejected": 0,
            "fees": Decimal(0),
            "pnl": Decimal(0),
            "funding": Decimal(0),
        }
    )
    for row in counts:
        entry = totals[(row["exchange"], settle_currency(row["symbol"]))]
        if row["status"] == TradeStatus.FILLED:
            entry["fills"] += row["n"]
            entry["fees"] += row["fees"] or Decimal(0)
            pnl = _realized_pnl(row["exchange"], row["symbol"], start, end)
            entry["pnl"] += pnl
        else:
            entry["rejected"] += row["n"]
    funding = (
        FundingPayment.objects.filter(paid_at__gte=start, paid_at__lt=end)
        .values("exchange", "symbol")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in funding:
        entry = totals[(row["exchange"], settle_currency(row["symbol"]))]
        entry["funding"] += row["total"]
        entry["pnl"] += row["total"]
    return [
        DayTotals(
            exchange,
            currency,
            int(entry["fills"]),
            int(entry["rejected"]),
            Decimal(entry["fees"]),
            Decimal(entry["pnl"]),
            Decimal(entry["funding"]),
        )
        for (exchange, currency), entry in sorted(totals.items())
    ]


def _realized_pnl(exchange: str, symbol: str, start: datetime, end: datetime) -> Decimal:
    """The PnL realized between `start` and `end` by one symbol's filled trades, with every
    earlier fill replayed for the entry prices."""
    ledger = Ledger()
    realized = 0.0
    fills = (
        Trade.objects.filter(
            exchange=exchange,
            symbol=symbol,
            status=TradeStatus.FILLED,
            price__isnull=False,
            created_at__lt=end,
        )
        .order_by("id")
        .values_list("side", "action", "size", "price", "created_at")
    )
    for side, action, size, price, created_at in fills.iterator():
        fill = ledger.fill(side, action, float(size), float(price))
        if created_at >= start:
            realized += fill.realized_pnl
    return Decimal(repr(realized))


def daily_summary_notifications(*, day: date) -> list[Notification]:
    """One `daily_summary` for `day`, the first time it is asked for."""
    totals = day_totals(day)
    if not mark_told(key=f"daily_summary:{day.isoformat()}"):
        return []
    return [texts.daily_summary(day=day, totals=totals)]
