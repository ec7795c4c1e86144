"""The one interface every exchange adapter implements, and the records it speaks in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Protocol

FILLED = "filled"
REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A market order: `action` open/add buys a LONG or sells a SHORT; close does the opposite.

    `price` is the tick price the decision was made at: the paper exchange fills there, a real
    exchange ignores it except to cap slippage.
    """

    exchange: str
    symbol: str
    side: str
    action: str
    size: float
    price: float
    client_order_id: str


@dataclass(frozen=True, slots=True)
class OrderResult:
    client_order_id: str
    status: str  # FILLED or REJECTED
    filled_size: float = 0.0
    price: float | None = None
    fee: float = 0.0
    exchange_order_id: str = ""
    error: str = ""


# Orders' answers as the bot records them: each order's client id, with the exchange's answer.
Answers = list[tuple[str, OrderResult]]


@dataclass(frozen=True, slots=True)
class PositionInfo:
    side: str
    size: float
    entry_price: float
    unrealized_pnl: float = 0.0


@dataclass(frozen=True, slots=True)
class FundingSettlement:
    """Funding the exchange paid or charged one position side of a symbol at one funding time.

    `amount` is in the settle currency, received above 0 and paid below 0; `side` is "" and
    `rate` None where the exchange does not say; `settlement_id` is the exchange's own id.
    """

    symbol: str
    side: str
    amount: float
    rate: float | None
    ts_ms: int
    settlement_id: str


class Exchange(Protocol):
    """What runbot needs of an exchange. Implementations never raise for a refused order:
    they return a REJECTED result with the exchange's reason."""

    name: str

    async def place_order(self, order: OrderRequest) -> OrderResult: ...

    def place_orders(
        self, orders: Sequence[OrderRequest]
    ) -> AsyncIterator[tuple[int, OrderResult | Exception]]:
        """Orders that wait for nothing, sent together: in one request where the exchange
        takes several (else `one_by_one`). Each order's answer comes as soon as it is known,
        with the order's index: its result, or the exception its sending raised
        (`OrderOutcomeUnknown` when the exchange may have it)."""
        ...

    async def find_order(self, client_order_id: str, symbol: str) -> OrderResult | None:
        """The order with this client id on this symbol, if the exchange ever received it."""
        ...

    async def positions(self, symbol: str) -> dict[str, PositionInfo]: ...

    async def free_margin(self, symbol: str) -> float | None:
        """The account's free margin in the symbol's settle currency; None when unknown."""
        ...

    async def protect(self, symbol: str, side: str, stop_price: float | None) -> str | None:
        """Rest a stop-loss for a side's position on the exchange (None removes it), so that it
        holds if the bot dies; returns None, or why the exchange could not."""
        ...

    async def close(self) -> None: ...


def one_by_one(
    exchange: Exchange, orders: Sequence[OrderRequest]
) -> AsyncIterator[tuple[int, OrderResult | Exception]]:
    """`place_orders` for an exchange that takes one order a request: each goes out at once,
    beside the others."""
    return as_answered([exchange.place_order(order) for order in orders])


async def as_answered(
    answers: Sequence[Awaitable[OrderResult]],
) -> AsyncIterator[tuple[int, OrderResult | Exception]]:
    """Orders' answers awaited side by side, each given with its index as soon as it comes:
    its result, or the exception it raised. One alone is awaited in place, without a task."""
    if len(answers) == 1:
        try:
            outcome: OrderResult | Exception = await answers[0]
        except Exception as e:
            outcome = e
        yield 0, outcome
        return
    index = {asyncio.ensure_future(answer): i for i, answer in enumerate(answers)}
    pending = set(index)
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=index.__getitem__):
                error = task.exception()
                if error is not None and not isinstance(error, Exception):
                    raise error
                yield index[task], error if error is not None else task.result()
    finally:
        for task in pending:
            task.cancel()
