"""A symbol's order journal: each batch's intents and tier state, on disk before its orders go.

The order path's write-ahead log. A batch's decisions are appended here, one line of JSON, by
the event loop itself (a few microseconds: the write lands in the operating system's cache,
which a killed process cannot lose), and its orders go out at once; the database transaction
that records the same decisions follows on the order path's thread. When the bot starts, any
entry whose intents the database does not hold is written to it first, so that recovery finds
and settles its orders as it settles any intent left unanswered. A power cut can lose the last
entries as it can lose SQLite's last commits in WAL mode with synchronous=NORMAL; the position
check at start then finds what the exchange holds.

One file per installation (the order prefix), exchange and symbol, under `JOURNAL_DIR`. The
file is locked while a bot trades the symbol: a second bot on the same machine and database
cannot trade it too. Entries the database has recorded are cut off once the file has grown a
little and every entry in it is recorded.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from trading.engine import LevelId, LevelState, OrderIntent, SideState

# Recorded entries are cut off once the file is past this size: one system call, on the event
# loop, every few dozen batches with orders, instead of one a batch.
CUT_AT_BYTES = 64 * 1024


class JournalError(Exception):
    """The journal cannot be used; the message says which file, and what to do."""


@dataclass(frozen=True)
class Decisions:
    """One batch's decisions, as the journal and then the database record them: the tier state
    they changed, and order intents, each with its client order id."""

    exchange: str
    symbol: str
    states: dict[LevelId, LevelState]
    orders: list[tuple[OrderIntent, str]] = field(default_factory=list)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def journal_path(folder: Path, prefix: str, exchange: str, symbol: str) -> Path:
    """The journal's file: readable names, and a digest so that no two symbols share one."""
    digest = hashlib.sha256(f"{exchange}\0{symbol}".encode()).hexdigest()[:8]
    slug = re.sub(r"[^A-Za-z0-9]+", "_", f"{exchange}-{symbol}").strip("_")
    return folder / f"{prefix}-{slug}-{digest}.journal"


class Journal:
    """Open and locked from `open` until `close`. The event loop appends; the database
    thread's answers come back to the loop, which calls `recorded` for each in turn."""

    def __init__(self, path: Path, fd: int, entries: list[Decisions], size: int) -> None:
        self.path = path
        self.fd = fd
        self.entries = entries  # what the file held when opened
        self.size = size
        self.appended = 0
        self.recorded_count = 0

    @classmethod
    def open(cls, path: Path, exchange: str, symbol: str) -> Journal:
        """Lock the symbol's file (made if missing) and read what it holds."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as e:
            raise JournalError(
                f"The order journal {path} cannot be opened ({e.strerror}): check that the "
                "folder is writable, or set LEVELBOT_JOURNAL_DIR to one that is."
            ) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise JournalError(
                f"Another bot is trading this symbol: its order journal {path} is locked. "
                "Stop the other bot first; two bots on one symbol would double its orders."
            ) from None
        with open(path, "rb") as file:
            data = file.read()
        try:
            entries = parse(data, path, exchange, symbol)
        except JournalError:
            os.close(fd)
            raise
        return cls(path, fd, entries, len(data))

    def append(self, decisions: Decisions) -> None:
        """One batch's decisions, as one line; it is in the file when this returns."""
        line = encode(decisions)
        written = os.write(self.fd, line)
        if written != len(line):  # a full disk: the line is cut, and no order may go
            raise OSError(f"the order journal {self.path} took {written} of {len(line)} bytes")
        self.size += written
        self.appended += 1

    def recorded(self) -> None:
        """The database holds the next entry appended since the last cut. Once it holds
        every one and the file has grown, the file is emptied (a file released already is the
        next start's to read)."""
        self.recorded_count += 1
        if self.fd >= 0 and self.recorded_count == self.appended and self.size >= CUT_AT_BYTES:
            self.clear()

    def clear(self) -> None:
        """Empty the file: the database holds every entry in it."""
        os.ftruncate(self.fd, 0)
        self.size = self.appended = self.recorded_count = 0
        self.entries = []

    @property
    def caught_up(self) -> bool:
        return self.recorded_count == self.appended

    def close(self) -> None:
        """Release the file; one whose every entry is recorded is removed first, so that
        none are left behind."""
        if self.fd < 0:
            return
        if self.caught_up and not self.entries:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)
        self.fd = -1


def encode(decisions: Decisions) -> bytes:
    """One line of JSON; the exchange and symbol are the file's."""
    entry = {
        "at": decisions.at.isoformat(),
        "states": [
            [pk, s.last_trigger_ms, _side(s.long), _side(s.short)]
            for pk, s in decisions.states.items()
        ],
        "orders": [
            [
                cid,
                o.ts,
                o.level_id,
                o.side,
                o.action,
                list(o.tiers),
                o.size,
                o.price,
                o.reason,
                o.cycle,
            ]
            for o, cid in decisions.orders
        ],
    }
    return json.dumps(entry, separators=(",", ":")).encode() + b"\n"


def _side(s: SideState) -> list[Any]:
    return [list(s.fired), s.filled, s.cycle]


def parse(data: bytes, path: Path, exchange: str, symbol: str) -> list[Decisions]:
    """The file's entries. A last line without its newline was being written when the bot
    stopped: its orders never went out, and it is left out. Any other line that does not read
    is an error naming it: the journal is not guessed at."""
    lines = data.split(b"\n")
    entries = []
    for number, line in enumerate(lines[:-1], start=1):  # the last piece has no newline
        try:
            entries.append(_entry(json.loads(line), exchange, symbol))
        except (ValueError, TypeError, KeyError, IndexError) as e:
            raise JournalError(
                f"{path}, line {number}: not an order journal entry ({e}). Move the file "
                "aside and check the orders on the exchange before starting the bot again."
            ) from e
    return entries


def _entry(raw: dict[str, Any], exchange: str, symbol: str) -> Decisions:
    def side(fields: list[Any]) -> SideState:
        fired, filled, cycle = fields
        return SideState(tuple(int(t) for t in fired), float(filled), int(cycle))

    states = {
        pk: LevelState(None if last is None else int(last), side(long), side(short))
        for pk, last, long, short in raw["states"]
    }
    orders = [
        (
            OrderIntent(
                int(ts),
                level_id,
                str(side_),
                str(action),
                tuple(int(t) for t in tiers),
                float(size),
                float(price),
                str(reason),
                int(cycle),
            ),
            str(cid),
        )
        for cid, ts, level_id, side_, action, tiers, size, price, reason, cycle in raw["orders"]
    ]
    at = datetime.fromisoformat(raw["at"])
    if at.tzinfo is None:
        raise ValueError("its time has no time zone")
    return Decisions(exchange, symbol, states, orders, at)
