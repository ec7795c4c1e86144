"""Backtests: recorded trades or 1-minute candles replayed through the engine.

`readers.open_ticks` turns data files into batches of `(ts_ms, price, signed taker qty)` ticks
for `SymbolEngine.run`; `runner.Backtest` replays them with simulated fills; `replay.replay`
runs one whole backtest, for `manage.py backtest` and the dashboard's jobs alike; `scenario`
reads scenario files. Nothing here imports Django or asyncio. The package itself imports nothing, so
that a process needing only scenarios (the bot) does not load pyarrow and numpy.
"""
