"""Field sizes and helpers shared by the models."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

PRICE: dict[str, Any] = {"max_digits": 28, "decimal_places": 12}
TIER: dict[str, Any] = {"max_digits": 12, "decimal_places": 8}


def check(name: str, condition: Q, message: str) -> models.CheckConstraint:
    return models.CheckConstraint(condition=condition, name=name, violation_error_message=message)
