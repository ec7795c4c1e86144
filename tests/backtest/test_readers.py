"""Data files to ticks: every format and compression, streaming, and a clear error per fault."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import trading.backtest
from tests.shared_data import SHARED, TRADES
from trading.backtest.formats import DataFileError, parse_datetime_us, parse_float, parse_int
from trading.backtest.readers import CANDLE_NOTE, TickBatch, open_ticks

FTX = SHARED / "data" / "ohlcv" / "ftx_BTC-PERP_1m_2021-12-31_2022-02-01_nautilus.csv"
CAPTURES = {
    "binance_usdm_BTCUSDT_trades_2024-08-08T2354_hftbacktest.csv": 21_313,
    "binance_usdm_BTCUSDT_trades_2024-07-19T0000_hftbacktest.csv": 9_727,
    "binance_usdm_ETHUSDT_trades_2024-08-08T2354_hftbacktest.csv": 14_076,
}

CANONICAL = """\
timestamp,local_ts,trade_id,price,amount,side,type
1000,1,1,100.5,0.25,buy,MARKET
1000,2,2,100.4,1.5,sell,MARKET
1001,3,3,100.0,2.0,sell,INSURANCE_FUND
1002,4,4,100.6,0.1,buy,MARKET
900,5,5,99.0,3.0,sell,ADL
1003,6,6,99.5,0.5,sell,INSURANCE_FUND
1004,7,7,100.7,0.2,buy,MARKET
"""
CANONICAL_TICKS = [(1000, 100.5, 0.25), (1000, 100.4, -1.5), (1002, 100.6, 0.1), (1004, 100.7, 0.2)]

PLAIN = """\
timestamp,price,amount,side
1723161256322,61800.30,0.006,buy
1723161256344,61800.20,0.199,sell
1723161256344,61800.10,0.045,SELL
"""
PLAIN_TICKS = [
    (1723161256322, 61800.3, 0.006),
    (1723161256344, 61800.2, -0.199),
    (1723161256344, 61800.1, -0.045),
]

TARDIS = """\
exchange,symbol,timestamp,local_timestamp,id,side,price,amount
binance-futures,BTCUSDT,1723161256322999,1723161256400000,5266583935,buy,61800.3,0.006
binance-futures,BTCUSDT,1723161256323000,1723161256400100,5266583936,sell,61800.2,0.5
binance-futures,BTCUSDT,1723161256323999,1723161256400200,5266583937,unknown,61800.1,0.2
"""
TARDIS_TICKS = [
    (1723161256322, 61800.3, 0.006),
    (1723161256323, 61800.2, -0.5),
    (1723161256323, 61800.1, 0.0),
]

BINANCE_ROWS = """\
5266583935,61800.30,0.006,370.8018,1723161256322,false
5266583936,61800.20,0.199,12298.2398,1723161256344,true
5266583937,61800.40,0.045,2781.018,1723161256431,True
5266583938,61800.50,0.010,618.005,1723161256431,False
"""
BINANCE = "id,price,qty,quote_qty,time,is_buyer_maker\n" + BINANCE_ROWS
BINANCE_TICKS = [
    (1723161256322, 61800.3, 0.006),
    (1723161256344, 61800.2, -0.199),
    (1723161256431, 61800.4, -0.045),
    (1723161256431, 61800.5, 0.01),
]

AGG_ROWS = """\
2279441023,61800.30,0.210,5266583935,5266583937,1723161256322,false
2279441024,61800.20,1.000,5266583938,5266583940,1723161256344,true
"""
AGG = (
    "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
    + AGG_ROWS
)
AGG_TICKS = [(1723161256322, 61800.3, 0.21), (1723161256344, 61800.2, -1.0)]

OHLCV_MS = """\
timestamp,open,high,low,close,volume
1640991660000,46319.0,46385.0,46300.0,46377.0,2300413.7
1640991720000,46377.0,46411.0,46350.0,46360.0,1829623.2
1640991780000,46360.0,46360.0,46360.0,46360.0,0
"""
T0 = 1640991660000  # 2021-12-31 23:01:00 UTC
OHLCV_TICKS = [
    # up candle: open, low, high, close
    (T0, 46319.0, 0.0),
    (T0 + 15_000, 46300.0, 0.0),
    (T0 + 30_000, 46385.0, 0.0),
    (T0 + 45_000, 46377.0, 0.0),
    # down candle: open, high, low, close
    (T0 + 60_000, 46377.0, 0.0),
    (T0 + 75_000, 46411.0, 0.0),
    (T0 + 90_000, 46350.0, 0.0),
    (T0 + 105_000, 46360.0, 0.0),
    # flat candle (close == open) goes as an up candle
    (T0 + 120_000, 46360.0, 0.0),
    (T0 + 135_000, 46360.0, 0.0),
    (T0 + 150_000, 46360.0, 0.0),
    (T0 + 165_000, 46360.0, 0.0),
]
OHLCV_DATETIME = (
    OHLCV_MS.replace("1640991660000", "2021-12-31 23:01:00.000000")
    .replace("1640991720000", "2021-12-31 23:02:00")
    .replace("1640991780000", "2021-12-31T23:03:00.000")
)

KINDS = {
    "canonical": ("trades.csv", CANONICAL, CANONICAL_TICKS),
    "canonical_no_type": ("trades.csv", PLAIN, PLAIN_TICKS),
    "tardis": ("binance-futures_trades_2024-08-08_BTCUSDT.csv", TARDIS, TARDIS_TICKS),
    "binance_trades": ("BTCUSDT-trades-2024-08-08.csv", BINANCE, BINANCE_TICKS),
    "binance_trades_headerless": ("BTCUSDT-trades-2024-08-08.csv", BINANCE_ROWS, BINANCE_TICKS),
    "binance_agg_trades": ("BTCUSDT-aggTrades-2024-08-08.csv", AGG, AGG_TICKS),
    "binance_agg_trades_headerless": ("BTCUSDT-aggTrades-2024-08-08.csv", AGG_ROWS, AGG_TICKS),
    "ohlcv_ms": ("candles.csv", OHLCV_MS, OHLCV_TICKS),
    "ohlcv_datetime": ("candles.csv", OHLCV_DATETIME, OHLCV_TICKS),
}


def write(directory: Path, name: str, text: str | bytes, how: str = "plain") -> Path:
    data = text.encode() if isinstance(text, str) else text
    if how == "gz":
        path = directory / f"{name}.gz"
        path.write_bytes(gzip.compress(data))
    elif how == "zip":
        path = directory / f"{Path(name).stem}.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(name, data)
    else:
        path = directory / name
        path.write_bytes(data)
    return path


def read(paths, **kwargs):
    stream = open_ticks(paths if isinstance(paths, list) else [paths], **kwargs)
    ticks = [tick for batch in stream for tick in batch]
    return ticks, stream.stats


def error_of(paths, **kwargs) -> str:
    with pytest.raises(DataFileError) as caught:
        read(paths, **kwargs)
    return str(caught.value)


def csv_module_ticks(path: Path) -> list[tuple[int, float, float]]:
    """The reference: the csv module, int() and float(), as a person would write it."""
    with path.open(newline="") as f:
        return [
            (
                int(row["timestamp"]),
                float(row["price"]),
                float(row["amount"]) if row["side"] == "buy" else -float(row["amount"]),
            )
            for row in csv.DictReader(f)
            if row["type"] == "MARKET"
        ]


# Formats


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_format_gives_its_ticks(tmp_path, kind):
    name, text, expected = KINDS[kind]
    ticks, stats = read(write(tmp_path, name, text))
    assert ticks == expected
    assert stats.ticks == len(expected)
    assert stats.candles == kind.startswith("ohlcv")
    assert (stats.first_ts, stats.last_ts) == (expected[0][0], expected[-1][0])


@pytest.mark.parametrize("how", ["gz", "zip"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_gzip_and_zip_read_as_the_plain_file(tmp_path, kind, how):
    name, text, expected = KINDS[kind]
    path = write(tmp_path, name, text, how)
    ticks, stats = read(path)
    assert ticks == expected
    assert stats.bytes_read == stats.total_bytes == path.stat().st_size


def test_canonical_skips_rows_that_are_not_market_trades_and_counts_them(tmp_path):
    ticks, stats = read(write(tmp_path, "trades.csv", CANONICAL))
    assert ticks == CANONICAL_TICKS
    assert stats.rows == 7
    assert stats.skipped_rows == 3
    assert stats.skipped_by_type == {"INSURANCE_FUND": 2, "ADL": 1}
    assert stats.formats == ("canonical trades",)


def test_ticks_are_plain_python_ints_and_floats(tmp_path):
    ticks, _ = read(write(tmp_path, "trades.csv", PLAIN))
    assert all(type(ts) is int and type(p) is float and type(q) is float for ts, p, q in ticks)


def test_a_batch_is_arrays_and_iterates_as_tuples_more_than_once(tmp_path):
    (batch,) = list(open_ticks([write(tmp_path, "trades.csv", PLAIN)]))
    assert isinstance(batch, TickBatch)
    assert len(batch) == 3
    assert (batch.ts.dtype, batch.price.dtype, batch.qty.dtype) == (
        np.int64,
        np.float64,
        np.float64,
    )
    assert list(batch) == list(batch) == PLAIN_TICKS


def test_tardis_microseconds_become_milliseconds_by_integer_division(tmp_path):
    ticks, _ = read(write(tmp_path, "t.csv", TARDIS))
    assert [ts for ts, _, _ in ticks] == [1723161256322, 1723161256323, 1723161256323]


def test_candles_are_flagged_and_the_caller_has_a_note_to_show(tmp_path):
    stream = open_ticks([write(tmp_path, "candles.csv", OHLCV_MS)])
    assert stream.stats.candles  # known before the first tick, to turn sentiment off
    assert stream.stats.formats == ("1-minute candles",)
    assert "candles hide the true price path" in CANDLE_NOTE


def test_candle_times_with_a_zone_offset(tmp_path):
    text = OHLCV_MS.replace("1640991660000", "2022-01-01T00:01:00+01:00")
    text = text.replace("1640991720000", "2021-12-31T23:02:00Z")
    text = text.replace("1640991780000", "2021-12-31T23:03:00.000+00:00")
    ticks, _ = read(write(tmp_path, "candles.csv", text))
    assert ticks == OHLCV_TICKS


def test_format_comes_from_the_content_not_the_name(tmp_path):
    gz_named_csv = tmp_path / "trades.csv"
    gz_named_csv.write_bytes(gzip.compress(BINANCE.encode()))
    assert read(gz_named_csv)[0] == BINANCE_TICKS
    assert read(write(tmp_path, "ohlcv_1m.txt", AGG_ROWS))[0] == AGG_TICKS


def test_crlf_blank_lines_bom_and_quotes(tmp_path):
    text = '\ufefftimestamp,price,amount,side\r\n1,"2.5",1,buy\r\n\r\n2,3.5,1,"sell"\r\n'
    assert read(write(tmp_path, "t.csv", text))[0] == [(1, 2.5, 1.0), (2, 3.5, -1.0)]


# Several files


def test_several_files_in_order_read_as_one_stream(tmp_path):
    a = write(tmp_path, "a.csv", PLAIN)
    b = write(
        tmp_path,
        "b.csv",
        "id,price,qty,quote_qty,time,is_buyer_maker\n1,5,1,5,1723161256344,true\n",
        "gz",
    )
    # the last tick of a.csv and the first of b.csv share a millisecond: that is in order
    c = write(tmp_path, "c.csv", AGG_ROWS.replace("1723161256", "1723161257"), "zip")
    ticks, stats = read([a, b, c])
    assert ticks == [
        *PLAIN_TICKS,
        (1723161256344, 5.0, -1.0),
        (1723161257322, 61800.3, 0.21),
        (1723161257344, 61800.2, -1.0),
    ]
    assert stats.files == 3
    assert stats.rows == 3 + 1 + 2
    assert stats.bytes_read == stats.total_bytes == sum(p.stat().st_size for p in (a, b, c))
    assert stats.formats == ("canonical trades", "Binance USD-M trades", "Binance USD-M aggTrades")


def test_a_file_that_starts_before_the_previous_one_ended_is_refused(tmp_path):
    a = write(tmp_path, "a.csv", PLAIN)
    b = write(tmp_path, "b.csv", "timestamp,price,amount,side\n\n1723161256343,1,1,buy\n")
    assert error_of([a, b]) == (
        f"{b}, line 3: the file starts at 1723161256343 (2024-08-08 23:54:16.343 UTC), before "
        f"the previous file {a} ends at 1723161256344 (2024-08-08 23:54:16.344 UTC): give the "
        "files in time order."
    )


def test_candle_files_in_order_and_overlapping(tmp_path):
    a = write(tmp_path, "a.csv", OHLCV_MS)
    later = "timestamp,open,high,low,close\n1640991840000,1,1,1,1\n"
    assert read([a, write(tmp_path, "b.csv", later)])[0][-1] == (1640991840000 + 45_000, 1.0, 0.0)
    # the last candle of a.csv ends (+45 s) at 1640991825000
    same_minute = write(tmp_path, "c.csv", "timestamp,open,high,low,close\n1640991780000,1,1,1,1\n")
    assert error_of([a, same_minute]).startswith(
        f"{same_minute}, line 2: the file starts at 1640991780000 (2021-12-31 23:03:00.000 UTC), "
        f"before the previous file {a} ends at 1640991825000 (2021-12-31 23:03:45.000 UTC)"
    )


def test_candles_and_trades_in_one_run_are_refused_before_reading(tmp_path):
    a = write(tmp_path, "a.csv", PLAIN)
    b = write(tmp_path, "b.csv", OHLCV_MS)
    with pytest.raises(DataFileError) as caught:
        open_ticks([a, b])
    assert str(caught.value) == (
        f"{b}: holds 1-minute candles, but {a} holds trades: a run replays trades or candles, "
        "not both."
    )


# Bad input: the file, the line and the fault


TRADE_HEADER = "timestamp,price,amount,side\n"


BAD_TRADE_ROWS = [
    ("1,100,1,buy\n2,abc,1,buy\n", 3, "price 'abc' is not a number."),
    ("1,100,1,buy\n2,,1,buy\n", 3, "price is empty."),
    ("1,0,1,buy\n", 2, "price '0' is not a price above 0."),
    ("1,100,1,buy\n2,-5.5,1,buy\n", 3, "price '-5.5' is not a price above 0."),
    ("1,nan,1,buy\n", 2, "price 'nan' is not a price above 0."),
    ("1,inf,1,buy\n", 2, "price 'inf' is not a price above 0."),
    ("1,1_000,1,buy\n", 2, "price '1_000' is not a number."),
    ("1,100,-1,buy\n", 2, "amount '-1' is not an amount of 0 or more."),
    ("1,100,x,buy\n", 2, "amount 'x' is not a number."),
    ("1,100,1,buy\n2,100,1,hold\n", 3, "side 'hold' is neither buy nor sell."),
    ("1,100,1,unknown\n", 2, "side 'unknown' is neither buy nor sell."),
    ("1,100,1,\n", 2, "side '' is neither buy nor sell."),
    ("1.5,100,1,buy\n", 2, "timestamp '1.5' is not a whole number of milliseconds."),
    (",100,1,buy\n", 2, "timestamp is empty."),
    ("1,100,1,buy\n2,100,1\n", 3, "has 3 fields, where the header has 4."),
    ("1,100,1,buy\n2,100,1,buy,extra\n", 3, "has 5 fields, where the header has 4."),
    (
        "2000,100,1,buy\n2000,100,1,buy\n\n1000,100,1,sell\n",
        5,
        "time goes backwards: 1000 (1970-01-01 00:00:01.000 UTC) comes after 2000 "
        "(1970-01-01 00:00:02.000 UTC) on line 3.",
    ),
]


@pytest.mark.parametrize(("rows", "line", "message"), BAD_TRADE_ROWS)
def test_a_bad_row_names_file_line_and_fault(tmp_path, rows, line, message):
    path = write(tmp_path, "trades.csv", TRADE_HEADER + rows)
    assert error_of(path) == f"{path}, line {line}: {message}"


BAD_ROWS_OF_OTHER_FORMATS = [
    (
        "tardis.csv",
        TARDIS.replace(",unknown,", ",hold,"),
        4,
        "side 'hold' is neither buy, sell nor unknown.",
    ),
    (
        "tardis.csv",
        TARDIS.replace("1723161256323000", "1723161256321000"),
        3,
        "time goes backwards: 1723161256321 (2024-08-08 23:54:16.321 UTC) comes after "
        "1723161256322 (2024-08-08 23:54:16.322 UTC) on line 2.",
    ),
    (
        "trades.csv",
        BINANCE.replace("true\n", "yes\n", 1),
        3,
        "is_buyer_maker 'yes' is neither true nor false.",
    ),
    ("trades.csv", BINANCE_ROWS.replace(",0.199,", ",a,"), 2, "qty 'a' is not a number."),
    ("agg.csv", AGG.replace("1.000", "-1"), 3, "quantity '-1' is not an amount of 0 or more."),
    (
        "agg.csv",
        AGG.replace("1723161256344", "1723161256344.0"),
        3,
        "transact_time '1723161256344.0' is not a whole number of milliseconds.",
    ),
    (
        "candles.csv",
        OHLCV_MS.replace("46411.0,46350.0", "46340.0,46350.0"),
        3,
        "the candle's high 46340.0 is below its low 46350.0.",
    ),
    (
        "candles.csv",
        OHLCV_MS.replace("46319.0,46385.0", "46399.0,46385.0"),
        2,
        "the candle's open 46399.0 is outside its low 46300.0 to high 46385.0.",
    ),
    (
        "candles.csv",
        OHLCV_MS.replace("46360.0,46360.0,46360.0,46360.0", "46360.0,46360.0,0,46360.0"),
        4,
        "low '0' is not a price above 0.",
    ),
    (
        "candles.csv",
        OHLCV_MS.replace("1640991720000", "1640991690000"),
        3,
        "the candle at 1640991690000 (2021-12-31 23:01:30.000 UTC) opens 30,000 ms after "
        "the one on line 2; 1-minute candles are at least 60,000 ms apart.",
    ),
    (
        "candles.csv",
        "timestamp,open,high,low,close,volume\n1640991660,1,1,1,1,0\n1640991720,1,1,1,1,0\n",
        3,
        "the candle at 1640991720 (1970-01-19 23:49:51.720 UTC) opens 60 ms after the one on "
        "line 2; 1-minute candles are at least 60,000 ms apart (are the times in seconds?).",
    ),
    (
        "candles.csv",
        OHLCV_DATETIME.replace("2021-12-31 23:02:00", "2021-12-31 23:02:00Z"),
        3,
        "timestamp '2021-12-31 23:02:00Z' is not a date and time like 2022-01-31 23:59:00 "
        "(in UTC without a zone, as on the first row).",
    ),
    (
        "candles.csv",
        OHLCV_DATETIME.replace("2021-12-31 23:02:00", "2021-02-30 23:02:00"),
        3,
        "timestamp '2021-02-30 23:02:00' is not a date and time like 2022-01-31 23:59:00 "
        "(in UTC without a zone, as on the first row).",
    ),
]


@pytest.mark.parametrize(("name", "text", "line", "message"), BAD_ROWS_OF_OTHER_FORMATS)
def test_bad_rows_of_other_formats(tmp_path, name, text, line, message):
    path = write(tmp_path, name, text)
    assert error_of(path) == f"{path}, line {line}: {message}"


@pytest.mark.parametrize("how", ["gz", "zip"])
def test_a_bad_row_in_a_compressed_file_names_the_file_and_line(tmp_path, how):
    path = write(tmp_path, "trades.csv", CANONICAL.replace("99.5", "abc"), how)
    assert error_of(path) == f"{path}, line 7: price 'abc' is not a number."


def test_missing_column_is_named_and_the_header_listed(tmp_path):
    path = write(tmp_path, "trades.csv", "timestamp,price,amount,type\n1,2,3,MARKET\n")
    assert error_of(path) == (
        f"{path}, line 1: has no 'side' column for canonical trades (timestamp, price, amount, "
        "side, type); the header has timestamp, price, amount, type."
    )


def test_missing_columns_of_a_binance_file(tmp_path):
    path = write(
        tmp_path, "agg.csv", "agg_trade_id,price,first_trade_id,is_buyer_maker\n1,2,3,true\n"
    )
    assert error_of(path) == (
        f"{path}, line 1: has no 'quantity' or 'transact_time' columns for Binance USD-M "
        "aggTrades (agg_trade_id, price, quantity, first_trade_id, last_trade_id, transact_time, "
        "is_buyer_maker); the header has agg_trade_id, price, first_trade_id, is_buyer_maker."
    )


def test_an_unknown_header_lists_the_known_formats(tmp_path):
    path = write(tmp_path, "data.csv", '{"e": "trade", "p": "61800.3"}\n')
    message = error_of(path)
    assert message.startswith(f'{path}, line 1: the header ({{"e": "trade", "p": "61800.3"}})')
    assert "names none of the columns of a known format: canonical trades (timestamp" in message
    assert "Binance USD-M aggTrades (agg_trade_id" in message


def test_a_headerless_file_with_another_column_count_is_refused(tmp_path):
    path = write(tmp_path, "klines.csv", "1640991660000,1,2,0.5,1.5\n")
    assert error_of(path).startswith(
        f"{path}, line 1: has no header and 5 fields; a file without a header is read only as "
        "Binance USD-M trades (6 fields: id, price, qty, quote_qty, time, is_buyer_maker)"
    )


@pytest.mark.parametrize(
    ("content", "how", "message"),
    [
        (b"", "plain", "is empty."),
        (b"", "gz", "is empty."),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
            "plain",
            "holds binary data: it is not a CSV file.",
        ),
        (b"timestamp,price,amount,side\n", "plain", "has a header and no rows."),
        (b"timestamp,price,amount,side\n", "zip", "has a header and no rows."),
        (b"timestamp,price,amount,side\n\n\n", "plain", "has a header and no rows."),
    ],
)
def test_empty_and_non_csv_files(tmp_path, content, how, message):
    path = write(tmp_path, "trades.csv", content, how)
    assert error_of(path) == f"{path}: {message}"


def test_an_empty_first_line_and_a_non_utf8_header(tmp_path):
    blank = write(tmp_path, "blank.csv", "\n1,2,3,4,5,true\n")
    assert error_of(blank) == f"{blank}, line 1: is empty, where the header should be."
    latin = write(tmp_path, "latin.csv", "timestamp,pr\xe9is\n".encode("latin-1"))
    assert error_of(latin) == f"{latin}, line 1: is not UTF-8 text: this is not a CSV file."


def test_a_side_that_is_not_utf8_is_a_bad_row(tmp_path):
    path = write(tmp_path, "trades.csv", TRADE_HEADER.encode() + b"1,100,1,buy\n2,100,1,b\xffy\n")
    assert error_of(path) == f"{path}, line 3: side 'b\\udcffy' is neither buy nor sell."


def test_a_type_that_is_not_utf8_is_a_bad_row(tmp_path):
    text = CANONICAL.encode().replace(b"ADL", b"AD\xe9")
    path = write(tmp_path, "trades.csv", text)
    assert error_of(path) == f"{path}, line 6: type 'AD\\udce9' is not UTF-8 text."


def test_the_bound_for_a_file_is_the_last_file_with_ticks(tmp_path):
    a = write(tmp_path, "a.csv", PLAIN)
    no_ticks = "timestamp,price,amount,side,type\n1723161256400,1,1,buy,ADL\n"
    b = write(tmp_path, "b.csv", no_ticks)
    c = write(tmp_path, "c.csv", "timestamp,price,amount,side\n1723161256300,1,1,buy\n")
    message = error_of([a, b, c])
    assert message.startswith(f"{c}, line 2: the file starts at 1723161256300")
    assert f"before the previous file {a} ends at 1723161256344" in message


def test_a_missing_file_and_a_folder(tmp_path):
    missing = tmp_path / "nope.csv"
    assert error_of(missing) == f"{missing}: there is no such file."
    assert error_of(tmp_path) == f"{tmp_path}: is not a file."


def test_zip_with_no_csv_or_several(tmp_path):
    none = tmp_path / "none.zip"
    with zipfile.ZipFile(none, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert error_of(none) == f"{none}: the zip archive holds no CSV file (it holds readme.txt)."
    several = tmp_path / "several.zip"
    with zipfile.ZipFile(several, "w") as archive:
        archive.writestr("a.csv", PLAIN)
        archive.writestr("b.csv", PLAIN)
    assert error_of(several) == (
        f"{several}: the zip archive holds 2 CSV files (a.csv, b.csv); give one CSV per archive."
    )
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    assert error_of(empty) == f"{empty}: the zip archive holds no CSV file (it is empty)."


def test_a_broken_zip_and_a_truncated_gzip(tmp_path):
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    assert error_of(broken).startswith(f"{broken}: is not a readable zip archive")
    rows = "".join(f"{1000 + i},100.5,0.1,buy\n" for i in range(50_000))
    data = gzip.compress((TRADE_HEADER + rows).encode())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError) as caught:
        read(cut)
    assert caught.value.path == cut
    assert str(caught.value).startswith(f"{cut}: cannot be read past line ")


def test_an_error_deep_in_the_file_names_its_line_after_earlier_batches(tmp_path):
    rows = [f"{1000 + i},{100 + i % 7}.5,0.1,{'buy' if i % 3 else 'sell'}\n" for i in range(6000)]
    rows[4321] = "5321,100.5,0.1,short\n"  # line 4323: header, then 4,321 good rows
    path = write(tmp_path, "trades.csv", TRADE_HEADER + "".join(rows))
    stream = open_ticks([path], chunk_rows=500)
    seen = []
    with pytest.raises(DataFileError) as caught:
        for batch in stream:
            assert len(batch) <= 500
            seen.extend(batch)
    assert str(caught.value) == f"{path}, line 4323: side 'short' is neither buy nor sell."
    assert (caught.value.line, caught.value.message) == (
        4323,
        "side 'short' is neither buy nor sell.",
    )
    assert 0 < len(seen) < 4321
    assert seen == [(1000 + i, 100 + i % 7 + 0.5, 0.1 if i % 3 else -0.1) for i in range(len(seen))]


def test_data_file_error_parts():
    error = DataFileError("trades.csv", 7, "price 'abc' is not a number.")
    assert str(error) == "trades.csv, line 7: price 'abc' is not a number."
    assert (error.path, error.line, error.message) == (
        Path("trades.csv"),
        7,
        "price 'abc' is not a number.",
    )
    assert str(DataFileError("a.zip", None, "is empty.")) == "a.zip: is empty."


# Streaming


def make_trades(rows: int, start: int = 1_700_000_000_000) -> str:
    sides = ("buy", "sell")
    types = ("MARKET", "MARKET", "MARKET", "INSURANCE_FUND")
    lines = [
        f"{start + i // 3},{i},{i},{60000 + (i * 37 % 1000) / 10},{(i % 13 + 1) / 1000},"
        f"{sides[i % 2]},{types[i % 4]}\n"
        for i in range(rows)
    ]
    return "timestamp,local_ts,trade_id,price,amount,side,type\n" + "".join(lines)


@pytest.mark.parametrize("how", ["plain", "gz", "zip"])
def test_small_batches_give_the_same_ticks_as_one_batch(tmp_path, how):
    path = write(tmp_path, "trades.csv", make_trades(5000), how)  # ~250 KB: several blocks
    whole = list(open_ticks([path], chunk_rows=1_000_000))
    assert len(whole) == 1
    stream = open_ticks([path], chunk_rows=7)
    small = list(stream)
    assert max(len(batch) for batch in small) == 7
    assert [tick for batch in small for tick in batch] == list(whole[0])
    assert stream.stats.ticks == 3750 and stream.stats.skipped_by_type == {"INSURANCE_FUND": 1250}
    assert stream.stats.bytes_read == stream.stats.total_bytes


def test_candles_stream_in_small_batches(tmp_path):
    rows = "".join(f"{T0 + i * 60_000},10,12,9,{11 if i % 2 else 9.5},1\n" for i in range(3000))
    path = write(tmp_path, "candles.csv", "timestamp,open,high,low,close,volume\n" + rows)
    small = list(open_ticks([path], chunk_rows=10))
    ticks = [tick for batch in small for tick in batch]
    assert max(len(batch) for batch in small) == 10
    assert ticks == [tick for batch in open_ticks([path]) for tick in batch]
    assert len(ticks) == 12_000
    assert ticks[4:8] == [
        (T0 + 60_000 + off, p, 0.0)
        for off, p in zip((0, 15_000, 30_000, 45_000), (10.0, 9.0, 12.0, 11.0), strict=True)
    ]


def test_progress_grows_to_the_total(tmp_path):
    path = write(tmp_path, "trades.csv", make_trades(200_000), "gz")
    stream = open_ticks([path], chunk_rows=1000)
    seen = []
    for _ in stream:
        seen.append(stream.stats.bytes_read)
    assert seen == sorted(seen)
    assert 0 < seen[0] < stream.stats.total_bytes / 2
    assert stream.stats.bytes_read == stream.stats.total_bytes == path.stat().st_size


def arrow_peak(path: Path) -> int:
    peak = 0
    for _batch in open_ticks([path], chunk_rows=4096):
        peak = max(peak, pa.total_allocated_bytes())
    return peak


def test_memory_stays_bounded_while_streaming(tmp_path):
    small = write(tmp_path, "small.csv", make_trades(100_000))  # ~5.5 MB
    large = write(tmp_path, "large.csv", make_trades(300_000))  # ~17 MB
    assert arrow_peak(large) < min(1.5 * arrow_peak(small), large.stat().st_size / 2)


def test_a_stream_is_read_once_and_can_be_closed_early(tmp_path):
    path = write(tmp_path, "trades.csv", make_trades(5000))
    with open_ticks([path], chunk_rows=100) as stream:
        first = next(iter(stream))
        assert len(first) == 100
    with pytest.raises(RuntimeError, match="read once"):
        iter(stream)


def test_no_paths_is_a_value_error():
    with pytest.raises(ValueError, match="no data files"):
        open_ticks([])


# Real captures


@pytest.mark.parametrize("name", sorted(CAPTURES))
def test_real_capture_parses_as_the_csv_module_does(name):
    path = TRADES / name
    ticks, stats = read(path)
    reference = csv_module_ticks(path)
    assert len(ticks) == stats.ticks == stats.rows == CAPTURES[name]
    assert ticks[:1000] == reference[:1000]
    assert ticks[-1000:] == reference[-1000:]
    assert ticks == reference
    assert stats.skipped_rows == 0
    assert (stats.first_ts, stats.last_ts) == (reference[0][0], reference[-1][0])


def test_real_captures_in_order_as_one_run():
    older = TRADES / "binance_usdm_BTCUSDT_trades_2024-07-19T0000_hftbacktest.csv"
    newer = TRADES / "binance_usdm_BTCUSDT_trades_2024-08-08T2354_hftbacktest.csv"
    ticks, stats = read([older, newer])
    assert len(ticks) == stats.ticks == 9_727 + 21_313
    assert stats.files == 2
    with pytest.raises(DataFileError) as caught:
        read([newer, older])
    assert caught.value.path == older and caught.value.line == 2


def test_ftx_month_of_candles():
    ticks, stats = read(FTX)
    assert stats.candles
    assert stats.rows == 45_031
    assert len(ticks) == stats.ticks == 4 * 45_031
    times = [ts for ts, _, _ in ticks]
    assert all(a < b for a, b in itertools.pairwise(times))
    assert all(qty == 0.0 for _, _, qty in ticks)
    # 2021-12-31 23:01:00, 46319.0, 46385.0, 46319.0, 46377.0: an up candle
    assert ticks[:4] == [
        (T0, 46319.0, 0.0),
        (T0 + 15_000, 46319.0, 0.0),
        (T0 + 30_000, 46385.0, 0.0),
        (T0 + 45_000, 46377.0, 0.0),
    ]
    assert ticks[-1][0] == 1643693460000 + 45_000  # 2022-02-01 05:31:00 + 45 s


# The grammar of the slow path is pyarrow's, so it finds the line the fast path stumbled on


def arrow_value(text: str, arrow_type):
    options = pacsv.ConvertOptions(
        column_types={"v": arrow_type}, null_values=[], strings_can_be_null=False
    )
    data = ("k,v\n0," + text + "\n").encode()
    try:
        table = pacsv.read_csv(io.BytesIO(data), convert_options=options)
    except pa.ArrowInvalid:
        return None
    return table.column("v")[0].as_py()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-.eE nNaAiIfFtTyY_x\t", max_size=9))
def test_number_grammar_matches_pyarrow(text):
    expected = arrow_value(text, pa.float64())
    found = parse_float(text)
    if expected is None or found is None:
        assert expected is None and found is None
    elif expected != expected:  # nan
        assert found != found
    else:
        assert found == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789-+ xXaF.e", max_size=20))
def test_integer_grammar_matches_pyarrow(text):
    assert parse_int(text) == arrow_value(text, pa.int64())


@pytest.mark.parametrize(
    "text",
    [
        "2021-12-31 23:01:00.000000",
        "2021-12-31 23:01:00",
        "2021-12-31T23:01",
        "2021-12-31T23",
        "2021-12-31",
        "2021-12-31 23:01:00.5",
        "2021-12-31 23:01:00.1234567",
        "2021-02-30 00:00:00",
        "2021-12-31 24:00:00",
        " 2021-12-31 23:01:00",
        "2021-12-31 23:01:00Z",
        "2021-12-31T23:01:00+01:30",
        "2021-12-31T23:01:00-0500",
        "2021-12-31T23:01:00+01",
        "20211231",
    ],
)
def test_date_and_time_grammar_matches_pyarrow(text):
    for zoned in (False, True):
        arrow = arrow_value(text, pa.timestamp("us", tz="UTC" if zoned else None))
        expected = None
        if arrow is not None:
            naive = arrow.replace(tzinfo=None)
            expected = (naive - datetime(1970, 1, 1)) // timedelta(microseconds=1)
        assert parse_datetime_us(text, zoned) == expected


# Purity


def test_the_readers_import_no_framework():
    forbidden = ["asyncio", "channels", "celery", "django"]
    code = (
        "import sys, trading.backtest.readers; "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({forbidden!r})))"
    )
    root = Path(trading.backtest.__file__).parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
