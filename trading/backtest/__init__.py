"""Backtests: recorded trades or 1-minute candles replayed through the engine.

`open_ticks` turns data files into batches of `(ts_ms, price, signed taker qty)` ticks for
`SymbolEngine.run`. Nothing here imports Django or asyncio.
"""

from trading.backtest.formats import FORMATS, DataFileError, Format
from trading.backtest.readers import CANDLE_NOTE, ReadStats, TickBatch, TickStream, open_ticks

__all__ = [
    "CANDLE_NOTE",
    "FORMATS",
    "DataFileError",
    "Format",
    "ReadStats",
    "TickBatch",
    "TickStream",
    "open_ticks",
]
