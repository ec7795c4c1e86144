"""The bot's database threads: one call at a time, in the order asked, later work last."""

from __future__ import annotations

import asyncio
import threading

from trading.runtime.database import DatabaseThread


def test_calls_run_in_the_order_asked_and_later_ones_after_them():
    thread = DatabaseThread("test-order")
    gate = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        held = thread.submit(gate.wait, 10)  # the thread is busy until the gate opens
        later = thread.submit(ran.append, "paper fill", later=True)
        first = thread.submit(ran.append, "intent 1")
        second = thread.submit(ran.append, "intent 2")
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(held, later, first, second)

    asyncio.run(main())
    assert ran == ["intent 1", "intent 2", "paper fill"]


def test_calls_reach_the_thread_only_once_the_loops_turn_is_done():
    """A batch's orders are all sent before the thread records their intents or fills them:
    the two share the interpreter, and a write running beside the sends slows them."""
    thread = DatabaseThread("test-turn")
    ran: list[str] = []

    async def main() -> tuple[list[str], list[str]]:
        recorded = thread.submit(ran.append, "intents")
        filled = thread.submit(ran.append, "fill", later=True)
        # Still in the same turn of the loop: the thread, idle, has not been given the calls.
        threading.Event().wait(0.05)
        during_turn = list(ran)
        await asyncio.gather(recorded, filled)
        return during_turn, list(ran)

    during_turn, after = asyncio.run(main())
    assert during_turn == []
    assert after == ["intents", "fill"]


def test_a_failing_call_gives_its_error_and_the_thread_goes_on():
    thread = DatabaseThread("test-error")

    def fail() -> None:
        raise ValueError("no such level")

    async def main() -> tuple[BaseException | None, int]:
        failed = await asyncio.gather(thread.submit(fail), return_exceptions=True)
        return failed[0], await thread.call(len, "abc")

    error, after = asyncio.run(main())
    assert isinstance(error, ValueError)
    assert after == 3
