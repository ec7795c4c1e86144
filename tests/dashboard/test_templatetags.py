from __future__ import annotations

from decimal import Decimal

import pytest

from dashboard.templatetags import levelbot


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (Decimal("62750.000000000000"), "62750"),
        (Decimal("0.002000000000"), "0.002"),
        (63064.5, "63064.5"),
        (0, "0"),
        (None, "—"),
        ("", "—"),
        (float("nan"), "—"),
    ],
)
def test_plain_writes_numbers_as_a_trader_does(value: object, shown: str) -> None:
    assert levelbot.plain(value) == shown


def test_fractions_ratios_money_counts_and_times() -> None:
    assert levelbot.pct(Decimal("0.00500000")) == "0.5%"
    assert levelbot.pct(Decimal("0.0015")) == "0.15%"
    assert levelbot.rate(0.5) == "50%"
    assert levelbot.rate(None) == "—"
    assert levelbot.money(12.3456) == "+12.35"
    assert levelbot.money(-1234.5) == "-1,234.50"
    assert levelbot.amount(4.25) == "4.25"
    assert levelbot.whole(120000) == "120,000"
    assert levelbot.ms_time(1_721_347_217_599) == "2024-07-19 00:00:17"
    assert levelbot.tier_list([1, 2]) == "1, 2"
    assert levelbot.tier_list([]) == "—"
