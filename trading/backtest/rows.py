"""One data file read row by row with Python's csv module: its ticks, or its first bad line.

`read_ticks(layout)` yields the `(ts_ms, price, qty)` ticks of one sniffed file one at a time,
exactly those `readers.open_ticks` yields (plain ints and floats, equal bit for bit), and raises
the DataFileError the fast path raises, at the same line. It is the pure-Python reader: a
process that replays a file while trading (the bot's replay feed) uses it so that pyarrow and
numpy are never loaded, and the fast path uses it to explain a batch that failed its checks
(`readers.diagnose`). It imports only the standard library and `formats`, and reads some
250,000 trades a second, a fifteenth of the fast path's pace: fine for a replay, not for a
backtest of months.

The checks, row by row: field count, numbers by pyarrow's grammars (see `formats.py`), prices
above 0, amounts of 0 or more, a known side, candle consistency, and time order (of ticks, and
against `not_before`, the last tick of the `previous` file).

Two kinds of absurd line only this reader refuses: one with a field over the csv module's
128 KiB, and one longer than the fast path's read block (`block_bytes`) but not than two,
which pyarrow reads or refuses depending on where it falls among its blocks.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Generator
from pathlib import Path
from typing import Final

from trading.backtest.formats import (
    FALSE_VALUES,
    MARKET,
    READ_ERRORS,
    TRUE_VALUES,
    DataFileError,
    Layout,
    NumberedLines,
    describe_ms,
    open_binary,
    parse_datetime_us,
    parse_float,
    parse_int,
    sniff,
)

CANDLE_OFFSETS_MS: Final = (0, 15_000, 30_000, 45_000)
CANDLE_MS: Final = 60_000

CHUNK_ROWS: Final = 65536  # open_ticks' default batch, which sizes its read blocks
MIN_BLOCK: Final = 1 << 16
MAX_BLOCK: Final = 1 << 20  # pyarrow holds ~35 blocks in flight: ~40 MB

Tick = tuple[int, float, float]


def block_bytes(layout: Layout, chunk_rows: int = CHUNK_ROWS) -> int:
    """The fast path's read block for a file, and the longest line this reader accepts.

    About `chunk_rows` ticks' worth of the file's first row (a candle is four ticks), within
    64 KiB to 1 MiB. pyarrow reads a line that spans two blocks, never one that spans three.
    """
    rows = -(-chunk_rows // 4) if layout.format.candles else chunk_rows
    return min(max(rows * layout.line_bytes * 7 // 8, MIN_BLOCK), MAX_BLOCK)


def open_rows(path: str | Path) -> Generator[Tick, None, None]:
    """The ticks of one data file, read lazily; a missing file or unknown format fails here."""
    return read_ticks(sniff(Path(path)))


def read_ticks(
    layout: Layout,
    *,
    not_before: int | None = None,
    previous: Path | None = None,
    max_line: int | None = None,
) -> Generator[Tick, None, None]:
    """The ticks of one file, one at a time; DataFileError at its first bad line.

    `not_before` is the last tick of the `previous` file, which this one must not start before;
    a line longer than `max_line` bytes (by default the fast path's read block) is refused.
    Close the generator to release the file when stopping before the end.
    """
    checker = _RowChecker(layout, not_before, previous)
    limit = block_bytes(layout) if max_line is None else max_line
    lines: NumberedLines | None = None
    has_rows = False
    try:
        with open_binary(layout) as stream:
            lines = NumberedLines(
                layout.path, stream, max_bytes=limit, row_of="a row of trades or candles"
            )
            rows = csv.reader(lines, strict=False)
            if layout.header:
                next(rows, None)
            for fields in rows:
                if fields:
                    has_rows = True
                    yield from checker.ticks(lines.line, fields)
    except csv.Error as exc:
        raise checker.error(lines.line if lines else 0, f"is not CSV ({exc}).") from None
    except READ_ERRORS as exc:
        line = lines.line if lines else 0
        raise DataFileError(
            layout.path, None, f"cannot be read past line {line} ({exc})."
        ) from None
    if not has_rows:
        raise DataFileError(layout.path, None, "has a header and no rows.")


def _is_utf8(text: str) -> bool:
    """False for text decoded with surrogateescape from bytes that are not UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class _RowChecker:
    """One row at a time: its ticks, or the DataFileError naming its fault; the order so far."""

    def __init__(self, layout: Layout, not_before: int | None, previous: Path | None) -> None:
        self.layout = layout
        self.fmt = layout.format
        self.not_before = not_before
        self.previous = previous
        self.last: int | None = None  # the last tick (candles: candle open) of this file
        self.last_line = 0
        self.line = 0

    def error(self, line: int, message: str) -> DataFileError:
        return DataFileError(self.layout.path, line, message)

    def fail(self, message: str) -> DataFileError:
        return self.error(self.line, message)

    def ticks(self, line: int, fields: list[str]) -> tuple[Tick, ...]:
        """The row's ticks: one a MARKET trade, none another type, four a candle."""
        self.line = line
        layout, fmt = self.layout, self.fmt
        if len(fields) != len(layout.names):
            where = "the header has" if layout.header else "the first line has"
            raise self.fail(f"has {len(fields)} fields, where {where} {len(layout.names)}.")
        field_of = {role: fields[i] for role, i in layout.index.items()}
        ts = self._time(field_of["ts"])
        if fmt.candles:
            return self._candle(ts, field_of)
        price = self._price("price", field_of["price"])
        amount = self._amount(field_of["amount"])
        if "side" in field_of:
            side = field_of["side"]
            sign = fmt.side_sign(side)
            if sign is None:
                raise self.fail(f"{self._name('side')} {side!r} is neither {fmt.side_words()}.")
            qty = amount * sign
        else:
            maker = field_of["maker"]
            if maker in TRUE_VALUES:
                qty = -amount  # the buyer was the maker: a seller took
            elif maker in FALSE_VALUES:
                qty = amount
            else:
                raise self.fail(f"{self._name('maker')} {maker!r} is neither true nor false.")
        kind = field_of.get("type", MARKET)
        if kind != MARKET:
            if not _is_utf8(kind):
                raise self.fail(f"{self._name('type')} {kind!r} is not UTF-8 text.")
            return ()
        self._tick_order(ts)
        return ((ts, price, qty),)

    def _candle(self, ts: int, field_of: dict[str, str]) -> tuple[Tick, ...]:
        o, h, lo, c = (
            self._price(role, field_of[role]) for role in ("open", "high", "low", "close")
        )
        if h < lo:
            raise self.fail(f"the candle's high {h!r} is below its low {lo!r}.")
        for role, value in (("open", o), ("close", c)):
            if not lo <= value <= h:
                raise self.fail(
                    f"the candle's {role} {value!r} is outside its low {lo!r} to high {h!r}."
                )
        self._candle_order(ts)
        # The path a candle most likely took: down to its low first when it closed up.
        second, third = (lo, h) if c >= o else (h, lo)
        return tuple(
            (ts + offset, price, 0.0)
            for offset, price in zip(CANDLE_OFFSETS_MS, (o, second, third, c), strict=True)
        )

    def _name(self, role: str) -> str:
        return self.layout.column(role)

    def _time(self, text: str) -> int:
        if self.layout.datetime:
            micros = parse_datetime_us(text, self.layout.zoned)
            if micros is None:
                form = "with a zone offset" if self.layout.zoned else "in UTC without a zone"
                raise self.fail(
                    f"{self._name('ts')} {text!r} is not a date and time like "
                    f"2022-01-31 23:59:00 ({form}, as on the first row)."
                )
            return micros // 1000
        value = parse_int(text)
        if value is None:
            name = self._name("ts")
            unit = "microseconds" if self.fmt.ts_unit == "us" else "milliseconds"
            empty = not text.strip()
            raise self.fail(
                f"{name} is empty."
                if empty
                else f"{name} {text!r} is not a whole number of {unit}."
            )
        return value // 1000 if self.fmt.ts_unit == "us" else value

    def _number(self, role: str, text: str) -> float:
        value = parse_float(text)
        if value is None:
            name = self._name(role)
            raise self.fail(
                f"{name} is empty." if not text.strip() else f"{name} {text!r} is not a number."
            )
        return value

    def _price(self, role: str, text: str) -> float:
        value = self._number(role, text)
        if not 0 < value < math.inf:
            raise self.fail(f"{self._name(role)} {text!r} is not a price above 0.")
        return value

    def _amount(self, text: str) -> float:
        value = self._number("amount", text)
        if not 0 <= value < math.inf:
            raise self.fail(f"{self._name('amount')} {text!r} is not an amount of 0 or more.")
        return value

    def _starts_too_early(self, ts: int) -> bool:
        return self.last is None and self.not_before is not None and ts < self.not_before

    def _too_early(self, ts: int) -> DataFileError:
        assert self.not_before is not None
        return self.fail(
            f"the file starts at {describe_ms(ts)}, before the previous file {self.previous} "
            f"ends at {describe_ms(self.not_before)}: give the files in time order."
        )

    def _tick_order(self, ts: int) -> None:
        if self._starts_too_early(ts):
            raise self._too_early(ts)
        if self.last is not None and ts < self.last:
            raise self.fail(
                f"time goes backwards: {describe_ms(ts)} comes after {describe_ms(self.last)} "
                f"on line {self.last_line}."
            )
        self.last, self.last_line = ts, self.line

    def _candle_order(self, ts: int) -> None:
        if self._starts_too_early(ts):
            raise self._too_early(ts)
        if self.last is not None:
            gap = ts - self.last
            if gap < 0:
                raise self.fail(
                    f"time goes backwards: the candle at {describe_ms(ts)} comes after the one "
                    f"at {describe_ms(self.last)} on line {self.last_line}."
                )
            if gap < CANDLE_MS:
                hint = " (are the times in seconds?)" if gap == 60 else ""
                raise self.fail(
                    f"the candle at {describe_ms(ts)} opens {gap:,} ms after the one on line "
                    f"{self.last_line}; 1-minute candles are at least {CANDLE_MS:,} ms apart"
                    f"{hint}."
                )
        self.last, self.last_line = ts, self.line
