"""Backtests: recorded trades or 1-minute candles replayed through the engine.

`readers.open_ticks` turns data files into batches of `(ts_ms, price, signed taker qty)` ticks
for `SymbolEngine.run`, with pyarrow and numpy; `rows.read_ticks` yields the same ticks one at
a time with Python's csv module, for the bot's replay feed and to explain a bad line;
`formats` sniffs a file's format; `runner.Backtest` replays ticks with simulated fills;
`replay.replay` runs one whole backtest, for `manage.py backtest` and the dashboard's jobs
alike; `scenario` reads scenario files. Nothing here imports Django or asyncio. The package
itself imports nothing, and `rows` and `formats` only the standard library, so that the bot
(scenarios, and a replay feed at most) does not load pyarrow and numpy.
"""
