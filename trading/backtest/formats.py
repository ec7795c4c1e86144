"""The data files a backtest replays: which format a file is, and how to open it.

A file's format comes from its header (or, for Binance's header-less files, from its number of
columns), never from its name; its compression comes from its first bytes: gzip, a zip archive
holding one CSV, or plain text. `sniff` reads only the first 64 KiB of a file.

The number and time grammars here are those of pyarrow's CSV conversion, which the fast reader
uses: the pure-Python reader (`rows.read_ticks`) judges each field by them, so that it reads
the very ticks the fast path reads and, when it explains a bad line for the fast path
(`readers.diagnose`), finds the very line the fast path stumbled on.
"""

from __future__ import annotations

import csv
import gzip
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Final, cast

SNIFF_BYTES: Final = 1 << 16

PLAIN: Final = "plain"
GZIP: Final = "gzip"
ZIP: Final = "zip"

# pyarrow's grammars (see the module docstring), as full matches.
FLOAT_RE: Final = re.compile(
    r"[ \t]*[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)[ \t]*",
    re.IGNORECASE,
)
INT_RE: Final = re.compile(r"[ \t]*(?:(-?[0-9]+)|0[xX]([0-9a-fA-F]{1,16}))[ \t]*")
DATETIME_RE: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2})(?::([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,6}))?)?)?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
TRUE_VALUES: Final = ("true", "True", "TRUE", "1")
FALSE_VALUES: Final = ("false", "False", "FALSE", "0")
MARKET: Final = "MARKET"

_INT64_MIN: Final = -(1 << 63)
_INT64_MAX: Final = (1 << 63) - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class DataFileError(Exception):
    """A data file that cannot be replayed, and why.

    `str()` is one sentence naming the file and, where it applies, the 1-based line of the file
    (a header is line 1): "trades.csv, line 7: price 'abc' is not a number."
    """

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        super().__init__(str(path), line, message)
        self.path = Path(path)
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = str(self.path) if self.line is None else f"{self.path}, line {self.line}"
        return f"{where}: {self.message}"


@dataclass(frozen=True, slots=True)
class Format:
    """One kind of data file: its published columns and what each needed column means.

    Roles: `ts` (the time), `price`, `amount` (the unsigned taker amount), `side` (the taker
    side, a word) or `maker` (Binance's is_buyer_maker), `type` (only MARKET rows are ticks),
    and `open`, `high`, `low`, `close` for candles.
    """

    name: str
    title: str
    columns: tuple[str, ...]
    roles: tuple[tuple[str, str], ...]
    optional: tuple[tuple[str, str], ...] = ()
    ts_unit: str = "ms"  # "ms", "us", or "candle" (milliseconds or a UTC date and time)
    sides: tuple[tuple[str, float], ...] = ()

    @property
    def candles(self) -> bool:
        return self.ts_unit == "candle"

    def side_sign(self, value: str) -> float | None:
        """The sign of the taker amount for a side value, None when the value is no side."""
        word = value.strip().lower()
        for name, sign in self.sides:
            if word == name:
                return sign
        return None

    def side_words(self) -> str:
        words = [name for name, _ in self.sides]
        return ", ".join(words[:-1]) + " nor " + words[-1]


_BUY_SELL: Final = (("buy", 1.0), ("sell", -1.0))

CANONICAL: Final = Format(
    name="canonical",
    title="canonical trades",
    columns=("timestamp", "price", "amount", "side", "type"),
    roles=(("ts", "timestamp"), ("price", "price"), ("amount", "amount"), ("side", "side")),
    optional=(("type", "type"),),
    sides=_BUY_SELL,
)
TARDIS: Final = Format(
    name="tardis",
    title="Tardis.dev trades",
    columns=("exchange", "symbol", "timestamp", "local_timestamp", "id", "side", "price", "amount"),
    roles=(("ts", "timestamp"), ("price", "price"), ("amount", "amount"), ("side", "side")),
    ts_unit="us",
    sides=(*_BUY_SELL, ("unknown", 0.0)),
)
BINANCE_TRADES: Final = Format(
    name="binance_trades",
    title="Binance USD-M trades",
    columns=("id", "price", "qty", "quote_qty", "time", "is_buyer_maker"),
    roles=(("ts", "time"), ("price", "price"), ("amount", "qty"), ("maker", "is_buyer_maker")),
)
BINANCE_AGG_TRADES: Final = Format(
    name="binance_agg_trades",
    title="Binance USD-M aggTrades",
    columns=(
        "agg_trade_id",
        "price",
        "quantity",
        "first_trade_id",
        "last_trade_id",
        "transact_time",
        "is_buyer_maker",
    ),
    roles=(
        ("ts", "transact_time"),
        ("price", "price"),
        ("amount", "quantity"),
        ("maker", "is_buyer_maker"),
    ),
)
OHLCV: Final = Format(
    name="ohlcv",
    title="1-minute candles",
    columns=("timestamp", "open", "high", "low", "close", "volume"),
    roles=(
        ("ts", "timestamp"),
        ("open", "open"),
        ("high", "high"),
        ("low", "low"),
        ("close", "close"),
    ),
    ts_unit="candle",
)
FORMATS: Final = (CANONICAL, TARDIS, BINANCE_TRADES, BINANCE_AGG_TRADES, OHLCV)
_HEADERLESS: Final = {
    len(BINANCE_TRADES.columns): BINANCE_TRADES,
    len(BINANCE_AGG_TRADES.columns): BINANCE_AGG_TRADES,
}


@dataclass(frozen=True, slots=True)
class Layout:
    """What `sniff` learned of one file: its format, compression and where each role sits."""

    path: Path
    format: Format
    header: bool
    names: tuple[str, ...]  # the file's column names (the format's own for a header-less file)
    index: dict[str, int] = field(default_factory=dict)  # role -> column position
    datetime: bool = False  # candles whose time is a date and time, not milliseconds
    zoned: bool = False  # ... that carries a zone offset
    line_bytes: int = 64  # length of the first row, to size read blocks
    compression: str = PLAIN
    member: str | None = None  # the CSV inside a zip archive
    size: int = 0  # bytes on disk

    def column(self, role: str) -> str:
        return self.names[self.index[role]]


def parse_float(text: str) -> float | None:
    """The number pyarrow reads from a field, or None when it reads none."""
    return float(text) if FLOAT_RE.fullmatch(text) else None


def parse_int(text: str) -> int | None:
    """The int64 pyarrow reads from a field, or None when it reads none."""
    match = INT_RE.fullmatch(text)
    if match is None:
        return None
    decimal, hexa = match.groups()
    if hexa is not None:
        value = int(hexa, 16)
        return value - (1 << 64) if value > _INT64_MAX else value
    value = int(decimal)
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def parse_datetime_us(text: str, zoned: bool) -> int | None:
    """Microseconds since the epoch of an ISO 8601 date and time (UTC unless it says), or None.

    `zoned` files must give an offset on every row and others none, as pyarrow requires.
    """
    match = DATETIME_RE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    if (zone is not None) != zoned:
        return None
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone is not None and zone != "Z":
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        moment -= offset if zone[0] == "+" else -offset
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def describe_ms(ms: int) -> str:
    """A time in ms as a person reads it: '1723161256322 (2024-08-08 23:54:16.322 UTC)'."""
    try:
        moment = _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return str(ms)
    return f"{ms} ({moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d} UTC)"


def compression_of(path: Path) -> str:
    with path.open("rb") as f:
        magic = f.read(4)
    if magic.startswith(b"\x1f\x8b"):
        return GZIP
    if magic in (b"PK\x03\x04", b"PK\x05\x06"):
        return ZIP
    return PLAIN


def zip_member(path: Path) -> str:
    """The one CSV file inside a zip archive, as Binance publishes them."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataFileError(path, None, f"is not a readable zip archive ({exc}).") from None
    members = [n for n in names if n.lower().endswith(".csv") and not n.startswith("__MACOSX/")]
    if len(members) == 1:
        return members[0]
    if not members:
        held = f"it holds {_listing(names)}" if names else "it is empty"
        raise DataFileError(path, None, f"the zip archive holds no CSV file ({held}).")
    raise DataFileError(
        path,
        None,
        f"the zip archive holds {len(members)} CSV files ({_listing(members)}); "
        "give one CSV per archive.",
    )


@contextmanager
def open_binary(layout: Layout) -> Iterator[IO[bytes]]:
    """The file's CSV bytes, decompressed, for Python-level reading (sniff and slow path)."""
    if layout.compression == GZIP:
        with gzip.open(layout.path, "rb") as f:
            yield cast(IO[bytes], f)
    elif layout.compression == ZIP:
        assert layout.member is not None
        with zipfile.ZipFile(layout.path) as archive, archive.open(layout.member) as f:
            yield f
    else:
        with layout.path.open("rb") as f:
            yield f


READ_ERRORS: Final = (OSError, EOFError, zlib.error, zipfile.BadZipFile)


class NumberedLines:
    """The text lines of a CSV file's bytes, for `csv.reader`, counted as they are read.

    `line` is the 1-based number of the last line handed out (a header is line 1), so that an
    error found in a row names its line; a byte-order mark is dropped; bytes that are not UTF-8
    are kept as surrogates for the checks to refuse; a line longer than `max_bytes` raises
    DataFileError, saying it is too long for `row_of` ("a row of trades or candles").
    """

    def __init__(self, path: Path, stream: IO[bytes], *, max_bytes: int, row_of: str) -> None:
        self.path = path
        self.stream = stream
        self.max_bytes = max_bytes
        self.row_of = row_of
        self.line = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.stream:
            self.line += 1
            if len(raw) > self.max_bytes:
                raise DataFileError(
                    self.path,
                    self.line,
                    f"is {len(raw):,} bytes long: too long for {self.row_of}.",
                )
            text = raw.decode("utf-8", "surrogateescape")
            yield text[1:] if self.line == 1 and text.startswith("\ufeff") else text


def sniff(path: Path) -> Layout:
    """The layout of a data file from its first bytes; DataFileError when it is none we read."""
    try:
        exists, is_file = path.exists(), path.is_file()
    except (OSError, ValueError) as exc:  # a name too long, or with a NUL byte in it
        why = exc.strerror if isinstance(exc, OSError) else exc
        raise DataFileError(path, None, f"cannot be a file's path ({why}).") from None
    if not exists:
        raise DataFileError(path, None, "there is no such file.")
    if not is_file:
        raise DataFileError(path, None, "is not a file.")
    try:
        size = path.stat().st_size
        compression = compression_of(path) if size else PLAIN
    except OSError as exc:
        raise DataFileError(path, None, f"cannot be read ({exc.strerror or exc}).") from None
    if size == 0:
        raise DataFileError(path, None, "is empty.")
    member = zip_member(path) if compression == ZIP else None
    probe = Layout(path, CANONICAL, True, (), compression=compression, member=member, size=size)
    try:
        with open_binary(probe) as f:
            head = f.read(SNIFF_BYTES)
    except READ_ERRORS as exc:
        what = "gzip" if compression == GZIP else "zip" if compression == ZIP else "file"
        raise DataFileError(path, None, f"cannot be read as a {what} ({exc}).") from None
    if not head:
        raise DataFileError(path, None, "is empty.")
    if b"\0" in head:
        raise DataFileError(path, None, "holds binary data: it is not a CSV file.")
    whole = len(head) < SNIFF_BYTES
    lines = head.split(b"\n")
    if not whole:
        lines.pop()  # cut short by the probe
    if not lines:
        raise DataFileError(
            path, 1, f"is longer than {SNIFF_BYTES:,} bytes: this is not a CSV file."
        )
    try:
        first = lines[0].rstrip(b"\r").decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataFileError(path, 1, "is not UTF-8 text: this is not a CSV file.") from None
    if not first.strip():
        raise DataFileError(path, 1, "is empty, where the header should be.")
    fields = _split(path, 1, first)
    rows = [row for row in (line.rstrip(b"\r") for line in lines[1:]) if row]
    headerless = parse_float(fields[0]) is not None
    if headerless:
        fmt = _HEADERLESS.get(len(fields))
        if fmt is None:
            raise DataFileError(
                path,
                1,
                f"has no header and {len(fields)} fields; a file without a header is read only "
                f"as {BINANCE_TRADES.title} ({len(BINANCE_TRADES.columns)} fields: "
                f"{', '.join(BINANCE_TRADES.columns)}) or {BINANCE_AGG_TRADES.title} "
                f"({len(BINANCE_AGG_TRADES.columns)} fields: "
                f"{', '.join(BINANCE_AGG_TRADES.columns)}).",
            )
        names = fmt.columns
        rows.insert(0, lines[0].rstrip(b"\r"))
    else:
        names = tuple(name.strip() for name in fields)
        fmt = _detect(path, names)
        if not rows and whole:
            raise DataFileError(path, None, "has a header and no rows.")
    index = _index(path, fmt, names)
    datetime_ts = zoned = False
    if fmt.candles and rows:
        # Milliseconds or a date and time: the first row decides for the whole file.
        first_row = _split(path, 2, rows[0].decode("utf-8", "replace"))
        value = first_row[index["ts"]] if len(first_row) > index["ts"] else ""
        stamp = DATETIME_RE.fullmatch(value)
        if INT_RE.fullmatch(value) is None and stamp is not None:
            datetime_ts, zoned = True, stamp.group(8) is not None
    line_bytes = len(rows[0]) + 1 if rows else len(lines[0]) + 1
    return Layout(
        path,
        fmt,
        not headerless,
        tuple(names),
        index,
        datetime=datetime_ts,
        zoned=zoned,
        line_bytes=line_bytes,
        compression=compression,
        member=member,
        size=size,
    )


def _split(path: Path, line: int, text: str) -> list[str]:
    """The fields of one line; DataFileError where the csv module cannot split it."""
    try:
        return next(csv.reader([text]), [])
    except csv.Error as exc:  # a carriage return inside an unquoted field, and the like
        raise DataFileError(path, line, f"is not CSV ({exc}).") from None


def _detect(path: Path, names: tuple[str, ...]) -> Format:
    """The format a header names, by the columns only that format has.

    `local_timestamp`: Tardis.dev; `is_buyer_maker` and kin: Binance, aggTrades when a column
    only aggTrades have is there; `open`, `high`, `low` or `close`: candles; else canonical.
    """
    have = {name.lower() for name in names}
    if "local_timestamp" in have:
        return TARDIS
    binance = {"is_buyer_maker", "quote_qty", "transact_time", "agg_trade_id", "first_trade_id"}
    if have & binance:
        aggregated = {
            "transact_time",
            "agg_trade_id",
            "first_trade_id",
            "last_trade_id",
            "quantity",
        }
        return BINANCE_AGG_TRADES if have & aggregated else BINANCE_TRADES
    if have & {"open", "high", "low", "close"}:
        return OHLCV
    if have & {"timestamp", "price", "amount", "side"}:
        return CANONICAL
    known = "; ".join(f"{fmt.title} ({', '.join(fmt.columns)})" for fmt in FORMATS)
    raise DataFileError(
        path,
        1,
        f"the header ({_listing(names)}) names none of the columns of a known format: {known}.",
    )


def _index(path: Path, fmt: Format, names: tuple[str, ...]) -> dict[str, int]:
    lower = [name.lower() for name in names]
    index: dict[str, int] = {}
    missing = []
    for role, column in fmt.roles + fmt.optional:
        where = [i for i, name in enumerate(lower) if name == column]
        if len(where) > 1:
            raise DataFileError(path, 1, f"the header names '{column}' {len(where)} times.")
        if where:
            index[role] = where[0]
        elif (role, column) in fmt.roles:
            missing.append(column)
    if missing:
        missing.sort(key=fmt.columns.index)
        what = " or ".join(f"'{column}'" for column in missing)
        plural = "s" if len(missing) > 1 else ""
        raise DataFileError(
            path,
            1,
            f"has no {what} column{plural} for {fmt.title} ({', '.join(fmt.columns)}); "
            f"the header has {_listing(names)}.",
        )
    return index


def _listing(names: tuple[str, ...] | list[str], most: int = 12) -> str:
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")
