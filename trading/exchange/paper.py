"""The paper exchange: simulated fills on the bot's own database, the same way every time.

Fills happen at the decision's tick price moved by slippage, with a taker fee, into one
aggregate position per side (hedge mode) with an average entry price. The account lives in the
database (PaperPosition, PaperFill), so a restarted bot continues the same account, and an
order's client id finds its fill again after a crash. The arithmetic is the backtest's Ledger.
There is no funding: the synthetic and replayed feeds carry no funding rates, so a paper
account never pays or receives any.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

from django.db import connection, transaction
from django.utils import timezone

from trading.accounting import Ledger, SidePosition
from trading.engine import SIDES
from trading.exchange.base import (
    FILLED,
    REJECTED,
    OrderRequest,
    OrderResult,
    PositionInfo,
    one_by_one,
)
from trading.models import PaperFill, PaperPosition
from trading.numbers import decimal_of
from trading.runtime import database

# The order path writes the account with SQL of its own, as the bot does its records (see
# trading/runtime/sqlrows.py): the rows the models would write, in a fraction of the time.
_INSERT_FILL = """
    INSERT INTO trading_paperfill (
        client_order_id, exchange, symbol, side, action, size, price, fee, realized_pnl,
        created_at
    )
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
    RETURNING id
"""
_UPSERT_POSITION = """
    INSERT INTO trading_paperposition (
        exchange, symbol, side, size, entry_price, round_trip_fees, realized_pnl, fees,
        updated_at
    )
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (exchange, symbol, side) DO UPDATE SET
        size = excluded.size,
        entry_price = excluded.entry_price,
        round_trip_fees = excluded.round_trip_fees,
        realized_pnl = excluded.realized_pnl,
        fees = excluded.fees,
        updated_at = excluded.updated_at
"""


def _result(fill: PaperFill) -> OrderResult:
    return OrderResult(
        fill.client_order_id,
        FILLED,
        filled_size=float(fill.size),
        price=float(fill.price),
        fee=float(fill.fee),
        exchange_order_id=f"paper-{fill.pk}",
    )


class PaperExchange:
    """Simulates one exchange account; `name` is the exchange id it stands in for."""

    def __init__(self, name: str, *, fee_rate: float = 0.0, slippage_bps: float = 0.0) -> None:
        self.name = name
        self.fee_rate = fee_rate
        self.slippage_bps = slippage_bps
        # symbol -> side -> its row, kept by the order path's thread after the first read
        self.accounts: dict[str, dict[str, PaperPosition]] = {}

    async def place_order(self, order: OrderRequest) -> OrderResult:
        return await database.orders.submit(self.place_order_sync, order, later=True)

    def place_orders(
        self, orders: Sequence[OrderRequest]
    ) -> AsyncIterator[tuple[int, OrderResult | Exception]]:
        return one_by_one(self, orders)

    async def find_order(self, client_order_id: str, symbol: str = "") -> OrderResult | None:
        return await database.orders.submit(self.find_order_sync, client_order_id, later=True)

    async def positions(self, symbol: str) -> dict[str, PositionInfo]:
        return await database.orders.submit(self.positions_sync, symbol, later=True)

    async def free_margin(self, symbol: str) -> float | None:
        return None  # the paper account does not model margin: the check is live only

    async def protect(self, symbol: str, side: str, stop_price: float | None) -> str | None:
        return None  # the paper account lives in the bot: its own stop is the one

    async def close(self) -> None:
        return None

    def place_order_sync(self, order: OrderRequest) -> OrderResult:
        """On the order path's database thread, the only one that writes the paper account:
        the account's rows are read once and kept, and an order costs two statements."""
        if not order.size > 0:
            return OrderResult(order.client_order_id, REJECTED, error="The size must be above 0.")
        rows = self._rows(order.symbol)
        ledger = Ledger(fee_rate=self.fee_rate, slippage_bps=self.slippage_bps)
        for side, row in rows.items():
            ledger.positions[side] = SidePosition(
                float(row.size), float(row.entry_price), float(row.round_trip_fees)
            )
        if order.action == "close" and not ledger.positions[order.side].size:
            return OrderResult(
                order.client_order_id,
                REJECTED,
                error=f"There is no {order.side} position to close.",
            )
        fill = ledger.fill(order.side, order.action, order.size, order.price)
        held = ledger.positions[order.side]
        row = rows[order.side]
        row.size = decimal_of(held.size)
        row.entry_price = decimal_of(held.entry_price)
        row.round_trip_fees = decimal_of(held.round_trip_fees)
        row.realized_pnl += decimal_of(fill.realized_pnl)
        row.fees += decimal_of(fill.fee)
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        size, price, fee = decimal_of(fill.size), decimal_of(fill.price), decimal_of(fill.fee)
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # The fill first: its client id is unique, so an order sent twice fails here,
                # before the position moves.
                cursor.execute(
                    _INSERT_FILL,
                    (
                        order.client_order_id,
                        self.name,
                        order.symbol,
                        order.side,
                        order.action,
                        size,
                        price,
                        fee,
                        decimal_of(fill.realized_pnl),
                        now,
                    ),
                )
                (pk,) = cursor.fetchone()
                cursor.execute(
                    _UPSERT_POSITION,
                    (
                        self.name,
                        order.symbol,
                        order.side,
                        row.size,
                        row.entry_price,
                        row.round_trip_fees,
                        row.realized_pnl,
                        row.fees,
                        now,
                    ),
                )
        except BaseException:
            del self.accounts[order.symbol]  # read again: the rows hold what was not written
            done = PaperFill.objects.filter(client_order_id=order.client_order_id).first()
            if done is not None:
                return _result(done)  # the same order again: an exchange would refuse the id
            raise
        return OrderResult(
            order.client_order_id,
            FILLED,
            filled_size=float(size),
            price=float(price),
            fee=float(fee),
            exchange_order_id=f"paper-{pk}",
        )

    def _rows(self, symbol: str) -> dict[str, PaperPosition]:
        """The account's two sides on `symbol`, read from the database the first time."""
        rows = self.accounts.get(symbol)
        if rows is None:
            found = {
                row.side: row
                for row in PaperPosition.objects.filter(exchange=self.name, symbol=symbol)
            }
            rows = {
                side: found.get(side) or PaperPosition(exchange=self.name, symbol=symbol, side=side)
                for side in SIDES
            }
            self.accounts[symbol] = rows
        return rows

    def find_order_sync(self, client_order_id: str) -> OrderResult | None:
        fill = PaperFill.objects.filter(client_order_id=client_order_id).first()
        return _result(fill) if fill is not None else None

    def positions_sync(self, symbol: str) -> dict[str, PositionInfo]:
        rows = PaperPosition.objects.filter(exchange=self.name, symbol=symbol, size__gt=0)
        return {
            row.side: PositionInfo(row.side, float(row.size), float(row.entry_price))
            for row in rows
        }
