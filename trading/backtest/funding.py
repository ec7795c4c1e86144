"""Funding-rate history files: the rates a backtest pays and receives on its open sides.

One CSV format with a header, its columns spelled three ways, so that a file saved from ccxt,
Bybit or Binance reads as it is:

- the funding time in ms: `timestamp` (ccxt's `fetchFundingRateHistory`, flattened),
  `fundingRateTimestamp` (Bybit's `/v5/market/funding/history`) or `fundingTime` (Binance's
  `/fapi/v1/fundingRate`);
- the rate, `fundingRate` (0.0001 is 0.01%);
- optionally `symbol`.

Other columns are ignored. A `symbol` column, where there is one, must name the replayed
symbol on every row (`BTC/USDT:USDT`, or the market id `BTCUSDT` / `BTC-USDT-SWAP`). Times go
strictly forward, within a file and from one file to the next. `.csv`, `.csv.gz` or a `.zip`
holding one CSV, as the trades files. Funding files are small (three rows a day), so they are
read whole with Python's csv module; a bad line raises DataFileError naming file and line.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from trading.backtest.formats import (
    CANONICAL,
    READ_ERRORS,
    ZIP,
    DataFileError,
    Layout,
    NumberedLines,
    compression_of,
    describe_ms,
    open_binary,
    parse_float,
    parse_int,
    zip_member,
)

# role -> the column names that mean it, case-insensitive.
COLUMNS: Final = {
    "ts": ("timestamp", "fundingratetimestamp", "fundingtime"),
    "symbol": ("symbol",),
    "rate": ("fundingrate",),
}
REQUIRED: Final = ("ts", "rate")
WANTED: Final = {
    "ts": "a time (timestamp, fundingRateTimestamp or fundingTime)",
    "rate": "a rate (fundingRate)",
}
MAX_LINE_BYTES: Final = 1 << 16


@dataclass(frozen=True, slots=True)
class FundingRates:
    """Funding times (ms) and their rates, in time order, from the files given."""

    times: tuple[int, ...]
    rates: tuple[float, ...]
    files: tuple[Path, ...]

    @property
    def first_ts(self) -> int | None:
        return self.times[0] if self.times else None

    @property
    def last_ts(self) -> int | None:
        return self.times[-1] if self.times else None


def read_funding(paths: Sequence[str | Path], symbol: str) -> FundingRates:
    """The funding rates of `symbol` in the files, read in the order given.

    Raises DataFileError for a file that is missing, has no header naming a time and a rate,
    or has a bad line: a field that is no number, a rate that is not finite, another symbol, or
    a time that does not move forward.
    """
    reader = _Reader(_symbol_names(symbol))
    files = tuple(map(Path, paths))
    for path in files:
        reader.read(path)
    return FundingRates(tuple(reader.times), tuple(reader.rates), files)


def _symbol_names(symbol: str) -> set[str]:
    """The ways a funding file may name a symbol: unified, or an exchange's market id."""
    base, _, rest = symbol.partition("/")
    quote = rest.partition(":")[0]
    return {name.upper() for name in (symbol, f"{base}{quote}", f"{base}-{quote}-SWAP")}


class _Reader:
    """Rows of funding files, checked one by one; the times so far bound the next file's."""

    def __init__(self, symbols: set[str]) -> None:
        self.symbols = symbols
        self.times: list[int] = []
        self.rates: list[float] = []
        self.previous: Path | None = None  # the last file read, for an error across files

    def read(self, path: Path) -> None:
        if not path.is_file():
            raise DataFileError(path, None, "there is no such file.")
        try:
            compression = compression_of(path)
            member = zip_member(path) if compression == ZIP else None
            layout = Layout(path, CANONICAL, True, (), compression=compression, member=member)
            with open_binary(layout) as stream:
                lines = NumberedLines(
                    path, stream, max_bytes=MAX_LINE_BYTES, row_of="a row of funding rates"
                )
                rows = csv.reader(lines, strict=False)
                header = next(rows, None)
                if header is None:
                    raise DataFileError(path, None, "is empty.")
                index = _index(path, header)
                first = len(self.times)
                for fields in rows:
                    if fields:
                        self._row(_Row(path, lines.line, fields, header, index), first)
                if len(self.times) == first:
                    raise DataFileError(path, None, "has a header and no rows.")
        except csv.Error as exc:
            raise DataFileError(path, None, f"is not CSV ({exc}).") from None
        except READ_ERRORS as exc:
            raise DataFileError(path, None, f"cannot be read ({exc}).") from None
        self.previous = path

    def _row(self, row: _Row, first: int) -> None:
        if len(row.fields) != len(row.header):
            raise row.fail(f"has {len(row.fields)} fields, where the header has {len(row.header)}.")
        ts_text, rate_text = row.field("ts"), row.field("rate")
        ts = parse_int(ts_text)
        if ts is None:
            raise row.fail(f"{row.name('ts')} {ts_text!r} is not a whole number of milliseconds.")
        rate = parse_float(rate_text)
        if rate is None or not math.isfinite(rate):
            raise row.fail(f"{row.name('rate')} {rate_text!r} is not a number.")
        if "symbol" in row.index:
            named = row.field("symbol").strip()
            if named.upper() not in self.symbols:
                raise row.fail(
                    f"the symbol {named!r} is not the replayed symbol "
                    f"({' or '.join(sorted(self.symbols))})."
                )
        if self.times and ts <= self.times[-1]:
            last = describe_ms(self.times[-1])
            if len(self.times) == first:
                raise row.fail(
                    f"the file starts at {describe_ms(ts)}, not after the previous file "
                    f"{self.previous} ends at {last}: give the files in time order."
                )
            raise row.fail(
                f"time does not move forward: {describe_ms(ts)} comes after {last} on the "
                "line before."
            )
        self.times.append(ts)
        self.rates.append(rate)


@dataclass(frozen=True, slots=True)
class _Row:
    path: Path
    line: int
    fields: list[str]
    header: list[str]
    index: dict[str, int]

    def field(self, role: str) -> str:
        return self.fields[self.index[role]]

    def name(self, role: str) -> str:
        return self.header[self.index[role]].strip()

    def fail(self, message: str) -> DataFileError:
        return DataFileError(self.path, self.line, message)


def _index(path: Path, header: list[str]) -> dict[str, int]:
    """Where each role's column is; DataFileError when the time or the rate has none."""
    lower = [name.strip().lower() for name in header]
    index = {}
    for role, names in COLUMNS.items():
        found = [i for i, name in enumerate(lower) if name in names]
        if len(found) > 1:
            named = ", ".join(header[i] for i in found)
            raise DataFileError(path, 1, f"the header names the {role} twice ({named}).")
        if found:
            index[role] = found[0]
    missing = [WANTED[role] for role in REQUIRED if role not in index]
    if missing:
        raise DataFileError(
            path,
            1,
            f"has no column for {' nor '.join(missing)}; the header has {', '.join(header)}. "
            "A funding file starts with a header.",
        )
    return index
