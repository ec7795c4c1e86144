from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from trading.models import BotSettings, Level, SymbolTiers, TierState

pytestmark = pytest.mark.django_db


def seed(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def counts() -> tuple[int, int, int, int, int]:
    return (
        SymbolTiers.objects.count(),
        Level.objects.count(),
        TierState.objects.count(),
        BotSettings.objects.count(),
        User.objects.count(),
    )


def test_seed_demo_creates_tiers_levels_settings_and_the_demo_login(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEVELBOT_DEMO", "1")
    out, _ = seed()
    assert counts() == (2, 4, 8, 1, 1)
    btc = SymbolTiers.objects.get(exchange="binanceusdm", symbol="BTC/USDT:USDT")
    assert [str(t) for t in (btc.tier1_pct, btc.tier2_pct, btc.tier3_pct)] == [
        "0.00500000",
        "0.00300000",
        "0.00150000",
    ]
    assert Level.objects.filter(exchange="bybit", symbol="ETH/USDT:USDT").exists()
    demo = User.objects.get(username="demo")
    assert demo.is_staff and demo.is_superuser and demo.check_password("demo")
    assert "http://127.0.0.1:8000/" in out
    assert "demo / demo" in out


def test_seed_demo_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEVELBOT_DEMO", "1")
    seed()
    first = counts()
    levels = list(Level.objects.values_list("pk", "level_price"))
    seed()
    assert counts() == first
    assert list(Level.objects.values_list("pk", "level_price")) == levels


def test_seed_demo_keeps_tiers_someone_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEVELBOT_DEMO", "1")
    seed()
    SymbolTiers.objects.filter(exchange="bybit").update(tier3_pct="0.001")
    seed()
    assert str(SymbolTiers.objects.get(exchange="bybit").tier3_pct) == "0.00100000"


def test_seed_demo_refuses_the_login_outside_demo_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEVELBOT_DEMO", raising=False)
    out, err = seed()
    assert not User.objects.exists()
    assert "Not creating the login demo/demo" in err
    assert "LEVELBOT_DEMO=1 or --demo" in err
    assert counts()[:4] == (2, 4, 8, 1)  # the data is there all the same
    assert "http://127.0.0.1:8000/" in out


def test_seed_demo_flag_turns_on_demo_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEVELBOT_DEMO", raising=False)
    _, err = seed("--demo")
    assert User.objects.get(username="demo").check_password("demo")
    assert err == ""
