"""Field validators whose messages a trader reads beside the field in a form."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import BaseValidator, RegexValidator
from django.utils.deconstruct import deconstructible

TIER_NUMBERS = (1, 2, 3)


@deconstructible
class GreaterThanValidator(BaseValidator):
    """Refuses values at or below the limit (Django's MinValueValidator lets the limit pass)."""

    code = "greater_than"

    def compare(self, a: Any, b: Any) -> bool:
        return bool(a <= b)


@deconstructible
class LessThanValidator(BaseValidator):
    """Refuses values at or above the limit."""

    code = "less_than"

    def compare(self, a: Any, b: Any) -> bool:
        return bool(a >= b)


validate_exchange_id = RegexValidator(
    r"^[a-z][a-z0-9]*$",
    "Use the exchange's ccxt id in lowercase letters and digits, such as binanceusdm, bybit "
    "or okx.",
)

validate_unified_symbol = RegexValidator(
    r"^[^\s/:]+/[^\s/:]+:[^\s/:]+$",
    "Use the unified perpetual symbol, base/quote:settle, such as BTC/USDT:USDT "
    "(not the exchange's market id BTCUSDT).",
)

validate_client_order_id = RegexValidator(
    r"^[A-Za-z0-9]+$",
    "A client order id has letters and digits only.",
)

TIER_LIST_MESSAGE = (
    "Tiers are a list of tier numbers from 1, 2 and 3, each at most once, in ascending order, "
    "such as [1, 2]."
)

# Every list `validate_tier_list` accepts, for the database check of the same rule.
VALID_TIER_LISTS = [[], [1], [2], [3], [1, 2], [1, 3], [2, 3], [1, 2, 3]]


def validate_tier_list(value: object) -> None:
    """Accepts an ascending list of distinct tier numbers (an empty list included)."""
    valid = (
        isinstance(value, list)
        and all(type(tier) is int and tier in TIER_NUMBERS for tier in value)
        and all(a < b for a, b in pairwise(value))
    )
    if not valid:
        raise ValidationError(TIER_LIST_MESSAGE, code="invalid_tiers")
