"""Invariants of the engine over generated price paths (hypothesis)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine.reference import RefLevel, reference_run
from trading.engine import (
    IgnoredCrossing,
    LevelConfig,
    OrderIntent,
    SentimentConfig,
    SymbolEngine,
    TierFire,
    Tiers,
)

TIER_SETS = [("0.02", "0.01", "0.005"), ("0.05", "0.02", "0.01"), ("0.004", "0.0025", "0.001")]

# Prices on a 0.25 grid around 100, plus the exact boundaries and level prices of the case, so
# that paths land on boundaries and levels often; gaps hit cooldown ends to the millisecond.
grid = st.integers(min_value=360, max_value=440).map(lambda i: i / 4)
gaps = st.sampled_from([0, 1, 250, 999, 1000, 1001, 2500, 4999, 5000, 5001])
levels = st.lists(
    st.tuples(
        st.integers(min_value=380, max_value=420).map(lambda i: i / 4),
        st.sampled_from([0.001, 0.5, 3.0]),
        st.sampled_from([0, 1000, 5000]),
    ),
    min_size=1,
    max_size=6,
    unique_by=lambda lv: lv[0],
)


@st.composite
def scenario(draw):
    tier_strs = draw(st.sampled_from(TIER_SETS))
    level_specs = draw(levels)
    edges = [
        float(Decimal(repr(p)) * (1 + s * Decimal(t)))
        for p, _, _ in level_specs
        for t in ("0", *tier_strs)
        for s in (-1, 1)
    ]
    price = st.one_of(grid, st.sampled_from(edges))
    qty = st.integers(min_value=-30, max_value=30).map(lambda q: q / 10)
    deltas = draw(st.lists(st.tuples(gaps, price, qty), min_size=1, max_size=120))
    return tier_strs, level_specs, deltas, draw(st.booleans()), draw(st.sampled_from([1, 10, 60]))


def build(case):
    tier_strs, level_specs, deltas, sentiment_on, window_s = case
    configs = [
        LevelConfig(f"L{i}", price, base, cool) for i, (price, base, cool) in enumerate(level_specs)
    ]
    engine = SymbolEngine(Tiers(*tier_strs), configs, SentimentConfig(sentiment_on, window_s, 0.6))
    ts, path = 0, []
    for dt, price, qty in deltas:
        ts += dt
        path.append((ts, price, qty))
    return engine, configs, path


def as_tuples(events):
    out = []
    for e in events:
        if isinstance(e, OrderIntent):
            out.append(
                ("order", e.ts, e.level_id, e.side, e.action, e.tiers, e.size, e.price, e.reason)
            )
        elif isinstance(e, IgnoredCrossing):
            out.append(("ignored", e.ts, e.level_id, e.side, e.tiers, e.reason))
        else:
            assert isinstance(e, TierFire)
            out.append(("fire", e.ts, e.level_id, e.side, e.tiers, e.size))
    return out


@settings(max_examples=300, deadline=None)
@given(scenario())
def test_engine_matches_the_naive_reading_of_the_rules(case):
    engine, configs, path = build(case)
    tier_strs, _, _, sentiment_on, window_s = case
    ref_levels = [RefLevel(c.level_id, c.level_price, c.base_size, c.cool_down_ms) for c in configs]
    expected = reference_run(
        tuple(Decimal(t) for t in tier_strs),
        ref_levels,
        path,
        sentiment_on,
        window_s * 1000,
        Fraction(3, 5),
    )
    assert as_tuples(engine.run(path)) == expected


@settings(max_examples=200, deadline=None)
@given(scenario())
def test_level_side_never_holds_more_than_4x_base(case):
    engine, configs, path = build(case)
    for tick in path:
        engine.run([tick])
        for config in configs:
            state = engine.level_state(config.level_id)
            assert state.long.filled <= 4 * config.base_size
            assert state.short.filled <= 4 * config.base_size


@settings(max_examples=200, deadline=None)
@given(scenario())
def test_no_tier_fires_twice_between_resets(case):
    engine, _, path = build(case)
    fired: dict[tuple, list[int]] = defaultdict(list)
    cycles: dict[tuple, int] = defaultdict(int)
    for e in engine.run(path):
        if isinstance(e, OrderIntent) and e.action == "close":
            for key in list(cycles):
                if key[1] == e.side:
                    cycles[key] += 1
        if isinstance(e, TierFire):
            key = (e.level_id, e.side)
            fired[(*key, cycles[key])].extend(e.tiers)
    for tiers in fired.values():
        assert len(tiers) == len(set(tiers))


@settings(max_examples=200, deadline=None)
@given(scenario(), st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=10))
def test_one_call_or_tick_by_tick_give_the_same_events(case, cuts):
    whole, _, path = build(case)
    by_tick, _, _ = build(case)
    chunked, _, _ = build(case)
    expected = whole.run(path)
    assert [e for tick in path for e in by_tick.on_tick(*tick)] == expected
    got, i = [], 0
    for n in cuts * (len(path) // max(1, sum(cuts)) + 1):
        got.extend(chunked.run(iter(path[i : i + n])))
        i += n
    got.extend(chunked.run(path[i:]))
    assert got == expected


# What may happen to a symbol between two batches of ticks, besides the ticks.
interventions = st.lists(
    st.sampled_from(["none", "close", "close refused", "undo fill", "closed outside"]),
    min_size=1,
    max_size=10,
)


@settings(max_examples=200, deadline=None)
@given(scenario(), interventions)
def test_every_level_whose_state_changed_is_named_by_take_changed(case, steps):
    """The runner writes only the levels `take_changed` names: a level missing from it would
    keep an old tier state in the database, and fire again after a restart."""
    engine, configs, path = build(case)
    ids = [c.level_id for c in configs]
    seen = {level_id: engine.level_state(level_id) for level_id in ids}
    engine.take_changed()
    size = max(1, len(path) // len(steps))
    for i, step in enumerate(steps):
        events = engine.run(path[i * size : (i + 1) * size])
        side = next((e.side for e in events if isinstance(e, OrderIntent)), "LONG")
        if step == "close":
            engine.close(0, side, 100.0, "request")
        elif step == "close refused":
            close = engine.close(0, side, 100.0, "request")
            if close is not None:
                engine.close_refused(close, close.size)
        elif step == "undo fill":
            for e in events:
                if isinstance(e, OrderIntent) and e.level_id is not None:
                    engine.undo_fill(e.level_id, e.side, e.size)
        elif step == "closed outside" and engine.position[side] > 0:
            engine.closed_outside(side, engine.position[side] / 2)
        now = {level_id: engine.level_state(level_id) for level_id in ids}
        changed = {level_id for level_id in ids if now[level_id] != seen[level_id]}
        assert changed <= engine.take_changed()
        seen = now
