"""Numbers as a trader writes them; free of Django, so every layer can use it."""

from __future__ import annotations

from decimal import Decimal


def plain(value: Decimal | float | int) -> str:
    """A number as a trader writes it: 62750, not 62750.000000000000 or 6.275E+4."""
    return format(Decimal(str(value)).normalize(), "f")


def decimal_of(value: float) -> Decimal:
    """A float as the decimal it prints as (0.1, not 0.1000000000000000055511151231257827)."""
    return Decimal(repr(value))
