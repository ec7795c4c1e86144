"""What every feed gives the runtime: batches of ticks for one (exchange, symbol)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

Ticks = list[tuple[int, float, float]]


class Feed(Protocol):
    """An async source of tick batches `(ts_ms, price, signed taker qty)` in event-time order.

    `can_stall` says whether silence means trouble: a live feed can go stale, a replay or a
    synthetic walk cannot. A feed that ends (a replay at the end of its file) stops its symbol.
    """

    description: str
    can_stall: bool
    reconnects: int  # times the source reconnected; 0 for one that cannot drop
    last_error: str
    # time.perf_counter() when the oldest tick of the batch last yielded came in: where a
    # tick's latency to its order starts, queueing behind earlier work included.
    received_at: float

    def batches(self) -> AsyncIterator[Ticks]: ...
