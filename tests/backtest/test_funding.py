"""Funding in backtests: the funding-rate files, and what each open side pays or receives."""

from __future__ import annotations

import gzip
import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from tests.shared_data import GOLDEN, GOLDEN_SCENARIOS
from trading.accounting import Ledger, funding_amount
from trading.backtest.formats import DataFileError
from trading.backtest.funding import FundingRates, read_funding
from trading.backtest.runner import Backtest
from trading.backtest.scenario import Scenario, scenario_from_dict
from trading.engine import LONG, SHORT

SYMBOL = "BTC/USDT:USDT"


def write(tmp_path: Path, text: str, name: str = "funding.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- the files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, symbol",
    [
        ("timestamp,symbol,fundingRate", SYMBOL),  # ccxt, flattened
        ("symbol,fundingRate,fundingRateTimestamp", "BTCUSDT"),  # Bybit
        ("symbol,fundingTime,fundingRate,markPrice", "BTCUSDT"),  # Binance USD-M
        ("timestamp,fundingRate,symbol", "btc-usdt-swap"),  # OKX's market id, any case
    ],
)
def test_each_spelling_of_the_columns_reads_the_same_rates(tmp_path, header, symbol):
    names = header.split(",")
    values = {"symbol": symbol, "fundingrate": "{rate}", "markprice": "64000"}
    row = ",".join(values.get(n.lower(), "{ts}") for n in names)
    body = "\n".join(
        row.format(ts=ts, rate=rate) for ts, rate in ((1000, "0.0001"), (2000, "-2e-4"))
    )
    rates = read_funding([write(tmp_path, f"{header}\n{body}\n")], SYMBOL)
    assert (rates.times, rates.rates) == ((1000, 2000), (0.0001, -0.0002))


def test_a_file_without_a_symbol_column_is_read_for_the_replayed_symbol(tmp_path):
    rates = read_funding([write(tmp_path, "timestamp,fundingRate\n5,0.0001\n")], SYMBOL)
    assert rates.times == (5,) and rates.first_ts == rates.last_ts == 5


def test_gzip_files_read_and_several_files_join_in_order(tmp_path):
    first = tmp_path / "a.csv.gz"
    first.write_bytes(gzip.compress(b"timestamp,fundingRate\n1000,0.0001\n"))
    second = write(tmp_path, "timestamp,fundingRate\n2000,0.0003\n", "b.csv")
    assert read_funding([first, second], SYMBOL).rates == (0.0001, 0.0003)


@pytest.mark.parametrize(
    "text, line, message",
    [
        ("time,rate\n1,0.1\n", 1, "no column for a time .* nor a rate"),
        ("timestamp,symbol\n1,BTCUSDT\n", 1, r"no column for a rate \(fundingRate\)"),
        ("timestamp,fundingRate\n1000,0.0001\n2000,abc\n", 3, "fundingRate 'abc' is not a number"),
        ("timestamp,fundingRate\n1000,nan\n", 2, "fundingRate 'nan' is not a number"),
        ("timestamp,fundingRate\n1.5,0.0001\n", 2, "timestamp '1.5' is not a whole number"),
        (
            "timestamp,fundingRate\n1000,0.1\n2000,0.1,9\n",
            3,
            "has 3 fields, where the header has 2",
        ),
        ("timestamp,fundingRate\n2000,0.1\n\n1000,0.1\n", 4, "time does not move forward"),
        ("timestamp,fundingRate\n2000,0.1\n2000,0.1\n", 3, "time does not move forward"),
        ("timestamp,symbol,fundingRate\n1000,ETHUSDT,0.1\n", 2, "'ETHUSDT' is not the replayed"),
    ],
)
def test_bad_input_names_the_file_and_line(tmp_path, text, line, message):
    path = write(tmp_path, text)
    with pytest.raises(DataFileError, match=message) as caught:
        read_funding([path], SYMBOL)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{path}, line {line}: ")


def test_files_out_of_time_order_are_refused_naming_both(tmp_path):
    late = write(tmp_path, "timestamp,fundingRate\n5000,0.1\n", "late.csv")
    early = write(tmp_path, "timestamp,fundingRate\n1000,0.1\n", "early.csv")
    with pytest.raises(DataFileError, match=f"previous file {late} ends at 5000") as caught:
        read_funding([late, early], SYMBOL)
    assert (caught.value.path, caught.value.line) == (early, 2)


def test_a_missing_or_headless_file_is_refused(tmp_path):
    with pytest.raises(DataFileError, match="no such file"):
        read_funding([tmp_path / "none.csv"], SYMBOL)
    with pytest.raises(DataFileError, match="has a header and no rows"):
        read_funding([write(tmp_path, "timestamp,fundingRate\n")], SYMBOL)


# -- the arithmetic ------------------------------------------------------------------------


def test_longs_pay_a_positive_rate_and_shorts_receive_it():
    assert funding_amount(LONG, 2.0, 100.0, 0.001) == pytest.approx(-0.2)
    assert funding_amount(SHORT, 2.0, 100.0, 0.001) == pytest.approx(0.2)
    assert funding_amount(LONG, 2.0, 100.0, -0.001) == pytest.approx(0.2)
    assert funding_amount(SHORT, 2.0, 100.0, -0.001) == pytest.approx(-0.2)
    ledger = Ledger()
    assert ledger.settle_funding(0.001, 100.0) == {}  # nothing held, nothing paid
    ledger.fill(LONG, "open", 1.0, 90.0)
    ledger.fill(SHORT, "open", 3.0, 95.0)
    assert ledger.settle_funding(0.001, 100.0) == pytest.approx({LONG: -0.1, SHORT: 0.3})
    assert ledger.funding == pytest.approx(0.2)
    assert ledger.equity_line()[0] == pytest.approx(-90.0 + 285.0 + 0.2)


def one_level(price: float) -> Scenario:
    """A level at `price`, tier 1 at 5%, 1.0 a fill, no cooldown, no sentiment."""
    scenario = scenario_from_dict(
        {
            "exchange": "binanceusdm",
            "symbol": SYMBOL,
            "tiers": {"tier1_pct": 0.05, "tier2_pct": 0.03, "tier3_pct": 0.01},
            "sentiment": {"enabled": False},
            "levels": [{"id": "L", "level_price": price, "base_size": 1.0, "cool_down_ms": 0}],
        }
    )
    return scenario


# A level at 100: a LONG of 1.0 opens at 95.5 on the tick at 2000 ms (tier 1 at 95 crossed).
LONG_PATH = ((1000, 94.0), (2000, 95.5), (3000, 95.2), (4000, 95.0))
# A level at 100 approached from above: a SHORT of 1.0 opens at 104.5 at 2000 ms (tier at 105).
SHORT_PATH = ((1000, 106.0), (2000, 104.5), (3000, 104.8), (4000, 105.0))
FUNDING = FundingRates(
    times=(500, 1500, 2500, 3000, 4000, 9000),
    rates=(0.5, 0.5, 0.001, -0.002, 0.5, 0.5),
    files=(),
)


def replay(path, batch: int, funding: FundingRates | None = FUNDING) -> Backtest:
    backtest = Backtest(one_level(100.0), funding=funding)
    ts = np.array([t for t, _ in path], dtype=np.int64)
    price = np.array([p for _, p in path])
    for i in range(0, len(ts), batch):
        backtest.feed(ts[i : i + batch], price[i : i + batch], np.zeros(len(ts[i : i + batch])))
    return backtest


@pytest.mark.parametrize("batch", [1, 2, 4])
def test_a_long_pays_a_positive_rate_and_receives_a_negative_one_at_the_last_price(batch):
    backtest = replay(LONG_PATH, batch)
    assert [(o["side"], o["action"], o["price"]) for o in backtest.result.orders] == [
        (LONG, "open", 95.5)
    ]
    summary = backtest.summary()
    # 500 is before the first tick and 4000 is the last tick's time: outside the replay. At
    # 1500 nothing is held (pays nothing); 2500 pays 95.5 * 0.001; 3000 receives at 95.2.
    assert summary["funding"] == pytest.approx(-0.0955 + 0.1904)
    assert summary["funding_events"] == 3
    assert summary["funding_span"] == [500, 9000]
    assert summary["net_pnl"] == pytest.approx(summary["unrealized_pnl"] + summary["funding"])
    assert backtest.result.equity_curve[-1][1] == pytest.approx(summary["net_pnl"])


@pytest.mark.parametrize("batch", [1, 3, 4])
def test_a_short_receives_a_positive_rate_and_pays_a_negative_one(batch):
    summary = replay(SHORT_PATH, batch).summary()
    assert summary["open_position"] == {LONG: 0.0, SHORT: 1.0}
    assert summary["funding"] == pytest.approx(104.5 * 0.001 - 104.8 * 0.002)


def test_funding_paid_deepens_the_drawdown():
    flat = replay(LONG_PATH, 4, funding=None).summary()
    paying = FundingRates(times=(2500,), rates=(0.01,), files=())
    charged = replay(LONG_PATH, 4, funding=paying).summary()
    assert flat["funding"] == 0 and flat["funding_span"] is None
    assert charged["funding"] == pytest.approx(-0.955)
    assert charged["max_drawdown"] == pytest.approx(flat["max_drawdown"] + 0.955)


# -- the command ---------------------------------------------------------------------------


def backtest_command(*args: str) -> str:
    out = StringIO()
    call_command(
        "backtest",
        "--data",
        str(GOLDEN_SCENARIOS["btcusdt_2024-07-19"]),
        "--config",
        str(GOLDEN / "btcusdt_2024-07-19.scenario.json"),
        *args,
        stdout=out,
    )
    return out.getvalue()


@pytest.mark.django_db
def test_the_json_report_counts_funding_in_the_net_pnl(tmp_path):
    # The replay runs 00:00:02 to 00:05:02 UTC; the file covers only two times inside it.
    rates = write(
        tmp_path,
        "fundingRateTimestamp,symbol,fundingRate\n"
        "1721318400000,BTCUSDT,0.0001\n1721347300000,BTCUSDT,0.0001\n"
        "1721347400000,BTCUSDT,-0.0002\n",
    )
    plain = json.loads(backtest_command("--json"))
    summary = json.loads(backtest_command("--json", "--funding", str(rates)))
    assert (plain["funding"], plain["funding_events"], plain["funding_span"]) == (0.0, 0, None)
    assert summary["funding_events"] == 2
    assert summary["funding"] != 0
    assert summary["orders"] == plain["orders"]  # accounting, not a trading rule
    assert summary["net_pnl"] == pytest.approx(plain["net_pnl"] + summary["funding"])
    text = backtest_command("--funding", str(rates))
    assert "funding   " in text and "at 2 funding time(s)" in text
    assert "not the whole replay: funding counted only there" in text


@pytest.mark.django_db
def test_a_bad_funding_file_stops_the_command_naming_file_and_line(tmp_path):
    rates = write(tmp_path, "timestamp,symbol,fundingRate\n1721347300000,ETHUSDT,0.0001\n")
    with pytest.raises(CommandError, match=rf"{rates.name}, line 2: the symbol 'ETHUSDT'"):
        backtest_command("--funding", str(rates))
