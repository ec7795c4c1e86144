"""Fixtures for exchange tests: a Bybit simulator running beside the test.

`bybit_sim` starts a `SimulatorThread` (its own event loop in a background thread), so the
test's own loop, or a bot subprocess, can talk to it; its control methods are thread-safe.
Options go through indirect parametrization:

    @pytest.mark.parametrize("bybit_sim", [{"trades": FILE, "speed": 20}], indirect=True)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from trading.exchange.simulator import SimulatorThread


@pytest.fixture
def bybit_sim(request: pytest.FixtureRequest) -> Iterator[SimulatorThread]:
    options = {"price": 64_000.0, **getattr(request, "param", {})}
    if "trades" in options:
        options.pop("price")
    sim = SimulatorThread(**options).start()
    try:
        yield sim
    finally:
        sim.stop()
