"""Funding settled by the exchange on a live account: read off the tick path, recorded once.

While `runbot --live` runs, `follow_funding` asks the exchange every `FUNDING_POLL_S` seconds
(so within a minute of each funding time, whatever the symbol's interval) for the funding
settled on each symbol the bot trades, and records what is new as `FundingPayment` rows. Each
read starts at the last settlement recorded for the symbol (read again: the exchange's id for a
settlement is unique, so it is recorded once however often it is read), or, the first time, at
the bot's first order on the symbol; never more than `LOOKBACK` back, the longest span Bybit
answers from one start time. A read that fails is logged and tried again at the next poll.

The paper exchange has no funding: a paper account never pays or receives any.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

import structlog
from django.db import transaction
from django.utils import timezone

from trading.exchange.base import FundingSettlement
from trading.models import FundingPayment, Trade
from trading.runtime import database
from trading.runtime.dailyloss import FundingPaid

log = structlog.get_logger("levelbot.funding")

FUNDING_POLL_S = 60.0
LOOKBACK = timedelta(days=7) - timedelta(minutes=5)
STORED_PLACES = Decimal("1e-12")  # the models' decimal places (PRICE)


@runtime_checkable
class FundingSource(Protocol):
    """An exchange that reports the funding it settles (the live one; paper has none)."""

    async def funding_settlements(self, symbol: str, since_ms: int) -> list[FundingSettlement]: ...


class FundingSymbol(Protocol):
    exchange_id: str
    symbol: str
    exchange: object


async def read_funding(exchange_id: str, symbol: str, source: FundingSource) -> int:
    """Read one symbol's funding since the last settlement recorded and record the new ones;
    how many were new."""
    since_ms = await database.house.call(funding_read_from, exchange_id, symbol)
    settlements = await source.funding_settlements(symbol, since_ms)
    new = await database.house.call(funding_record, exchange_id, settlements)
    if new:
        log.info("funding recorded", exchange=exchange_id, symbol=symbol, settlements=new)
    return new


async def follow_funding(
    symbols: Callable[[], Iterable[FundingSymbol]],
    stop: asyncio.Event,
    *,
    every_s: float = FUNDING_POLL_S,
) -> None:
    """Read the funding of every symbol `symbols()` names whose exchange reports it, now and
    then every `every_s` seconds, until `stop` is set."""
    while not stop.is_set():
        for traded in list(symbols()):
            if not isinstance(traded.exchange, FundingSource):
                continue
            try:
                await read_funding(traded.exchange_id, traded.symbol, traded.exchange)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the exchange or the network: the next poll tries again
                log.warning(
                    "funding not read",
                    exchange=traded.exchange_id,
                    symbol=traded.symbol,
                    error=f"{type(e).__name__}: {e}",
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)


# -- the database ------------------------------------------------------------------------


def funding_read_from(exchange: str, symbol: str, *, now: datetime | None = None) -> int:
    """Where the next read starts, in ms: the last settlement recorded for the symbol, else the
    bot's first order on it, else now; never more than LOOKBACK back."""
    now = now or timezone.now()
    last = (
        FundingPayment.objects.filter(exchange=exchange, symbol=symbol)
        .order_by("-paid_at")
        .values_list("paid_at", flat=True)
        .first()
    )
    if last is None:
        last = (
            Trade.objects.filter(exchange=exchange, symbol=symbol)
            .order_by("created_at")
            .values_list("created_at", flat=True)
            .first()
        )
    start = max(last or now, now - LOOKBACK)
    return int(start.timestamp() * 1000)


def funding_record(exchange: str, settlements: Sequence[FundingSettlement]) -> int:
    """Record the settlements not recorded yet, in one transaction; how many were new."""
    if not settlements:
        return 0
    with transaction.atomic():
        known = set(
            FundingPayment.objects.filter(
                exchange=exchange, settlement_id__in=[s.settlement_id for s in settlements]
            ).values_list("symbol", "settlement_id")
        )
        rows = []
        for s in settlements:
            if (s.symbol, s.settlement_id) in known:
                continue
            known.add((s.symbol, s.settlement_id))
            row = FundingPayment(
                exchange=exchange,
                symbol=s.symbol,
                side=s.side,
                amount=_stored(s.amount),
                rate=None if s.rate is None else _stored(s.rate),
                paid_at=datetime.fromtimestamp(s.ts_ms / 1000, tz=UTC),
                settlement_id=s.settlement_id,
            )
            row.full_clean(validate_unique=False, validate_constraints=False)
            rows.append(row)
        # A second bot on the same database may have recorded one meanwhile: still once.
        FundingPayment.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _stored(value: float) -> Decimal:
    return Decimal(repr(value)).quantize(STORED_PLACES)


def funding_since(floor: int) -> list[FundingPaid]:
    """The funding recorded with an id above `floor`, in id order, for the daily loss."""
    rows = (
        FundingPayment.objects.filter(id__gt=floor)
        .order_by("id")
        .values_list("id", "exchange", "amount", "paid_at")
    )
    return [FundingPaid(pk, exchange, float(amount), at) for pk, exchange, amount, at in rows]
