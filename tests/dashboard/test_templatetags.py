from __future__ import annotations

from datetime import timedelta
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
    assert levelbot.ms_time(1_721_347_217_599, "ms") == "2024-07-19 00:00:17.599"
    assert levelbot.ms_time(1_721_347_217_005, "ms") == "2024-07-19 00:00:17.005"
    assert levelbot.words("already_fired") == "already fired"
    assert levelbot.words(None) == ""


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0 s"),
        (45.9, "45 s"),
        (timedelta(minutes=4, seconds=5), "4 min 05 s"),
        (timedelta(hours=2, minutes=3, seconds=59), "2 h 03 min"),
        (timedelta(days=3, hours=4, minutes=30), "3 d 4 h"),
        (timedelta(seconds=-2), "0 s"),
        (None, "—"),
    ],
)
def test_durations_read_as_an_uptime_or_an_age(value: object, shown: str) -> None:
    assert levelbot.duration(value) == shown


def test_memory_in_mebibytes() -> None:
    assert levelbot.mebibytes(52_428_800) == "50.0 MiB"
    assert levelbot.mebibytes(None) == "—"
