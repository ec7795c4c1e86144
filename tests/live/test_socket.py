"""The live socket: staff only, and the bot's messages arrive as partials for htmx to swap in."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async

from dashboard.consumers import NOT_LOGGED_IN, NOT_STAFF, UNKNOWN_PART
from tests.factories import BotSessionFactory, TradeFactory
from tests.live.conftest import socket
from trading.runtime.publish import Publisher

pytestmark = pytest.mark.django_db(transaction=True)

BTC, ETH = "BTC/USDT:USDT", "ETH/USDT:USDT"
# Within this a push must arrive; the parts' own timers (2 s, 3 s) would come later than that.
PUSH_WITHIN_S = 1.4


async def publish(send: str, *args: object, **kwargs: object) -> None:
    """What the bot does: through a publisher of its own, on the configured layer."""
    publisher = Publisher.from_settings()
    assert publisher.enabled
    getattr(publisher, send)(*args, **kwargs)
    await publisher.close()
    assert (publisher.sent, publisher.failed) == (1, 0)


def test_anonymous_visitors_are_refused(no_live_push: None, transactional_db: None) -> None:
    async def scenario() -> tuple[bool, object]:
        return await socket("/ws/live?show=trades").connect(timeout=5)

    assert asyncio.run(scenario()) == (False, NOT_LOGGED_IN)


def test_users_who_are_not_staff_are_refused(no_live_push: None, viewer_cookie: str) -> None:
    async def scenario() -> tuple[bool, object]:
        return await socket("/ws/live?show=trades", viewer_cookie).connect(timeout=5)

    assert asyncio.run(scenario()) == (False, NOT_STAFF)


def test_staff_are_refused_from_another_sites_page(no_live_push: None, staff_cookie: str) -> None:
    async def scenario() -> tuple[bool, object]:
        communicator = socket("/ws/live?show=trades", staff_cookie, origin="https://evil.example")
        return await communicator.connect(timeout=5)

    connected, _ = asyncio.run(scenario())
    assert connected is False


def test_a_part_the_socket_does_not_know_is_refused(no_live_push: None, staff_cookie: str) -> None:
    async def scenario() -> tuple[bool, object]:
        return await socket("/ws/live?show=orders", staff_cookie).connect(timeout=5)

    assert asyncio.run(scenario()) == (False, UNKNOWN_PART)


@pytest.mark.needs("redis-server")
def test_a_trade_the_bot_publishes_reaches_the_trades_page_as_its_row(
    live_push: str, staff_cookie: str
) -> None:
    async def scenario() -> tuple[str, str]:
        communicator = socket("/ws/live?show=trades", staff_cookie)
        assert await communicator.connect(timeout=5) == (True, None)
        first = await communicator.receive_from(timeout=5)  # the table as it is on connecting
        await sync_to_async(TradeFactory)(symbol=BTC, client_order_id="lbpushed0001")
        await publish("trades", "binanceusdm", BTC, orders=1)
        pushed = await communicator.receive_from(timeout=PUSH_WITHIN_S)
        await communicator.disconnect()
        return first, pushed

    first, pushed = asyncio.run(scenario())
    assert "No trades yet." in first
    # Only the rows are swapped: the element that holds the socket stays, and so does the socket.
    assert pushed.lstrip().startswith('<div id="trades-rows" hx-swap-oob="true">')
    assert "ws-connect" not in pushed
    assert "lbpushed0001" in pushed and "No trades yet." not in pushed


@pytest.mark.needs("redis-server")
def test_a_filtered_trades_page_is_pushed_only_its_symbols_trades(
    live_push: str, staff_cookie: str
) -> None:
    async def scenario() -> tuple[bool, str]:
        communicator = socket("/ws/live?show=trades&symbol=ETH%2FUSDT%3AUSDT", staff_cookie)
        assert (await communicator.connect(timeout=5))[0]
        await communicator.receive_from(timeout=5)
        await sync_to_async(TradeFactory)(symbol=BTC, client_order_id="lbbtc0000001")
        await publish("trades", "binanceusdm", BTC, orders=1)
        ignored = await communicator.receive_nothing(timeout=PUSH_WITHIN_S)
        await sync_to_async(TradeFactory)(symbol=ETH, client_order_id="lbeth0000001")
        await publish("trades", "binanceusdm", ETH, orders=1)
        pushed = await communicator.receive_from(timeout=PUSH_WITHIN_S)
        await communicator.disconnect()
        return ignored, pushed

    ignored, pushed = asyncio.run(scenario())
    assert ignored
    assert "lbeth0000001" in pushed and "lbbtc0000001" not in pushed


@pytest.mark.needs("redis-server")
def test_the_bots_status_reaches_the_status_page(live_push: str, staff_cookie: str) -> None:
    runner = SimpleNamespace(exchange_id="bybit", symbol=BTC, stale=False, last_price=62000.5)

    async def scenario() -> tuple[str, str]:
        communicator = socket("/ws/live?show=status", staff_cookie)
        assert (await communicator.connect(timeout=5))[0]
        first = await communicator.receive_from(timeout=5)
        await sync_to_async(BotSessionFactory)(hostname="pushed-host")
        await publish("status", [runner])
        pushed = await communicator.receive_from(timeout=PUSH_WITHIN_S)
        await communicator.disconnect()
        return first, pushed

    first, pushed = asyncio.run(scenario())
    assert "No bot session has been recorded yet." in first
    assert pushed.lstrip().startswith('<div id="status" hx-swap-oob="true">')
    assert "pushed-host" in pushed and "hx-trigger" not in pushed


@pytest.mark.needs("redis-server")
def test_a_price_reaches_only_its_symbols_levels_table(live_push: str, staff_cookie: str) -> None:
    async def scenario() -> tuple[bool, str]:
        communicator = socket("/ws/live?show=levels&exchange=bybit&symbol=BTCUSDT", staff_cookie)
        assert (await communicator.connect(timeout=5))[0]
        await communicator.receive_from(timeout=5)
        await publish("price", "bybit", ETH, 2650.0)
        ignored = await communicator.receive_nothing(timeout=0.5)
        await publish("price", "bybit", BTC, 62000.0)
        # Sooner than PUSH_WITHIN_S: the table's own timer (2 s) starts with the first render.
        pushed = await communicator.receive_from(timeout=1.0)
        await communicator.disconnect()
        return ignored, pushed

    ignored, pushed = asyncio.run(scenario())
    assert ignored
    assert pushed.lstrip().startswith('<div id="levels-table" class="table-wrap levels-table"')
    assert 'hx-swap-oob="true"' in pushed and "hx-trigger" not in pushed
    assert "levels on bybit BTCUSDT" in pushed


@pytest.mark.needs("redis-server")
def test_without_messages_a_part_is_rendered_as_often_as_the_page_polled(
    live_push: str, staff_cookie: str
) -> None:
    # A bot that went silent publishes nothing: the status page must still show it stopping.
    async def scenario() -> list[str]:
        communicator = socket("/ws/live?show=status", staff_cookie)
        assert (await communicator.connect(timeout=5))[0]
        renders = [await communicator.receive_from(timeout=5)]
        await sync_to_async(BotSessionFactory)(hostname="silent-host")
        renders.append(await communicator.receive_from(timeout=3))
        await communicator.disconnect()
        return renders

    first, later = asyncio.run(scenario())
    assert "silent-host" not in first and "silent-host" in later


@pytest.mark.needs("redis-server")
def test_a_socket_with_no_news_for_longer_than_redis_reads_wait_stays_open(
    live_push: str, staff_cookie: str
) -> None:
    async def scenario() -> str:
        communicator = socket("/ws/live?show=status", staff_cookie)
        assert (await communicator.connect(timeout=5))[0]
        quiet_until = asyncio.get_running_loop().time() + 7
        while asyncio.get_running_loop().time() < quiet_until:
            await communicator.receive_from(timeout=5)  # the part's own timer, every 2 s
        await sync_to_async(BotSessionFactory)(hostname="after-the-quiet")
        await publish("status", [])
        pushed = ""
        while "after-the-quiet" not in pushed:
            pushed = await communicator.receive_from(timeout=PUSH_WITHIN_S)
        await communicator.disconnect()
        return pushed

    assert "after-the-quiet" in asyncio.run(scenario())
