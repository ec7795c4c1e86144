"""Numbers and times as a trader writes them: `{% load levelbot %}`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django import template

from trading.numbers import plain as plain_number

register = template.Library()

MISSING = "—"


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


@register.filter
def plain(value: Any) -> str:
    """62750, not 62750.000000000000; a dash for a missing value."""
    number = _decimal(value)
    return MISSING if number is None else plain_number(number)


@register.filter
def pct(value: Any) -> str:
    """A fraction as a percentage: 0.005 -> 0.5%."""
    number = _decimal(value)
    return MISSING if number is None else f"{plain_number(number * 100)}%"


@register.filter
def money(value: Any) -> str:
    """A profit or loss with its sign and two decimals: +1,234.56."""
    number = _decimal(value)
    return MISSING if number is None else f"{number:+,.2f}"


@register.filter
def amount(value: Any) -> str:
    """An amount with two decimals: 1,234.56."""
    number = _decimal(value)
    return MISSING if number is None else f"{number:,.2f}"


@register.filter
def whole(value: Any) -> str:
    """A count with thousands separated: 120,000."""
    number = _decimal(value)
    return MISSING if number is None else f"{number:,.0f}"


@register.filter
def rate(value: Any) -> str:
    """A ratio as a whole percentage: 0.55 -> 55%."""
    number = _decimal(value)
    return MISSING if number is None else f"{number * 100:.0f}%"


@register.filter
def ms_time(value: Any, precision: str = "") -> str:
    """Event time in ms as UTC: 2024-07-19 00:00:17; with `"ms"`, 2024-07-19 00:00:17.599."""
    number = _decimal(value)
    if number is None:
        return MISSING
    moment = datetime.fromtimestamp(float(number) / 1000, tz=UTC)
    if precision == "ms":
        return f"{moment:%Y-%m-%d %H:%M:%S}.{int(number) % 1000:03d}"
    return moment.strftime("%Y-%m-%d %H:%M:%S")


@register.filter
def tier_list(value: Any) -> str:
    """[1, 2] -> 1, 2; none fired -> a dash."""
    if not value:
        return MISSING
    return ", ".join(str(tier) for tier in value)


@register.filter
def duration(value: Any) -> str:
    """A timedelta or seconds as a trader reads an uptime or an age: 45 s, 4 min 05 s, 2 h 03 min,
    3 d 4 h."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    number = _decimal(value)
    if number is None:
        return MISSING
    seconds = max(int(number), 0)
    minutes, s = divmod(seconds, 60)
    hours, m = divmod(minutes, 60)
    days, h = divmod(hours, 24)
    if days:
        return f"{days} d {h} h"
    if hours:
        return f"{hours} h {m:02d} min"
    if minutes:
        return f"{minutes} min {s:02d} s"
    return f"{s} s"


@register.filter
def mebibytes(value: Any) -> str:
    """A size in bytes in MiB with one decimal: 48.3 MiB."""
    number = _decimal(value)
    return MISSING if number is None else f"{number / 2**20:,.1f} MiB"


@register.filter
def words(value: Any) -> str:
    """A code as words: already_fired -> already fired."""
    return str(value or "").replace("_", " ")
