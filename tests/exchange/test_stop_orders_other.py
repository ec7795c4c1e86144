"""The stop-loss on the exchange (`CcxtExchange.protect`) on Binance USD-M and OKX: ccxt's real
classes against a local server that plays each exchange's conditional (algo) orders as its API
documentation describes them, marked at 30,000.

What reached the exchange is checked request by request: the order's kind, whole-position
close, position side, mark-price trigger and price rounded away from the position; that a new
price cancels the old stop before the new one goes (never two at once), that an unchanged one
sends nothing, that removal cancels, and that a refusal comes back as the exchange's reason.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from aiohttp import web

from tests.exchange.local_http import LocalHttp, Recorded
from tests.exchange.test_other_exchanges import (
    FILL_PRICE,
    FakeBinance,
    FakeExchange,
    FakeOkx,
    answer,
    okx_ok,
    run,
    session,
)
from trading.engine import LONG, SHORT
from trading.exchange.live import SymbolSetup
from trading.exchange.stops import stop_client_id
from trading.models.runtime import PREFIX_ALPHABET

SYMBOL = "BTC/USDT:USDT"
MARK = Decimal(str(FILL_PRICE))
OKX_TICK = Decimal("0.1")  # BTC-USDT-SWAP's tickSz


class StopFake(ABC):
    """The conditional orders of one fake account: `stops` by exchange id, and the most that
    were ever live on one position side at once."""

    def init_stops(self) -> None:
        self.stops: dict[str, dict[str, Any]] = {}
        self.stop_ids = count(2_146_760)
        self.most_live = 0

    @abstractmethod
    def live(self) -> list[dict[str, Any]]:
        """The stops live now."""

    def count_live(self, pos_side_key: str) -> None:
        sides = [row[pos_side_key] for row in self.live()]
        self.most_live = max([self.most_live, *(sides.count(s) for s in sides)])

    def script_call(self, method: str, path: str, status: int, body: Any) -> None:
        """A scripted answer for one method of a path (the algo paths take several)."""
        assert isinstance(self, FakeExchange)
        self.script(f"{method} {path}", status, body)


class BinanceStops(FakeBinance, StopFake):
    """Binance USD-M's algo order API in hedge mode: POST, DELETE /fapi/v1/algoOrder and GET
    /fapi/v1/openAlgoOrders. A conditional order that would fire at once is refused (-2021)."""

    def __init__(self) -> None:
        super().__init__()
        self.init_stops()

    def live(self) -> list[dict[str, Any]]:
        return [row for row in self.stops.values() if row["algoStatus"] == "NEW"]

    def routes(self) -> dict[tuple[str, str], Any]:
        def refuse(code: int, message: str) -> web.Response:
            return answer(400, {"code": code, "msg": message})

        async def place(request: Recorded) -> web.Response:
            p = request.params()
            if p.get("algoType") != "CONDITIONAL":
                return refuse(-1116, "Invalid orderType.")
            if p.get("positionSide") not in ("LONG", "SHORT"):
                return refuse(-4061, "Order's position side does not match user's setting.")
            if "reduceOnly" in p:  # hedge mode
                return refuse(-1106, "Parameter 'reduceOnly' sent when not required.")
            if p.get("closePosition") == "true" and "quantity" in p:
                return refuse(-1106, "Parameter 'quantity' sent when not required.")
            trigger = Decimal(p["triggerPrice"])
            if trigger % Decimal("0.01"):
                return refuse(-4014, "Price not increased by tick size.")
            if (trigger >= MARK) if p["side"] == "SELL" else (trigger <= MARK):
                return refuse(-2021, "Order would immediately trigger.")
            if any(row["clientAlgoId"] == p["clientAlgoId"] for row in self.live()):
                return refuse(-4116, "ClientOrderId is duplicated.")
            now = int(time.time() * 1000)
            row = {
                "algoId": next(self.stop_ids),
                "clientAlgoId": p["clientAlgoId"],
                "algoType": "CONDITIONAL",
                "orderType": p["type"],
                "symbol": p["symbol"],
                "side": p["side"],
                "positionSide": p["positionSide"],
                "timeInForce": "GTC",
                "quantity": "0",
                "algoStatus": "NEW",
                "actualOrderId": "",
                "actualPrice": "0.00",
                "triggerPrice": f"{trigger:.2f}",
                "price": "0.00",
                "workingType": p.get("workingType", "CONTRACT_PRICE"),
                "priceMatch": "NONE",
                "closePosition": p.get("closePosition") == "true",
                "priceProtect": False,
                "reduceOnly": False,
                "createTime": now,
                "updateTime": now,
                "triggerTime": 0,
                "goodTillDate": 0,
            }
            self.stops[str(row["algoId"])] = row
            self.count_live("positionSide")
            return answer(200, row)

        async def cancel(request: Recorded) -> web.Response:
            row = self.stops.get(request.params().get("algoId", ""))
            if row is None or row["algoStatus"] != "NEW":
                return refuse(-2011, "Unknown order sent.")
            row["algoStatus"] = "CANCELED"
            body = {"algoId": row["algoId"], "clientAlgoId": row["clientAlgoId"]}
            return answer(200, {**body, "code": "200", "msg": "success"})

        async def open_orders(request: Recorded) -> web.Response:
            symbol = request.params().get("symbol")
            return answer(200, [row for row in self.live() if row["symbol"] == symbol])

        table = {
            ("POST", "/fapi/v1/algoOrder"): place,
            ("DELETE", "/fapi/v1/algoOrder"): cancel,
            ("GET", "/fapi/v1/openAlgoOrders"): open_orders,
        }
        mine = {key: self.served(f"{key[0]} {key[1]}", route) for key, route in table.items()}
        return {**super().routes(), **mine}


class OkxStops(FakeOkx, StopFake):
    """OKX's algo orders in long/short mode: POST /api/v5/trade/order-algo, POST
    /api/v5/trade/cancel-algos and GET /api/v5/trade/orders-algo-pending. A stop-loss on the
    wrong side of the price is refused (51280 for a sell, 51278 for a buy)."""

    def __init__(self) -> None:
        super().__init__()
        self.init_stops()

    def live(self) -> list[dict[str, Any]]:
        return [row for row in self.stops.values() if row["state"] == "live"]

    def routes(self) -> dict[tuple[str, str], Any]:
        def refused(code: str, message: str, algo_id: str = "") -> web.Response:
            row = {"algoId": algo_id, "algoClOrdId": "", "clOrdId": "", "tag": ""}
            data = [{**row, "sCode": code, "sMsg": message}]
            return answer(200, {"code": "1", "msg": "", "data": data})

        async def place(request: Recorded) -> web.Response:
            p = request.params()
            if p.get("ordType") != "conditional" or p.get("posSide") not in ("long", "short"):
                return refused("51000", "Parameter ordType error")
            if p.get("closeFraction") == "1" and "sz" in p:
                return refused("51000", "Parameter sz error")
            trigger = Decimal(p["slTriggerPx"])
            if trigger % OKX_TICK:
                return refused("51000", "Parameter slTriggerPx error")
            if p["side"] == "sell" and trigger >= MARK:
                return refused("51280", "SL trigger price can not be higher than the last price")
            if p["side"] == "buy" and trigger <= MARK:
                return refused("51278", "SL trigger price can not be lower than the last price")
            algo_id = str(next(self.stop_ids))
            now = str(int(time.time() * 1000))
            self.stops[algo_id] = {
                "algoId": algo_id,
                "algoClOrdId": p.get("algoClOrdId", ""),
                "instId": p["instId"],
                "instType": "SWAP",
                "ordType": "conditional",
                "side": p["side"],
                "posSide": p["posSide"],
                "tdMode": p["tdMode"],
                "sz": "",
                "closeFraction": p.get("closeFraction", ""),
                "reduceOnly": "true" if p.get("reduceOnly") else "false",
                "slTriggerPx": p["slTriggerPx"],
                "slTriggerPxType": p.get("slTriggerPxType", "last"),
                "slOrdPx": p.get("slOrdPx", ""),
                "state": "live",
                "cTime": now,
                "uTime": now,
            }
            self.count_live("posSide")
            row = {"algoId": algo_id, "algoClOrdId": p.get("algoClOrdId", ""), "clOrdId": ""}
            return answer(200, okx_ok([{**row, "sCode": "0", "sMsg": "", "tag": ""}]))

        async def cancel(request: Recorded) -> web.Response:
            (wanted,) = request.json()
            row = self.stops.get(wanted["algoId"])
            if row is None or row["state"] != "live":
                message = "Cancellation failed as the order does not exist."
                return refused("51400", message, wanted["algoId"])
            row["state"] = "canceled"
            return answer(200, okx_ok([{"algoId": row["algoId"], "sCode": "0", "sMsg": ""}]))

        async def pending(request: Recorded) -> web.Response:
            q = request.query
            if q.get("ordType") != "conditional":
                return answer(200, {"code": "51000", "msg": "Parameter ordType error", "data": []})
            return answer(200, okx_ok([r for r in self.live() if r["instId"] == q.get("instId")]))

        table = {
            ("POST", "/api/v5/trade/order-algo"): place,
            ("POST", "/api/v5/trade/cancel-algos"): cancel,
            ("GET", "/api/v5/trade/orders-algo-pending"): pending,
        }
        mine = {key: self.served(f"{key[0]} {key[1]}", route) for key, route in table.items()}
        return {**super().routes(), **mine}


@dataclass(frozen=True)
class Venue:
    """What the shared tests need to know of one exchange's stop orders."""

    name: str
    fake: Callable[[], StopFake]
    place: tuple[str, str]
    cancel: tuple[str, str]
    lookup: tuple[str, str]
    trigger: str  # the stop price's key in a request and in an order
    client_id: str  # the client id's key in an order
    refused_as: str  # ccxt's error class for a stop through the mark price
    gone: tuple[int, Any]  # the answer to a cancel of a stop that already went


BINANCE = Venue(
    "binanceusdm",
    BinanceStops,
    ("POST", "/fapi/v1/algoOrder"),
    ("DELETE", "/fapi/v1/algoOrder"),
    ("GET", "/fapi/v1/openAlgoOrders"),
    "triggerPrice",
    "clientAlgoId",
    "ExchangeError",  # ccxt maps -2021 so on USD-M
    (400, {"code": -2011, "msg": "Unknown order sent."}),
)
OKX = Venue(
    "okx",
    OkxStops,
    ("POST", "/api/v5/trade/order-algo"),
    ("POST", "/api/v5/trade/cancel-algos"),
    ("GET", "/api/v5/trade/orders-algo-pending"),
    "slTriggerPx",
    "algoClOrdId",
    "InvalidOrder",
    (
        200,
        {
            "code": "1",
            "msg": "",
            "data": [
                {
                    "algoId": "",
                    "sCode": "51401",
                    "sMsg": "Cancellation failed as the order is already canceled.",
                }
            ],
        },
    ),
)
VENUES = pytest.mark.parametrize("venue", [BINANCE, OKX], ids=lambda v: v.name)


def stop_calls(server: LocalHttp, venue: Venue) -> list[str]:
    """The stop requests in the order they came: lookup, cancel, place."""
    kinds = {venue.lookup: "lookup", venue.cancel: "cancel", venue.place: "place"}
    return [kinds[(r.method, r.path)] for r in server.requests if (r.method, r.path) in kinds]


def placed(server: LocalHttp, venue: Venue) -> list[dict[str, Any]]:
    return [r.params() for r in server.calls(*venue.place)]


def live_prices(fake: StopFake, venue: Venue) -> list[Decimal]:
    return [Decimal(str(row[venue.trigger])) for row in fake.live()]


# -- what each exchange is asked ----------------------------------------------------------


@pytest.mark.parametrize(
    "side, asked, sent, order_side",
    [(LONG, 29_359.999, "29359.99", "SELL"), (SHORT, 30_640.001, "30640.01", "BUY")],
)
def test_binance_stop_is_a_mark_price_close_position_stop_market_rounded_away(
    side: str, asked: float, sent: str, order_side: str
) -> None:
    fake = BinanceStops()

    async def scenario() -> None:
        async with session("binanceusdm", fake) as (server, exchange):
            assert await exchange.protect(SYMBOL, side, asked) is None
            (lookup,) = server.calls("GET", "/fapi/v1/openAlgoOrders")
            assert lookup.params()["symbol"] == "BTCUSDT"
            (p,) = placed(server, BINANCE)
            assert (p["algoType"], p["type"], p["symbol"]) == (
                "CONDITIONAL",
                "STOP_MARKET",
                "BTCUSDT",
            )
            assert (p["side"], p["positionSide"]) == (order_side, side)
            assert (p["closePosition"], p["workingType"]) == ("true", "MARK_PRICE")
            assert p["triggerPrice"] == sent  # BTCUSDT's tick is 0.01: away from the position
            assert "quantity" not in p and "reduceOnly" not in p
            assert p["clientAlgoId"] == f"SL{side[0]}BTCUSDT"
            assert "stopPrice" not in p  # the algo API names it triggerPrice
            assert server.calls("POST", "/fapi/v1/order") == []

    run(scenario())
    assert live_prices(fake, BINANCE) == [Decimal(sent)]


@pytest.mark.parametrize("margin_mode", ["isolated", "cross"])
@pytest.mark.parametrize(
    "side, asked, sent, order_side",
    [(LONG, 29_359.97, "29359.9", "sell"), (SHORT, 30_640.01, "30640.1", "buy")],
)
def test_okx_stop_is_a_mark_price_whole_position_algo_order_rounded_away(
    side: str, asked: float, sent: str, order_side: str, margin_mode: str
) -> None:
    fake = OkxStops()

    async def scenario() -> None:
        async with session("okx", fake) as (server, exchange):
            await exchange.prepare(SymbolSetup(SYMBOL, 5, margin_mode))
            assert await exchange.protect(SYMBOL, side, asked) is None
            (lookup,) = server.calls("GET", "/api/v5/trade/orders-algo-pending")
            assert lookup.query["instId"] == "BTC-USDT-SWAP"
            (p,) = placed(server, OKX)
            assert (p["instId"], p["ordType"], p["tdMode"]) == (
                "BTC-USDT-SWAP",
                "conditional",
                margin_mode,
            )
            assert (p["side"], p["posSide"]) == (order_side, side.lower())
            assert p["slTriggerPx"] == sent  # the tick is 0.1: away from the position
            assert (p["slTriggerPxType"], p["slOrdPx"]) == ("mark", "-1")
            assert (p["closeFraction"], p["reduceOnly"]) == ("1", True)
            assert "sz" not in p  # the whole side, whatever its size when it fires
            assert p["algoClOrdId"] == f"SL{side[0]}BTCUSDTSWAP"
            assert okx_creates_orders(server) == []

    run(scenario())
    assert live_prices(fake, OKX) == [Decimal(sent)]


def okx_creates_orders(server: LocalHttp) -> list[Recorded]:
    return server.calls("POST", "/api/v5/trade/batch-orders") + server.calls(
        "POST", "/api/v5/trade/order"
    )


# -- the same behaviour on both ------------------------------------------------------------


@VENUES
def test_a_new_price_cancels_the_old_stop_before_placing_the_new_one(venue: Venue) -> None:
    fake = venue.fake()

    async def scenario() -> None:
        async with session(venue.name, fake) as (server, exchange):
            assert await exchange.protect(SYMBOL, LONG, 29_000) is None
            (first,) = fake.live()
            assert await exchange.protect(SYMBOL, LONG, 29_500) is None
            assert stop_calls(server, venue) == ["lookup", "place", "lookup", "cancel", "place"]
            (cancel,) = server.calls(*venue.cancel)
            assert str(cancel.params()["algoId"]) == str(first["algoId"])
            assert live_prices(fake, venue) == [Decimal(29_500)]
            assert fake.most_live == 1  # never two stops on the side

    run(scenario())


@VENUES
def test_an_unchanged_stop_sends_nothing_new(venue: Venue) -> None:
    fake = venue.fake()

    async def scenario() -> None:
        async with session(venue.name, fake) as (server, exchange):
            assert await exchange.protect(SYMBOL, SHORT, 31_000) is None
            assert await exchange.protect(SYMBOL, SHORT, 30_999.999) is None  # rounds to 31,000
            assert stop_calls(server, venue) == ["lookup", "place", "lookup"]
            assert live_prices(fake, venue) == [Decimal(31_000)]

    run(scenario())


@VENUES
def test_each_side_keeps_its_own_stop(venue: Venue) -> None:
    fake = venue.fake()

    async def scenario() -> None:
        async with session(venue.name, fake) as (server, exchange):
            assert await exchange.protect(SYMBOL, LONG, 29_000) is None
            (long_stop,) = fake.live()
            assert await exchange.protect(SYMBOL, SHORT, 31_000) is None
            assert await exchange.protect(SYMBOL, SHORT, 31_500) is None
            (cancel,) = server.calls(*venue.cancel)  # the short's, not the long's
            assert str(cancel.params()["algoId"]) != str(long_stop["algoId"])
            assert long_stop in fake.live()
            assert sorted(live_prices(fake, venue)) == [Decimal(29_000), Decimal(31_500)]

    run(scenario())


@VENUES
def test_after_a_restart_the_stop_is_found_by_its_client_id_and_a_stop_by_hand_stays(
    venue: Venue,
) -> None:
    fake = venue.fake()

    async def scenario() -> None:
        async with session(venue.name, fake) as (_server, exchange):
            assert await exchange.protect(SYMBOL, LONG, 29_000) is None
        (ours,) = fake.live()
        by_hand = {**ours, "algoId": "77", venue.client_id: "web1"}
        fake.stops["77"] = by_hand
        async with session(venue.name, fake) as (server, exchange):  # a new adapter
            assert await exchange.protect(SYMBOL, LONG, 29_200) is None
            (cancel,) = server.calls(*venue.cancel)
            assert str(cancel.params()["algoId"]) == str(ours["algoId"])
        assert by_hand in fake.live()
        assert sorted(live_prices(fake, venue)) == [Decimal(29_000), Decimal(29_200)]

    run(scenario())


@VENUES
def test_removal_cancels_the_stop_and_a_flat_side_has_nothing_to_remove(venue: Venue) -> None:
    fake = venue.fake()

    async def scenario() -> None:
        async with session(venue.name, fake) as (server, exchange):
            assert await exchange.protect(SYMBOL, SHORT, None) is None  # nothing there
            assert server.calls(*venue.cancel) == []
            assert await exchange.protect(SYMBOL, SHORT, 31_000) is None
            assert await exchange.protect(SYMBOL, SHORT, None) is None
            assert len(server.calls(*venue.cancel)) == 1
            assert fake.live() == []
            assert await exchange.protect(SYMBOL, SHORT, None) is None  # gone: fine too
            assert len(server.calls(*venue.cancel)) == 1
            assert server.calls(*venue.place)[-1].params()[venue.trigger] == "31000"

    run(scenario())


@VENUES
def test_a_stop_gone_before_its_cancel_counts_as_removed(venue: Venue) -> None:
    fake = venue.fake()

    async def scenario() -> None:
        async with session(venue.name, fake) as (server, exchange):
            assert await exchange.protect(SYMBOL, LONG, 29_000) is None
            # It fires (or is cancelled by hand) between the lookup and the cancel.
            fake.script_call(*venue.cancel, *venue.gone)
            assert await exchange.protect(SYMBOL, LONG, None) is None
            assert len(server.calls(*venue.cancel)) == 1

    run(scenario())


@VENUES
@pytest.mark.parametrize("side, price", [(LONG, 30_500), (SHORT, 29_500)])
def test_a_stop_the_exchange_refuses_returns_its_reason_in_one_line(
    venue: Venue, side: str, price: float
) -> None:
    fake = venue.fake()
    words = {
        ("binanceusdm", LONG): "Order would immediately trigger.",
        ("binanceusdm", SHORT): "Order would immediately trigger.",
        ("okx", LONG): "SL trigger price can not be higher than the last price",
        ("okx", SHORT): "SL trigger price can not be lower than the last price",
    }[(venue.name, side)]

    async def scenario() -> None:
        async with session(venue.name, fake) as (server, exchange):
            reason = await exchange.protect(SYMBOL, side, price)  # through the mark already
            assert reason is not None and words in reason
            assert reason.startswith(f"{venue.refused_as}: {venue.name} ")
            assert "\n" not in reason and len(reason) <= 300
            assert len(server.calls(*venue.place)) == 1
            assert fake.live() == []

    run(scenario())


@VENUES
def test_a_placement_refused_after_the_cancel_leaves_no_stale_stop(venue: Venue) -> None:
    fake = venue.fake()

    async def scenario() -> None:
        async with session(venue.name, fake) as (_server, exchange):
            assert await exchange.protect(SYMBOL, LONG, 29_000) is None
            assert await exchange.protect(SYMBOL, LONG, 30_100) is not None  # above the mark
            assert fake.live() == []  # the old stop is gone: the refusal says so to the bot
            assert await exchange.protect(SYMBOL, LONG, 29_100) is None
            assert live_prices(fake, venue) == [Decimal(29_100)]

    run(scenario())


# -- the stop's client id --------------------------------------------------------------------


def test_stop_client_ids_name_the_side_and_never_meet_entry_or_close_ids() -> None:
    assert stop_client_id("BTCUSDT", LONG) == "SLLBTCUSDT"
    assert stop_client_id("BTC-USDT-SWAP", SHORT) == "SLSBTCUSDTSWAP"
    # Entry and close ids start with the installation's prefix: never with an S.
    assert "S" not in PREFIX_ALPHABET


def test_a_long_market_id_still_gives_a_short_distinct_client_id() -> None:
    long_a, long_b = "1000000" + "X" * 30 + "A", "1000000" + "X" * 30 + "B"
    ids = {stop_client_id(m, s) for m in (long_a, long_b) for s in (LONG, SHORT)}
    assert len(ids) == 4
    assert all(len(cid) <= 32 and cid.isalnum() and cid.startswith("SL") for cid in ids)
