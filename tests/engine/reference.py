"""A deliberately naive reading of DESIGN section 3, used only as a test oracle.

It scans every level on every tick and recomputes sentiment from scratch with exact fractions:
slow and obvious, so that the engine's bracketing and running sums can be checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction


@dataclass
class RefLevel:
    level_id: str
    level_price: Decimal
    base_size: float
    cool_down_ms: int
    last_trigger: int | None = None
    fired: dict[str, set[int]] = field(default_factory=lambda: {"LONG": set(), "SHORT": set()})
    filled: dict[str, float] = field(default_factory=lambda: {"LONG": 0.0, "SHORT": 0.0})


def reference_run(
    tiers: tuple[Decimal, Decimal, Decimal],
    levels: list[RefLevel],
    ticks: list[tuple[int, float, float]],
    sentiment_on: bool,
    window_ms: int,
    threshold: Fraction,
) -> list[tuple]:
    """Events as tuples: ("order", ts, level, side, action, tiers, size, price, reason),
    ("ignored", ts, level, side, tiers, reason) and ("fire", ts, level, side, tiers, size)."""
    out: list[tuple] = []
    trades: list[tuple[int, Fraction]] = []
    position = {"LONG": 0.0, "SHORT": 0.0}
    prev: float | None = None
    for ts, price, qty in ticks:
        if qty:
            trades.append((ts, Fraction(repr(qty))))
        window = [q for t, q in trades if t > ts - window_ms]
        buy = sum((q for q in window if q > 0), Fraction(0))
        sell = -sum((q for q in window if q < 0), Fraction(0))
        s = (buy - sell) / (buy + sell) if buy + sell else Fraction(0)
        strong_sell = sentiment_on and s < -threshold
        strong_buy = sentiment_on and s > threshold
        for side, flag in (("LONG", strong_sell), ("SHORT", strong_buy)):
            if flag and position[side] > 0:
                out.append(
                    ("order", ts, None, side, "close", (), position[side], price, "sentiment_exit")
                )
                position[side] = 0.0
                for lv in levels:
                    lv.fired[side] = set()
                    lv.filled[side] = 0.0
        for lv in levels:
            lp = float(lv.level_price)
            if prev is None or price == lp:
                continue
            side = "SHORT" if price > lp else "LONG"
            crossed = set()
            for k, t in enumerate(tiers, start=1):
                if side == "SHORT":
                    b = float(lv.level_price * (1 + t))
                    if prev > b >= price:
                        crossed.add(k)
                else:
                    b = float(lv.level_price * (1 - t))
                    if prev < b <= price:
                        crossed.add(k)
            if not crossed:
                continue
            again = crossed & lv.fired[side]
            if again:
                out.append(
                    ("ignored", ts, lv.level_id, side, tuple(sorted(again)), "already_fired")
                )
            new = crossed - lv.fired[side]
            if not new:
                continue
            if lv.last_trigger is not None and ts - lv.last_trigger < lv.cool_down_ms:
                out.append(("ignored", ts, lv.level_id, side, tuple(sorted(new)), "cooldown"))
                continue
            if (side == "LONG" and strong_sell) or (side == "SHORT" and strong_buy):
                out.append(("ignored", ts, lv.level_id, side, tuple(sorted(new)), "sentiment"))
                continue
            lv.fired[side] |= new
            lv.last_trigger = ts
            target = lv.base_size * {1: 1, 2: 2, 3: 4}[max(lv.fired[side])]
            size = round(target - lv.filled[side], 12)  # sums rounded as documented
            if size <= lv.base_size * 1e-9:
                out.append(("fire", ts, lv.level_id, side, tuple(sorted(new)), 0.0))
                continue
            out.append(("fire", ts, lv.level_id, side, tuple(sorted(new)), size))
            action = "add" if lv.filled[side] > 0 else "open"
            out.append(
                ("order", ts, lv.level_id, side, action, tuple(sorted(new)), size, price, "tier")
            )
            lv.filled[side] = target
            position[side] = round(position[side] + size, 12)
        prev = price
    return out
