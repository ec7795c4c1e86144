"""Recorded trades and 1-minute candles as ticks for the engine, streamed and checked.

`open_ticks(paths)` reads one or more data files in the order given and yields batches of
`(ts_ms, price, qty)` ticks, `qty` being the taker amount signed by the taker side (+ buy,
- sell, 0 when the file does not say). Formats (see `formats.py`): canonical trades CSV
(ccxt field names `timestamp, price, amount, side`, optional `type`), Tardis.dev trades
(microseconds), Binance USD-M `trades` and `aggTrades` with or without a header, and 1-minute
OHLCV candles; each as `.csv`, gzip or a zip archive holding one CSV.

Every row is one tick, in file order, except rows whose `type` is not MARKET (insurance fund,
ADL and liquidation prints: not prices anyone could trade at), which are counted and skipped.
A candle becomes four ticks with qty 0 at its open time +0, +15, +30 and +45 s: open, low,
high, close when it closed at or above its open, else open, high, low, close.

Checks: every row must parse (whole-number times, numbers as Python's float() reads them,
prices above 0, amounts of 0 or more, a known side; candles with low <= open, close <= high,
at least a minute apart); ticks must not go back in time within a file (equal times are fine),
and a file must not start before the previous one's last tick. Trades and candles do not mix
in one run.

Fast path: pyarrow's streaming CSV reader with explicit column types, one block of at most
1 MiB at a time (pyarrow keeps some 35 blocks in flight, so memory stays near 150 MB whatever
the file size), then numpy checks over whole batches. When a batch fails a check, the file is
read again by the pure-Python reader (`rows.read_ticks`, Python's csv module) up to the first
bad line, to raise a DataFileError naming the file, the line and the fault (`diagnose`); that
slow path runs only on error. Ticks of the batches before the bad one have already been
yielded by then. The pure-Python reader yields the very ticks this module does, one at a time:
a process that must not load pyarrow and numpy (the bot's replay feed) reads files with it.
"""

from __future__ import annotations

import math
import zipfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.csv as pacsv  # type: ignore[import-untyped]

from trading.backtest.formats import (
    FALSE_VALUES,
    GZIP,
    MARKET,
    READ_ERRORS,
    TRUE_VALUES,
    ZIP,
    DataFileError,
    Layout,
    sniff,
)
from trading.backtest.rows import (
    CANDLE_MS,
    CANDLE_OFFSETS_MS,
    CHUNK_ROWS,
    MAX_BLOCK,
    block_bytes,
    read_ticks,
)

CANDLE_NOTE: Final = (
    "1-minute candles hide the true price path: each is replayed as four ticks (open, low, "
    "high, close, or open, high, low, close for a down candle) 15 s apart, with no taker side, "
    "so the sentiment filter is off."
)

_ROLES: Final = ("ts", "price", "amount", "side", "maker", "type", "open", "high", "low", "close")
_DICT: Final = pa.dictionary(pa.int32(), pa.string())
_ARROW_ERRORS: Final = (pa.ArrowException, *READ_ERRORS)

Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]


@dataclass(slots=True)
class ReadStats:
    """What a TickStream has read so far; it is updated as batches are produced."""

    files: int = 0  # files opened so far
    rows: int = 0  # data rows read (headers excluded)
    ticks: int = 0  # ticks produced: one a trade, four a candle
    skipped_rows: int = 0  # rows that are not ticks: a `type` other than MARKET
    skipped_by_type: dict[str, int] = field(default_factory=dict)
    candles: bool = False  # the source is 1-minute candles: turn sentiment off, warn
    first_ts: int | None = None  # first and last tick, ms
    last_ts: int | None = None
    bytes_read: int = 0  # bytes of the files on disk consumed, for a progress bar
    total_bytes: int = 0
    formats: tuple[str, ...] = ()  # each file's format as a person names it, in order


class TickBatch:
    """Consecutive ticks: numpy arrays, and `(ts, price, qty)` tuples when iterated.

    Iterating converts to Python ints and floats afresh each time, so a batch may be fed to
    several engines.
    """

    __slots__ = ("price", "qty", "ts")

    def __init__(self, ts: Ints, price: Floats, qty: Floats) -> None:
        self.ts = ts
        self.price = price
        self.qty = qty

    def __len__(self) -> int:
        return len(self.ts)

    def __getitem__(self, part: slice) -> TickBatch:
        return TickBatch(self.ts[part], self.price[part], self.qty[part])

    def __iter__(self) -> Iterator[tuple[int, float, float]]:
        return zip(self.ts.tolist(), self.price.tolist(), self.qty.tolist(), strict=True)

    def __repr__(self) -> str:
        return f"<TickBatch of {len(self)} ticks>"


def open_ticks(
    paths: Sequence[str | Path] | str | Path, *, chunk_rows: int = CHUNK_ROWS
) -> TickStream:
    """A stream of tick batches from data files read in the order given.

    Reads the first bytes of every file at once, so that a missing file, an unknown format or
    candles mixed with trades fail here, and `stats.candles` is known before the first tick.
    Batches hold at most `chunk_rows` ticks, and each at most one read block: some 15,000
    trades. Raises DataFileError, here or while streaming.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    if not paths:
        raise ValueError("no data files given.")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1.")
    layouts = [sniff(Path(path)) for path in paths]
    first = layouts[0]
    for layout in layouts[1:]:
        if layout.format.candles != first.format.candles:
            raise DataFileError(
                layout.path,
                None,
                f"holds {_kind(layout)}, but {first.path} holds {_kind(first)}: "
                "a run replays trades or candles, not both.",
            )
    return TickStream(layouts, chunk_rows)


class TickStream:
    """Tick batches from data files, read once; `stats` grows as they are produced.

    Use it as a context manager (or call `close`) to release the open file when stopping
    before the end.
    """

    def __init__(self, layouts: Sequence[Layout], chunk_rows: int) -> None:
        self.paths = tuple(layout.path for layout in layouts)
        self.stats = ReadStats(
            candles=layouts[0].format.candles,
            total_bytes=sum(layout.size for layout in layouts),
            formats=tuple(layout.format.title for layout in layouts),
        )
        self._layouts = tuple(layouts)
        self._chunk_rows = chunk_rows
        self._batches: Generator[TickBatch, None, None] | None = None

    def __iter__(self) -> Iterator[TickBatch]:
        if self._batches is not None:
            raise RuntimeError("a TickStream is read once: call open_ticks again to reread.")
        self._batches = self._read()
        return self._batches

    def close(self) -> None:
        if self._batches is not None:
            self._batches.close()

    def __enter__(self) -> TickStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _read(self) -> Generator[TickBatch, None, None]:
        stats = self.stats
        last: int | None = None
        previous: Path | None = None
        done = 0
        for layout in self._layouts:
            stats.files += 1
            reader = _FileReader(layout, stats, last, previous, self._chunk_rows, done)
            yield from reader.batches()
            if reader.last != last:  # the bound for the next file is this one's last tick
                last, previous = reader.last, layout.path
            done += layout.size
            stats.bytes_read = done


def _kind(layout: Layout) -> str:
    return "1-minute candles" if layout.format.candles else "trades"


class _Bad(Exception):
    """A batch failed a check: the slow path (`diagnose`) finds and describes the line."""


class _ArrowSource:
    """A file opened for pyarrow, decompressed, with how many bytes on disk it has consumed."""

    def __init__(self, layout: Layout) -> None:
        self._size = layout.size
        self._closers: list[Any] = []
        self._tell: Callable[[], int]
        if layout.compression == ZIP:
            archive = zipfile.ZipFile(layout.path)
            self._closers.append(archive)
            assert layout.member is not None
            member: IO[bytes] = archive.open(layout.member)
            self._closers.append(member)
            expanded = max(archive.getinfo(layout.member).file_size, 1)
            self.stream: Any = member
            self._tell = lambda: member.tell() * self._size // expanded
        else:
            raw = pa.OSFile(str(layout.path), "r")
            self._closers.append(raw)
            self.stream = (
                pa.CompressedInputStream(raw, "gzip") if layout.compression == GZIP else raw
            )
            self._tell = raw.tell

    def progress(self) -> int:
        try:
            return min(int(self._tell()), self._size)
        except (OSError, ValueError):
            return 0

    def close(self) -> None:
        for closer in reversed(self._closers):
            closer.close()


class _FileReader:
    """The fast path over one file: pyarrow batches, numpy checks, TickBatch slices."""

    def __init__(
        self,
        layout: Layout,
        stats: ReadStats,
        last: int | None,
        previous: Path | None,
        chunk_rows: int,
        done: int,
    ) -> None:
        self.layout = layout
        self.stats = stats
        self.last = last  # the last tick so far, this file or the previous ones
        self.last_open: int | None = None  # candles: the open time of this file's last candle
        self.not_before = last
        self.previous = previous
        self.chunk = chunk_rows
        self.done = done
        self.rows = 0
        self.block = block_bytes(layout, chunk_rows)
        self.roles = [role for role in _ROLES if role in layout.index]

    def batches(self) -> Iterator[TickBatch]:
        source = _ArrowSource(self.layout)
        try:
            try:
                reader = self._open(source)
            except _ARROW_ERRORS as exc:
                raise self._explain(exc) from None
            while True:
                try:
                    record = reader.read_next_batch()
                except StopIteration:
                    break
                except _ARROW_ERRORS as exc:
                    raise self._explain(exc) from None
                try:
                    ts, price, qty = self._convert(record)
                except _Bad as exc:
                    raise self._explain(exc) from None
                self._count(record.num_rows, ts, source)
                for start in range(0, len(ts), self.chunk):
                    stop = start + self.chunk
                    yield TickBatch(ts[start:stop], price[start:stop], qty[start:stop])
        finally:
            source.close()
        if self.rows == 0:
            raise DataFileError(self.layout.path, None, "has a header and no rows.")

    def _open(self, source: _ArrowSource) -> Any:
        layout = self.layout
        names = [f"c{i}" for i in range(len(layout.names))]
        types: dict[str, Any] = {}
        for role in self.roles:
            types[names[layout.index[role]]] = self._arrow_type(role)
        return pacsv.open_csv(
            source.stream,
            read_options=pacsv.ReadOptions(
                column_names=names,
                skip_rows=1 if layout.header else 0,
                block_size=self.block,
                use_threads=True,
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=False, ignore_empty_lines=True),
            convert_options=pacsv.ConvertOptions(
                include_columns=[names[layout.index[role]] for role in self.roles],
                column_types=types,
                null_values=[],
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                true_values=list(TRUE_VALUES),
                false_values=list(FALSE_VALUES),
            ),
        )

    def _arrow_type(self, role: str) -> Any:
        if role == "ts":
            if self.layout.datetime:
                return pa.timestamp("us", tz="UTC" if self.layout.zoned else None)
            return pa.int64()
        if role in ("side", "type"):
            return _DICT
        if role == "maker":
            return pa.bool_()
        return pa.float64()

    def _convert(self, record: Any) -> tuple[Ints, Floats, Floats]:
        columns = dict(zip(self.roles, record.columns, strict=True))
        ts = self._times(columns["ts"])
        if self.layout.format.candles:
            return self._candles(ts, columns)
        price = _floats(columns["price"])
        amount = _floats(columns["amount"])
        if not _all_positive(price) or not bool(((amount >= 0) & (amount < math.inf)).all()):
            raise _Bad("a price or an amount")
        if "side" in columns:
            qty = amount * self._side_signs(columns["side"])
        else:
            maker = columns["maker"].to_numpy(zero_copy_only=False)
            qty = np.where(maker, -amount, amount)
        if "type" in columns:
            keep = self._market(columns["type"])
            if keep is not None:
                ts, price, qty = ts[keep], price[keep], qty[keep]
        self._order(ts)
        return ts, price, qty

    def _times(self, column: Any) -> Ints:
        if self.layout.datetime:
            micros: Ints = column.cast(pa.int64()).to_numpy()
            return micros // 1000
        ts: Ints = column.to_numpy()
        return ts // 1000 if self.layout.format.ts_unit == "us" else ts

    def _side_signs(self, column: Any) -> Floats:
        fmt = self.layout.format
        signs = [fmt.side_sign(value) for value in column.dictionary.to_pylist()]
        table = np.array([math.nan if s is None else s for s in signs], dtype=np.float64)
        sign: Floats = table[column.indices.to_numpy()]
        if None in signs and np.isnan(sign).any():
            raise _Bad("a side")
        return sign

    def _market(self, column: Any) -> npt.NDArray[np.bool_] | None:
        """Which rows are MARKET trades, None when all are; counts the others by type."""
        values = column.dictionary.to_pylist()
        market = np.array([value == MARKET for value in values], dtype=bool)
        if market.all():
            return None
        indices = column.indices.to_numpy()
        keep: npt.NDArray[np.bool_] = market[indices]
        counts = np.bincount(indices[~keep], minlength=len(values))
        for value, count in zip(values, counts.tolist(), strict=True):
            if count:
                by_type = self.stats.skipped_by_type
                by_type[value] = by_type.get(value, 0) + count
                self.stats.skipped_rows += count
        return keep

    def _order(self, ts: Ints) -> None:
        if not len(ts):
            return
        if self.last is not None and ts[0] < self.last:
            raise _Bad("time")
        if len(ts) > 1 and bool((ts[1:] < ts[:-1]).any()):
            raise _Bad("time")
        self.last = int(ts[-1])

    def _candles(self, opens: Ints, columns: dict[str, Any]) -> tuple[Ints, Floats, Floats]:
        o, h, lo, c = (_floats(columns[role]) for role in ("open", "high", "low", "close"))
        if not all(_all_positive(x) for x in (o, h, lo, c)):
            raise _Bad("a price")
        if not bool(((h >= lo) & (lo <= o) & (o <= h) & (lo <= c) & (c <= h)).all()):
            raise _Bad("a candle")
        if len(opens):
            if self.last_open is None:
                if self.last is not None and opens[0] < self.last:
                    raise _Bad("time")
            elif opens[0] - self.last_open < CANDLE_MS:
                raise _Bad("time")
            if len(opens) > 1 and bool((opens[1:] - opens[:-1] < CANDLE_MS).any()):
                raise _Bad("time")
            self.last_open = int(opens[-1])
            self.last = self.last_open + CANDLE_OFFSETS_MS[-1]
        up = c >= o
        path = np.column_stack((o, np.where(up, lo, h), np.where(up, h, lo), c))
        ts = (opens[:, None] + np.array(CANDLE_OFFSETS_MS, dtype=np.int64)).ravel()
        return ts, path.ravel(), np.zeros(len(ts))

    def _count(self, rows: int, ts: Ints, source: _ArrowSource) -> None:
        stats = self.stats
        self.rows += rows
        stats.rows += rows
        stats.ticks += len(ts)
        if len(ts):
            if stats.first_ts is None:
                stats.first_ts = int(ts[0])
            stats.last_ts = int(ts[-1])
        stats.bytes_read = self.done + source.progress()

    def _explain(self, exc: BaseException) -> DataFileError:
        found = diagnose(
            self.layout, not_before=self.not_before, previous=self.previous, max_line=self.block
        )
        if found is not None:
            return found
        return DataFileError(self.layout.path, None, f"cannot be read ({exc}).")


def _floats(column: Any) -> Floats:
    values: Floats = column.to_numpy()
    return values


def _all_positive(values: Floats) -> bool:
    return bool(((values > 0) & (values < math.inf)).all())


def diagnose(
    layout: Layout,
    *,
    not_before: int | None = None,
    previous: Path | None = None,
    max_line: int = MAX_BLOCK,
) -> DataFileError | None:
    """The first bad line of a file, read by the pure-Python reader; None when there is none.

    `rows.read_ticks` makes the same checks as the fast path, row by row (see its module).
    """
    ticks = read_ticks(layout, not_before=not_before, previous=previous, max_line=max_line)
    try:
        for _tick in ticks:
            pass
    except DataFileError as error:
        return error
    return None
