"""Orders on their way do not hold the ticks behind them up, and nothing is sent out of turn."""

from __future__ import annotations

import asyncio
import errno
import threading
import time

import pytest
import structlog
from django.db import OperationalError
from structlog.testing import capture_logs

from tests.runtime.test_runner import EXCHANGE, make_level, runner_for, symbol, ticks
from trading.engine import LONG, SHORT, OrderIntent
from trading.exchange.base import OrderRequest, OrderResult
from trading.exchange.paper import PaperExchange
from trading.models import Trade
from trading.runtime import database, store
from trading.runtime.journal import Journal
from trading.runtime.runner import SymbolRunner

pytestmark = pytest.mark.django_db(transaction=True)
__all__ = ["symbol"]  # the fixture, used by name


class HeldExchange(PaperExchange):
    """The paper exchange, answering an order only once the test lets it go."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.sent: list[OrderRequest] = []
        self.answered: list[str] = []
        self.lookups: list[str] = []
        self.release = asyncio.Event()
        self.arrived = asyncio.Event()

    async def place_order(self, order: OrderRequest) -> OrderResult:
        self.sent.append(order)
        self.arrived.set()
        await self.release.wait()
        result = await super().place_order(order)
        self.answered.append(order.client_order_id)
        return result

    async def find_order(self, client_order_id: str, symbol: str = "") -> OrderResult | None:
        self.lookups.append(client_order_id)
        return await super().find_order(client_order_id, symbol)


async def until(condition, what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


def test_the_next_tier_goes_out_while_the_first_order_waits_for_its_answer(symbol):
    make_level("200")
    exchange = HeldExchange(EXCHANGE)

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        await runner.process(ticks(195, 196.5))  # LONG tier 1
        await runner.process(ticks(198.5, start=2000))  # tier 2, with tier 1 unanswered
        await until(lambda: len(exchange.sent) == 2, "both orders out")
        sent_before_answers = [o.action for o in exchange.sent]
        unsettled = len(runner.unsettled)
        exchange.release.set()
        await runner.settled()
        return sent_before_answers, unsettled, runner.unsettled

    sent, unsettled, after = asyncio.run(scenario())
    assert sent == ["open", "add"]
    assert unsettled == 2 and not after
    assert list(Trade.objects.order_by("id").values_list("action", "status")) == [
        ("open", "filled"),
        ("add", "filled"),
    ]


class GroupingExchange(PaperExchange):
    """The paper exchange, noting which orders reached it in one `place_orders` call."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.groups: list[list[str]] = []

    def place_orders(self, orders):
        self.groups.append([order.action for order in orders])
        return super().place_orders(orders)


def test_a_batchs_entries_reach_the_exchange_together(symbol):
    make_level("200")
    make_level("200.5")
    exchange = GroupingExchange(EXCHANGE)

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        await runner.process(ticks(195, 196.5))  # tier 1 of both levels, in one batch
        await runner.process(ticks(198.2, start=2000))  # tier 2 of 200 only
        await runner.settled()
        return runner.flow.latencies_ms

    latencies = asyncio.run(scenario())
    assert exchange.groups == [["open", "open"], ["add"]]
    assert latencies[0] == latencies[1]  # the two orders reached it at the same moment
    assert list(Trade.objects.order_by("id").values_list("action", "status")) == [
        ("open", "filled"),
        ("open", "filled"),
        ("add", "filled"),
    ]


class HoldingOne(PaperExchange):
    """The paper exchange, holding one client id's answer until released."""

    def __init__(self, name: str, held: str) -> None:
        super().__init__(name)
        self.held = held
        self.release = asyncio.Event()

    async def place_order(self, order: OrderRequest) -> OrderResult:
        if order.client_order_id == self.held:
            await self.release.wait()
        return OrderResult(order.client_order_id, "filled", order.size, order.price)


def intent(side: str, action: str, level: int | None) -> OrderIntent:
    tiers = () if action == "close" else (1,)
    return OrderIntent(0, level, side, action, tiers, 0.5, 200.0, "test", 0)


def test_each_order_of_a_group_is_answered_as_its_answer_comes():
    """One slow answer holds neither the others of its group nor a close on another side."""
    from trading.runtime.orders import OrderFlow

    errors: list[str] = []

    async def scenario():
        exchange = HoldingOne(EXCHANGE, held="slow")
        log = structlog.get_logger()
        flow = OrderFlow(exchange, EXCHANGE, "X", log=log, on_error=errors.append)
        times = (time.perf_counter(),) * 3
        slow, quick = flow.send(
            [(intent(LONG, "open", 1), "slow"), (intent(SHORT, "open", 2), "quick")], times
        )
        (close,) = flow.send([(intent(SHORT, "close", None), "shut")], times)
        await asyncio.wait_for(asyncio.shield(close), 5)
        state = (slow.done(), quick.result().client_order_id, close.result().status)
        exchange.release.set()
        return state, (await slow).status

    (slow_done, quick, closed), slow = asyncio.run(scenario())
    assert not slow_done and quick == "quick" and closed == "filled"
    assert slow == "filled" and errors == []


def test_a_close_waits_for_the_entries_before_it_on_its_side(symbol):
    make_level("200")
    exchange = HeldExchange(EXCHANGE)

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        await runner.process(ticks(195, 196.5))  # LONG tier 1, held unanswered
        await exchange.arrived.wait()
        closing = asyncio.create_task(runner.close_side(LONG, "manual"))
        await asyncio.sleep(0.2)
        sent_while_held = [o.action for o in exchange.sent]
        exchange.release.set()
        status, _ = await closing
        await runner.settled()
        return sent_while_held, status

    sent_while_held, status = asyncio.run(scenario())
    assert sent_while_held == ["open"]  # the close did not overtake the entry
    assert status == "done"
    assert list(Trade.objects.order_by("id").values_list("action", "status")) == [
        ("open", "filled"),
        ("close", "filled"),
    ]


def test_a_reload_leaves_an_order_on_its_way_alone(symbol):
    make_level("200")
    exchange = HeldExchange(EXCHANGE)

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        await runner.process(ticks(195, 196.5))
        await exchange.arrived.wait()
        await runner.reload()  # recovery sees the intent pending in the database
        exchange.release.set()
        await runner.settled()

    asyncio.run(scenario())
    assert len(exchange.sent) == 1  # sent once, never again
    assert exchange.lookups == []  # not looked up as if lost
    assert Trade.objects.get().status == "filled"


def test_a_position_resync_waits_until_the_orders_out_are_settled(symbol):
    make_level("200")
    exchange = HeldExchange(EXCHANGE)
    reads: list[int] = []

    async def positions(symbol_name: str):
        reads.append(len(exchange.answered))
        return await PaperExchange.positions(exchange, symbol_name)

    exchange.positions = positions  # type: ignore[method-assign]

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        reads.clear()
        await runner.process(ticks(195, 196.5))
        await exchange.arrived.wait()
        await runner.resync_positions()  # would read before the fill: put off
        deferred = list(reads)
        exchange.release.set()
        await runner.settled()
        await until(lambda: reads, "the resync after the fill")
        return deferred, runner.engine.position[LONG]

    deferred, held = asyncio.run(scenario())
    assert deferred == []
    assert reads == [1]  # read once, after the order's answer
    assert held == 0.5


class ReducedExchange(PaperExchange):
    """The paper exchange, where the position reads as `held` once the test sets it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.held: dict | None = None
        self.fail_reads = 0

    async def positions(self, symbol: str):
        if self.fail_reads:
            self.fail_reads -= 1
            raise ConnectionError("the exchange did not answer")
        if self.held is None:
            return await super().positions(symbol)
        return self.held


def test_a_side_the_exchange_holds_less_of_was_closed_outside_and_resets(symbol):
    from trading.exchange.base import PositionInfo
    from trading.models import TierState

    near, far = make_level("200"), make_level("190")
    exchange = ReducedExchange(EXCHANGE)

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        await runner.process(ticks(195, 196.5))  # near's LONG tier 1: 0.5 counted
        await runner.settled()
        # Closed on the exchange and entered again (0.3) before the bot looked.
        exchange.held = {LONG: PositionInfo(LONG, 0.3, 190.0)}
        await runner.resync_positions()
        return runner.engine.position[LONG]

    counted = asyncio.run(scenario())
    assert counted == 0.3  # what the exchange holds
    state = TierState.objects.get(level=near, side=LONG)
    assert (state.fired_tiers, float(state.filled_size), state.cycle) == ([], 0.0, 1)  # rule 9
    assert TierState.objects.get(level=far, side=LONG).fired_tiers == []


def test_a_failed_position_read_is_wanted_again(symbol):
    make_level("200")
    exchange = ReducedExchange(EXCHANGE)

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        exchange.fail_reads = 1
        await runner.resync_positions()
        wanted_after_failure = runner.resync_wanted
        await runner.resync_positions()
        return wanted_after_failure, runner.resync_wanted, runner.last_error

    wanted, wanted_after_retry, error = asyncio.run(scenario())
    assert wanted and not wanted_after_retry
    assert "did not answer" in error


class PartFillingExchange(PaperExchange):
    """Fills 40% of every entry, as a market order stopped by its slippage cap does."""

    async def place_order(self, order: OrderRequest) -> OrderResult:
        if order.action != "close":
            order = OrderRequest(
                order.exchange,
                order.symbol,
                order.side,
                order.action,
                round(order.size * 0.4, 8),
                order.price,
                order.client_order_id,
            )
        return await super().place_order(order)


def test_an_entry_filled_in_part_counts_only_that_part(symbol):
    from trading.models import TierState

    level = make_level("200")

    async def scenario():
        runner = runner_for(PartFillingExchange(EXCHANGE))
        await runner.start()
        await runner.process(ticks(195, 196.5))
        await runner.settled()
        return runner.engine.position[LONG]

    assert asyncio.run(scenario()) == pytest.approx(0.2)
    state = TierState.objects.get(level=level, side=LONG)
    assert (state.fired_tiers, float(state.filled_size)) == ([1], pytest.approx(0.2))


class CheckingExchange(PaperExchange):
    """The paper exchange, noting for each order whether its intent was in the database when
    the order arrived (read on a connection of its own), and in the symbol's journal."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.intent_written: list[bool] = []
        self.intent_journalled: list[bool] = []
        self.runner: SymbolRunner | None = None

    async def place_order(self, order: OrderRequest) -> OrderResult:
        written = Trade.objects.filter(client_order_id=order.client_order_id).exists
        self.intent_written.append(await database.house.call(written))
        assert self.runner is not None and self.runner.journal is not None
        journal = self.runner.journal.path.read_text()
        self.intent_journalled.append(f'"{order.client_order_id}"' in journal)
        return await super().place_order(order)


def test_orders_go_out_journalled_while_the_database_is_held_up(symbol):
    make_level("200")
    exchange = CheckingExchange(EXCHANGE)
    gate = threading.Event()

    async def scenario():
        runner = exchange.runner = runner_for(exchange)
        await runner.start()
        busy = database.orders.submit(gate.wait, 10)  # the order path's database, held up
        await runner.process(ticks(195, 196.5))  # LONG tier 1
        await runner.process(ticks(198.5, start=2000))  # tier 2
        await until(lambda: len(exchange.intent_written) == 2, "both orders out")
        decided = runner.engine.level_state(runner.engine.level_ids[0]).side(LONG).fired
        gate.set()
        await busy
        await runner.settled()
        caught_up = runner.journal.caught_up
        runner.close_journal()
        return decided, caught_up, runner.journal.path, runner.flow.latency_summary()

    decided, caught_up, path, latency = asyncio.run(scenario())
    assert latency["orders"] == 2
    assert latency["journal_p99_ms"] < 200  # the held database is not on the way
    assert list(decided) == [1, 2]
    assert exchange.intent_written == [False, False]  # out before the database had them
    assert exchange.intent_journalled == [True, True]  # but never before the journal had them
    assert caught_up and not path.exists()  # all recorded: the journal is removed at the stop
    assert list(Trade.objects.order_by("id").values_list("action", "status")) == [
        ("open", "filled"),
        ("add", "filled"),
    ]


def test_an_intent_not_journalled_sends_nothing_and_stops_the_symbol(symbol, monkeypatch):
    make_level("200")
    exchange = CheckingExchange(EXCHANGE)

    def disk_full(self, decisions):
        raise OSError(errno.ENOSPC, "No space left on device")

    async def scenario():
        runner = exchange.runner = runner_for(exchange)
        await runner.start()
        monkeypatch.setattr(Journal, "append", disk_full)
        with pytest.raises(OSError):
            await runner.process(ticks(195, 196.5))
        with pytest.raises(OSError):
            await runner.process(ticks(198.5, start=2000))
        await runner.settled()
        runner.close_journal()
        return runner.unsettled

    unsettled = asyncio.run(scenario())
    assert exchange.intent_written == []  # nothing sent
    assert not unsettled
    assert not Trade.objects.exists()


def test_an_intent_the_database_refuses_stops_the_symbol_and_the_next_start_records_it(
    symbol, monkeypatch
):
    level = make_level("200")
    exchange = CheckingExchange(EXCHANGE)

    def refused(decisions):
        raise OperationalError("disk I/O error")

    async def first_run():
        runner = exchange.runner = runner_for(exchange)
        await runner.start()
        with monkeypatch.context() as patch:
            patch.setattr(store, "record_decisions", refused)
            await runner.process(ticks(195, 196.5))  # tier 1: out, its intent not recorded
            await runner.settled()
        with pytest.raises(OperationalError):
            await runner.process(ticks(198.5, start=2000))  # the symbol has stopped
        runner.close_journal()
        return runner.journal.path

    path = asyncio.run(first_run())
    assert exchange.intent_written == [False]  # the one order went out, journalled
    assert not Trade.objects.exists()
    assert path.exists()  # kept for the next start

    async def second_run():
        runner = exchange.runner = runner_for(exchange)
        with capture_logs() as logs:
            await runner.start()
        await runner.settled()
        runner.close_journal()
        return runner, logs

    runner, logs = asyncio.run(second_run())
    read = next(line for line in logs if line["event"] == "journal read")
    assert (read["entries"], read["recorded_now"]) == (1, 1)
    assert list(Trade.objects.values_list("action", "tiers", "status")) == [
        ("open", [1], "filled")  # found on the exchange by its client id: not sent again
    ]
    assert len(exchange.intent_written) == 1
    assert list(runner.engine.level_state(level.pk).side(LONG).fired) == [1]
    assert not path.exists()


class HoldingAdds(PaperExchange):
    """The paper exchange, answering entries at once but holding every add until released."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.release = asyncio.Event()

    async def place_order(self, order: OrderRequest) -> OrderResult:
        if order.action == "add":
            await self.release.wait()
        return await super().place_order(order)


def test_an_earlier_batchs_outcome_never_writes_back_an_older_tier_state(symbol):
    from trading.models import TierState

    level = make_level("200")
    exchange = HoldingAdds(EXCHANGE)

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        await runner.process(ticks(195, 196.5))  # tier 1, answered at once
        await runner.process(ticks(198.5, start=2000))  # tier 2, held
        answered = Trade.objects.filter(action="open", status="filled").exists
        for _ in range(500):
            if await database.house.call(answered):
                break
            await asyncio.sleep(0.01)
        # Tier 1's outcome is written; tier 2's intent was written before it.
        while_held = await database.orders.call(
            lambda: TierState.objects.get(level=level, side=LONG).fired_tiers
        )
        exchange.release.set()
        await runner.settled()
        return while_held

    assert asyncio.run(scenario()) == [1, 2]
    assert TierState.objects.get(level=level, side=LONG).fired_tiers == [1, 2]


def test_each_orders_log_line_gives_its_tick_to_order_latency(symbol):
    """What the benchmarks pool across runs: the same figure the summary's percentiles use."""
    make_level("200")
    exchange = PaperExchange(EXCHANGE)

    async def scenario():
        runner = runner_for(exchange)
        await runner.start()
        with capture_logs() as logs:
            await runner.process(ticks(195, 196.5))  # LONG tier 1
            await runner.process(ticks(198.5, start=2000))  # tier 2
            await runner.settled()
        return logs, [sample.total for sample in runner.flow.latencies_ms]

    logs, samples = asyncio.run(scenario())
    logged = [line["tick_to_order_ms"] for line in logs if line["event"] == "order filled"]
    assert len(logged) == 2
    assert logged == [round(ms, 3) for ms in samples]
    assert all(ms > 0 for ms in logged)
