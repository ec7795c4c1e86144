"""Bybit public trades on the event loop: ccxt's own parsing against levelbot's lean reading.

Each case hands one `publicTrade` message of 1, 100 or 1,000 trades (a moment of a busy market
arrives as one message) to the bybit client's `handle_trades`, as ccxt's websocket client does
on the event loop, and times it: ccxt.pro's bybit class, and the one levelbot makes
(`trading/exchange/bybittrades.py`). The trades are copies of a real one from Bybit's recorded
stream. No network. Medians of `--runs` calls; the ratio is what to read on a shared machine.

Run: `.venv/bin/python bench/feed_parse.py [--runs N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "levelbot.settings")

from tests.exchange.test_bybit_recorded import BTC_MARKET, RECORDING  # noqa: E402
from trading.exchange.accounts import AccountConfig, make_client  # noqa: E402
from trading.exchange.ccxtload import exchange_class  # noqa: E402


class Stream:
    """What the handler needs of ccxt's websocket client."""

    url = "wss://stream.bybit.com/v5/public/linear"

    def resolve(self, result: Any, message_hash: str) -> None:
        pass


def recorded_trade() -> dict[str, Any]:
    with RECORDING.open() as f:
        for line in f:
            message = json.loads(line)["msg"]
            if message.get("topic") == "publicTrade.BTCUSDT":
                return dict(message["data"][0])
    raise SystemExit(f"{RECORDING} holds no publicTrade.BTCUSDT message")


def median_ms(client: Any, message: dict[str, Any], runs: int) -> float:
    stream = Stream()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        client.handle_trades(stream, message)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31, help="calls per case; medians shown")
    runs = parser.parse_args().runs
    lean = make_client(AccountConfig("bybit"))
    plain = exchange_class("bybit").__mro__[1]({})  # ccxt.pro's own bybit class
    for client in (lean, plain):
        client.set_markets([BTC_MARKET])
    trade = recorded_trade()
    print(f"bybit publicTrade messages through handle_trades, medians of {runs} calls")
    for size in (1, 100, 1000):
        message = {"topic": "publicTrade.BTCUSDT", "ts": trade["T"], "data": [trade] * size}
        ccxt_ms, lean_ms = median_ms(plain, message, runs), median_ms(lean, message, runs)
        print(
            f"{size:>5} trades: ccxt {ccxt_ms:7.3f} ms ({ccxt_ms * 1000 / size:5.1f} us a trade)"
            f"  lean {lean_ms:7.3f} ms ({lean_ms * 1000 / size:5.1f} us a trade)"
            f"  {ccxt_ms / lean_ms:4.1f}x"
        )


if __name__ == "__main__":
    main()
