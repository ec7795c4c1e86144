"""The pure-Python reader: the fast path's very ticks and errors, one tick at a time."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.backtest.test_readers import (
    BAD_ROWS_OF_OTHER_FORMATS,
    BAD_TRADE_ROWS,
    CANONICAL,
    FTX,
    KINDS,
    TRADE_HEADER,
    error_of,
    make_trades,
    write,
)
from tests.imports import loaded_by
from tests.shared_data import TRADES
from trading.backtest.formats import (
    FALSE_VALUES,
    SNIFF_BYTES,
    TRUE_VALUES,
    DataFileError,
    sniff,
)
from trading.backtest.readers import open_ticks
from trading.backtest.rows import block_bytes, open_rows, read_ticks

SHARED_FILES = [*sorted(TRADES.glob("*")), FTX]


def fast(path: Path) -> list[tuple[int, float, float]]:
    return [tick for batch in open_ticks([path]) for tick in batch]


def pure(path: Path) -> list[tuple[int, float, float]]:
    return list(open_rows(path))


def pure_error_of(path: Path) -> str:
    with pytest.raises(DataFileError) as caught:
        pure(path)
    return str(caught.value)


def assert_same_ticks(path: Path) -> list[tuple[int, float, float]]:
    """Equal tuples of the same types, so that -0.0 against 0.0 or an int64 would show.

    Compared as text, and a mismatch shown at its first tick: pytest's diff of two lists of
    180,000 ticks takes minutes.
    """
    ticks, expected = pure(path), fast(path)
    mine, theirs = ([tuple(map(repr, tick)) for tick in each] for each in (ticks, expected))
    same = mine == theirs
    assert same, first_difference(mine, theirs)
    assert all(type(ts) is int and type(p) is float and type(q) is float for ts, p, q in ticks)
    return ticks


def first_difference(mine: list[tuple[str, ...]], theirs: list[tuple[str, ...]]) -> str:
    for at, (tick, expected) in enumerate(zip(mine, theirs, strict=False)):
        if tick != expected:
            return f"tick {at}: {tick}, where the fast path reads {expected}"
    return f"{len(mine)} ticks read, where the fast path reads {len(theirs)}"


# The same ticks


@pytest.mark.parametrize("path", SHARED_FILES, ids=lambda path: path.name)
def test_shared_data_files_give_the_fast_paths_ticks(path):
    assert len(assert_same_ticks(path)) > 9_000


@pytest.mark.parametrize("how", ["plain", "gz", "zip"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_each_format_and_compression_gives_the_fast_paths_ticks(tmp_path, kind, how):
    name, text, expected = KINDS[kind]
    assert assert_same_ticks(write(tmp_path, name, text, how)) == expected


def test_read_ticks_of_a_sniffed_layout_is_open_rows(tmp_path):
    path = write(tmp_path, "trades.csv", make_trades(3000))
    assert list(read_ticks(sniff(path))) == pure(path) == fast(path)


# Random valid files of every format

TIMES = st.integers(1_500_000_000_000, 1_800_000_000_000)


@st.composite
def number_text(draw, *, zero: bool = False):
    """A number above 0 (or 0 too) as files write them: fixed decimals, repr or exponent."""
    mantissa = draw(st.integers(0 if zero else 1, 10**12))
    decimals = draw(st.integers(0, 9))
    style = draw(st.sampled_from(["fixed", "repr", "exponent"]))
    value = mantissa / 10**decimals
    if style == "repr":
        return repr(value)
    if style == "exponent":
        return f"{value:.6e}"
    digits = str(mantissa).rjust(decimals + 1, "0")
    return f"{digits[: len(digits) - decimals]}.{digits[len(digits) - decimals :]}".rstrip(".")


@st.composite
def times(draw, rows: int, *, least_gap: int = 0, most_gap: int = 3_000):
    """Times that never go back (equal ones included when least_gap is 0)."""
    ts = draw(TIMES)
    out = []
    for _ in range(rows):
        out.append(ts)
        ts += draw(st.integers(least_gap, most_gap))
    return out


@st.composite
def canonical_file(draw):
    rows = draw(st.integers(1, 25))
    typed = draw(st.booleans())
    columns = ["timestamp", "price", "amount", "side", "trade_id"] + (["type"] if typed else [])
    columns = draw(st.permutations(columns))
    ts = draw(times(rows))
    lines = []
    market = 0
    for i in range(rows):
        kind = draw(st.sampled_from(["MARKET", "MARKET", "INSURANCE_FUND", "ADL", "LIQUIDATION"]))
        kind = kind if typed else "MARKET"
        market += kind == "MARKET"
        # a row that is no tick may be at any time: it is skipped before the order is checked
        at = ts[i] if kind == "MARKET" else draw(TIMES)
        cell = {
            "timestamp": str(at),
            "price": draw(number_text()),
            "amount": draw(number_text(zero=True)),
            "side": draw(st.sampled_from(["buy", "sell", "BUY", "Sell", " buy "])),
            "trade_id": str(i),
            "type": kind,
        }
        lines.append(",".join(cell[c] for c in columns))
    return ",".join(columns), lines, market


@st.composite
def tardis_file(draw):
    rows = draw(st.integers(1, 25))
    # microseconds within one millisecond may go back: the order is of milliseconds
    lines = [
        f"binance-futures,BTCUSDT,{ms * 1000 + draw(st.integers(0, 999))},{ms * 1000},{i},"
        f"{draw(st.sampled_from(['buy', 'sell', 'unknown']))},{draw(number_text())},"
        f"{draw(number_text(zero=True))}"
        for i, ms in enumerate(draw(times(rows)))
    ]
    header = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
    return header, lines, rows


@st.composite
def binance_file(draw):
    rows = draw(st.integers(1, 25))
    ts = draw(times(rows))
    maker = st.sampled_from(TRUE_VALUES + FALSE_VALUES)
    if draw(st.booleans()):
        header = "id,price,qty,quote_qty,time,is_buyer_maker"
        lines = [
            f"{i + 1},{draw(number_text())},{draw(number_text(zero=True))},1.5,{t},{draw(maker)}"
            for i, t in enumerate(ts)
        ]
    else:
        header = (
            "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"
        )
        lines = [
            f"{i + 1},{draw(number_text())},{draw(number_text(zero=True))},{i},{i},{t},"
            f"{draw(maker)}"
            for i, t in enumerate(ts)
        ]
    # Binance publishes its files with and without a header
    return (header if draw(st.booleans()) else None), lines, rows


def stamp(ms: int, style: str) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    if style == "ms":
        return str(ms)
    if style == "zoned":
        return moment.isoformat(timespec="milliseconds")  # +00:00
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


@st.composite
def candle_file(draw):
    rows = draw(st.integers(1, 25))
    opens = draw(times(rows, least_gap=60_000, most_gap=600_000))
    style = draw(st.sampled_from(["ms", "naive", "zoned"]))
    lines = []
    for ms in opens:
        prices = sorted(draw(st.lists(number_text(), min_size=4, max_size=4)), key=float)
        low, a, b, high = prices
        opening, closing = draw(st.permutations([a, b]))
        lines.append(f"{stamp(ms, style)},{opening},{high},{low},{closing},12.5")
    return "timestamp,open,high,low,close,volume", lines, 4 * rows


@settings(max_examples=250, deadline=None)
@given(
    st.one_of(canonical_file(), tardis_file(), binance_file(), candle_file()),
    st.sampled_from(["\n", "\r\n"]),
)
def test_random_valid_files_give_the_same_ticks_from_both_readers(tmp_path_factory, made, end):
    header, lines, ticks = made
    text = end.join(([header] if header else []) + lines) + end
    path = tmp_path_factory.mktemp("random") / "data.csv"
    path.write_text(text, newline="")
    assert len(assert_same_ticks(path)) == ticks


# The same errors


@pytest.mark.parametrize(("rows", "line", "message"), BAD_TRADE_ROWS)
def test_a_bad_trade_row_is_the_fast_paths_error(tmp_path, rows, line, message):
    path = write(tmp_path, "trades.csv", TRADE_HEADER + rows)
    assert pure_error_of(path) == error_of(path) == f"{path}, line {line}: {message}"


@pytest.mark.parametrize(("name", "text", "line", "message"), BAD_ROWS_OF_OTHER_FORMATS)
def test_a_bad_row_of_other_formats_is_the_fast_paths_error(tmp_path, name, text, line, message):
    path = write(tmp_path, name, text)
    assert pure_error_of(path) == error_of(path) == f"{path}, line {line}: {message}"


@pytest.mark.parametrize("how", ["gz", "zip"])
def test_a_bad_row_in_a_compressed_file_is_the_fast_paths_error(tmp_path, how):
    path = write(tmp_path, "trades.csv", CANONICAL.replace("99.5", "abc"), how)
    assert pure_error_of(path) == error_of(path) == f"{path}, line 7: price 'abc' is not a number."


def test_a_header_and_only_blank_lines_past_the_sniffed_bytes_have_no_rows(tmp_path):
    path = write(tmp_path, "trades.csv", TRADE_HEADER + "\n" * (SNIFF_BYTES + 10))
    assert pure_error_of(path) == error_of(path) == f"{path}: has a header and no rows."


def test_a_field_past_the_csv_modules_limit_is_not_csv_in_both(tmp_path):
    rows = "".join(f"{1000 + i},100.5,0.1,buy\n" for i in range(3000))
    path = write(tmp_path, "trades.csv", TRADE_HEADER + rows + "5000,1,1," + "b" * 200_000 + "\n")
    message = pure_error_of(path)
    assert message == error_of(path)
    assert message.startswith(f"{path}, line 3002: is not CSV (field larger than field limit")


def test_both_readers_refuse_a_line_longer_than_two_read_blocks(tmp_path):
    # pyarrow reads a line that straddles one boundary of its read blocks, not two: shorter
    # than a block, a line is always read, longer than two, never.
    row = "1,100,1,buy\n"
    short = write(tmp_path, "short.csv", TRADE_HEADER + row)
    size = 2 * block_bytes(sniff(short)) + 1
    path = write(tmp_path, "trades.csv", TRADE_HEADER + row + "2,100,1," + "b" * (size - 9) + "\n")
    message = pure_error_of(path)
    assert message == error_of(path)
    assert message == (
        f"{path}, line 3: is {size:,} bytes long: too long for a row of trades or candles."
    )


def test_a_truncated_gzip_is_the_fast_paths_error(tmp_path):
    rows = "".join(f"{1000 + i},100.5,0.1,buy\n" for i in range(50_000))
    data = gzip.compress((TRADE_HEADER + rows).encode())
    cut = tmp_path / "cut.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    message = pure_error_of(cut)
    assert message == error_of(cut)
    assert message.startswith(f"{cut}: cannot be read past line ")


# One tick at a time


def test_ticks_come_one_at_a_time_before_a_bad_line(tmp_path):
    path = write(tmp_path, "trades.csv", TRADE_HEADER + "1,100,1,buy\n2,abc,1,buy\n")
    ticks = open_rows(path)
    assert next(ticks) == (1, 100.0, 1.0)
    with pytest.raises(DataFileError) as caught:
        next(ticks)
    assert str(caught.value) == f"{path}, line 3: price 'abc' is not a number."


def test_a_missing_file_or_unknown_format_fails_on_opening_not_reading(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataFileError, match="there is no such file"):
        open_rows(missing)
    unknown = write(tmp_path, "data.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(DataFileError, match="names none of the columns of a known format"):
        open_rows(unknown)


def open_handles(path: Path) -> int:
    """How many of this process's file descriptors are open on the file (Linux)."""
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if os.path.realpath(fd) == str(path.resolve()))


def test_closing_early_releases_the_file(tmp_path):
    path = write(tmp_path, "trades.csv", make_trades(3000))
    ticks = open_rows(path)
    assert open_handles(path) == 0  # opening reads the head and lets go
    next(ticks)
    assert open_handles(path) == 1
    ticks.close()
    assert open_handles(path) == 0


# Purity


def test_the_pure_reader_loads_neither_pyarrow_nor_numpy():
    assert loaded_by("trading.backtest.rows", {"pyarrow", "numpy"}) == []
