"""What a notification is, and how its numbers read on a phone."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from trading.choices import TradeReason

# Digits a price or size keeps after the point: enough for any coin, none of a float's noise
# (0.1 + 0.2 reads 0.3, not 0.30000000000000004).
MAX_DECIMALS = Decimal("1e-10")


class Kind(enum.StrEnum):
    TIER_FIRED = "tier_fired"
    ORDER_FILLED = "order_filled"
    ORDER_REJECTED = "order_rejected"
    POSITION_CLOSED = "position_closed"
    FEED_STALE = "feed_stale"
    FEED_RECOVERED = "feed_recovered"
    LIMIT_HIT = "limit_hit"
    KILL_SWITCH = "kill_switch"
    BOT_STARTED = "bot_started"
    BOT_STOPPED = "bot_stopped"
    BOT_DOWN = "bot_down"
    POSITION_DRIFT = "position_drift"
    DAILY_SUMMARY = "daily_summary"


def _plain(value: Any) -> Any:
    """A value as JSON carries it: Decimal as a number, times as ISO 8601 text, ids as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    return str(value)  # a UUID, or anything else: its text


@dataclass(frozen=True)
class Notification:
    """One thing the bot or a background job tells the trader.

    `title` is one line (a phone's preview); `text` is the whole message in plain words;
    `fields` holds the same facts for machines (the webhook), as JSON-ready values.
    """

    kind: Kind
    title: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))
        object.__setattr__(self, "title", " ".join(self.title.split()))
        object.__setattr__(self, "fields", _plain(self.fields))

    def as_dict(self) -> dict[str, Any]:
        """The webhook's JSON body, and what a celery task carries."""
        return {
            "kind": self.kind.value,
            "title": self.title,
            "text": self.text,
            "fields": self.fields,
            "timestamp": self.timestamp.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Notification:
        return cls(
            kind=Kind(data["kind"]),
            title=data["title"],
            text=data["text"],
            fields=dict(data.get("fields") or {}),
            timestamp=datetime.fromisoformat(data["timestamp"]),
        )


def _decimal(value: Decimal | float | int | str) -> Decimal:
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def number(value: Decimal | float | int | str) -> str:
    """A price or size as a trader writes it: 61,250.5 and 0.004, never 6.125E+4."""
    exact = _decimal(value).quantize(MAX_DECIMALS).normalize()
    if exact == 0:
        return "0"
    return f"{exact:,f}"


def money(value: Decimal | float | int | str, *, signed: bool = False) -> str:
    """An amount of money: two decimals (1,234.50), up to four below 1 (0.0337), so that a
    small fee does not read as 0.00; `signed` puts + before a gain."""
    exact = _decimal(value)
    small = 0 < abs(exact) < 1
    rounded = exact.quantize(Decimal("0.0001") if small else Decimal("0.01"))
    if rounded == 0:
        rounded = abs(rounded)  # never -0.00
    text = f"{rounded:,f}"
    while small and len(text.partition(".")[2]) > 2 and text.endswith("0"):
        text = text[:-1]
    return f"+{text}" if signed and rounded > 0 else text


def settle_currency(symbol: str) -> str:
    """USDT for BTC/USDT:USDT: the currency PnL and fees are paid in."""
    if ":" in symbol:
        return symbol.rsplit(":", 1)[1]
    return symbol.rsplit("/", 1)[-1] if "/" in symbol else ""


def reason_label(reason: str) -> str:
    """`sentiment_exit` as a trader reads it: sentiment exit."""
    labels = dict(TradeReason.choices)
    return str(labels.get(reason, reason.replace("_", " ")))


def tiers_label(tiers: tuple[int, ...] | list[int]) -> str:
    """tier 1, tiers 1 and 2, tiers 1, 2 and 3."""
    names = [str(t) for t in tiers]
    if len(names) <= 1:
        return f"tier {''.join(names)}".strip()
    return f"tiers {', '.join(names[:-1])} and {names[-1]}"


def seconds(value: float) -> str:
    """A duration: 45 s, 3 min 5 s, 2 h 10 min."""
    total = round(value)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"
