"""The one-exchange import of ccxt: guards the stand-in packages against ccxt upgrades."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from trading.exchange.ccxtload import SUPPORTED, exchange_class

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from trading.exchange.ccxtload import exchange_class, full_ccxt_loaded
cls = exchange_class(sys.argv[1])
client = cls({"enableRateLimit": False})
rest = sys.modules["ccxt.async_support"]
exchanges = sorted(
    name.rsplit(".", 1)[1] for name in sys.modules
    if name.startswith(("ccxt.async_support.", "ccxt.pro.")) and ".base" not in name
)
print(json.dumps({
    "id": client.id,
    "full": full_ccxt_loaded(),
    "exchanges": sorted(set(exchanges)),
    "has_watch": all(hasattr(client, m) for m in ("watch_ticker", "watch_trades", "watch_orders")),
    "errors": [hasattr(rest, n) for n in ("NetworkError", "InvalidOrder", "RateLimitExceeded")],
    # VmHWM, not ru_maxrss: the latter survives exec and would report pytest's own peak.
    "rss_mb": next(
        int(line.split()[1]) / 1024 for line in open("/proc/self/status")
        if line.startswith("VmHWM:")
    ),
}))
"""


@pytest.mark.parametrize("exchange_id", SUPPORTED)
def test_one_exchange_loads_without_the_rest_of_ccxt(exchange_id: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, exchange_id],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    probe = json.loads(done.stdout)
    assert probe["id"] == exchange_id
    assert probe["full"] is False
    assert probe["has_watch"] is True
    assert probe["errors"] == [True, True, True]
    # The exchange itself, and for binanceusdm the binance class it extends: nothing else.
    allowed = {exchange_id, "binance"} if exchange_id == "binanceusdm" else {exchange_id}
    assert set(probe["exchanges"]) == allowed
    # The whole of ccxt.pro costs about 111 MB; one exchange stays far below.
    assert probe["rss_mb"] < 75


def test_unsupported_exchange_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="does not trade on 'kraken'"):
        exchange_class("kraken")


def test_real_ccxt_already_imported_is_used_as_is() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ccxt.pro, sys; from trading.exchange.ccxtload import exchange_class, "
            "full_ccxt_loaded; c = exchange_class('okx'); b = exchange_class('bybit'); "
            "print(c is ccxt.pro.okx, issubclass(b, ccxt.pro.bybit), full_ccxt_loaded())",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == ["True", "True", "True"]  # bybit: its public trades read lean
