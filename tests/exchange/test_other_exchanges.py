"""Binance USD-M and OKX through the live adapter: ccxt's real classes against a local server.

The server plays each exchange as its API documentation describes it: the same paths, the same
JSON shapes, the same error codes and messages. Binance's markets are its real exchangeInfo;
OKX's BTC-USDT-SWAP has OKX's published contract value (0.01 BTC), lot size and minimum size
(0.01 contracts). Every request is recorded, so the tests check what reached the exchange as
well as what the adapter made of the answers.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from itertools import count
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from tests.exchange.local_http import LocalHttp, Recorded
from tests.shared_data import SHARED
from trading.engine import LONG, SHORT
from trading.exchange.accounts import AccountConfig
from trading.exchange.base import FILLED, REJECTED, OrderRequest, PositionInfo
from trading.exchange.live import CcxtExchange, SymbolSetup, SymbolSetupError
from trading.exchange.sending import RATE_LIMIT_BACKOFF_S

SYMBOL = "BTC/USDT:USDT"
FILL_PRICE = 30000.0
EXCHANGE_INFO = SHARED / "data" / "exchange" / "fapi_v1_exchangeInfo_2021-07-21.json"
KEYS = {"API_KEY": "test-key", "SECRET": "test-secret", "PASSWORD": "test-passphrase"}

# Each (side, action) and what Binance and OKX call it in hedge mode: the order's side, and the
# position it opens or closes (closes sell a LONG and buy back a SHORT).
HEDGE_ORDERS = [
    (LONG, "open", "buy", "long"),
    (LONG, "close", "sell", "long"),
    (SHORT, "open", "sell", "short"),
    (SHORT, "close", "buy", "short"),
]

ids = count(1)


def order(exchange: str, side: str, action: str, size: float) -> OrderRequest:
    return OrderRequest(exchange, SYMBOL, side, action, size, FILL_PRICE, f"lvl-{next(ids)}")


def run(scenario: Awaitable[Any]) -> Any:
    return asyncio.run(asyncio.wait_for(scenario, timeout=15))


def answer(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status)


def hosts(urls: Any) -> set[str]:
    """Every host a ccxt `urls['api']` tree points at."""
    if isinstance(urls, dict):
        return set().union(*(hosts(v) for v in urls.values()))
    return {urlsplit(urls).hostname or ""} if isinstance(urls, str) and "://" in urls else set()


class FakeExchange:
    """Scripted answers first (per path, in order), then the exchange's normal behaviour."""

    def __init__(self) -> None:
        self.scripted: dict[str, list[tuple[int, Any]]] = {}
        self.create_delay = 0.0  # seconds the order endpoint sleeps after taking an order
        self.orders: dict[str, dict[str, Any]] = {}  # by client order id
        self.order_ids = count(8_000_000_000)

    def script(self, path: str, status: int, body: Any) -> None:
        self.scripted.setdefault(path, []).append((status, body))

    def routes(self) -> dict[tuple[str, str], Callable[[Recorded], Awaitable[web.Response]]]:
        """Each fake exchange's own: (method, path) -> handler."""
        return {}

    def served(self, path: str, normal: Callable[[Recorded], Awaitable[web.Response]]) -> Any:
        async def route(request: Recorded) -> web.Response:
            if self.scripted.get(path):
                return answer(*self.scripted[path].pop(0))
            return await normal(request)

        return route


# -- Binance USD-M ------------------------------------------------------------------------


class FakeBinance(FakeExchange):
    """One Binance USD-M account in hedge mode (docs: developers.binance.com, USDS-margined
    futures REST API). Answers a market order as filled at FILL_PRICE."""

    def __init__(self) -> None:
        super().__init__()
        self.position_rows: list[dict[str, Any]] = []

    def routes(self) -> dict[tuple[str, str], Any]:
        ok = {"code": 200, "msg": "success"}

        async def exchange_info(request: Recorded) -> web.Response:
            return web.Response(text=EXCHANGE_INFO.read_text(), content_type="application/json")

        async def success(request: Recorded) -> web.Response:
            return answer(200, ok)

        async def leverage(request: Recorded) -> web.Response:
            p = request.params()
            body = {"leverage": int(p["leverage"]), "maxNotionalValue": "50000000"}
            return answer(200, {**body, "symbol": p["symbol"]})

        async def create(request: Recorded) -> web.Response:
            p = request.params()
            now = int(time.time() * 1000)
            filled = {
                "orderId": next(self.order_ids),
                "symbol": p["symbol"],
                "status": "FILLED",
                "clientOrderId": p["newClientOrderId"],
                "price": "0",
                "avgPrice": f"{FILL_PRICE:.2f}",
                "origQty": p["quantity"],
                "executedQty": p["quantity"],
                "cumQty": p["quantity"],
                "cumQuote": str(Decimal(p["quantity"]) * Decimal(str(FILL_PRICE))),
                "timeInForce": "GTC",
                "type": "MARKET",
                "reduceOnly": p.get("reduceOnly") == "true",
                "closePosition": False,
                "side": p["side"],
                "positionSide": p.get("positionSide", "BOTH"),
                "stopPrice": "0",
                "workingType": "CONTRACT_PRICE",
                "priceProtect": False,
                "origType": "MARKET",
                "priceMatch": "NONE",
                "selfTradePreventionMode": "NONE",
                "goodTillDate": 0,
                "time": now,
                "updateTime": now,
            }
            self.orders[p["newClientOrderId"]] = filled  # on the exchange, answer or not
            if self.create_delay:
                await asyncio.sleep(self.create_delay)
            return answer(200, filled)

        async def query(request: Recorded) -> web.Response:
            found = self.orders.get(request.params().get("origClientOrderId", ""))
            if found is None:
                return answer(400, {"code": -2013, "msg": "Order does not exist."})
            return answer(200, found)

        async def brackets(request: Recorded) -> web.Response:
            bracket = {
                "bracket": 1,
                "initialLeverage": 125,
                "notionalCap": 50000,
                "notionalFloor": 0,
                "maintMarginRatio": 0.004,
                "cum": 0.0,
            }
            return answer(200, [{"symbol": "BTCUSDT", "notionalCoef": 1.0, "brackets": [bracket]}])

        async def position_risk(request: Recorded) -> web.Response:
            return answer(200, self.position_rows)

        table = {
            ("GET", "/fapi/v1/exchangeInfo"): exchange_info,
            ("POST", "/fapi/v1/positionSide/dual"): success,
            ("POST", "/fapi/v1/marginType"): success,
            ("POST", "/fapi/v1/leverage"): leverage,
            ("POST", "/fapi/v1/order"): create,
            ("GET", "/fapi/v1/order"): query,
            ("GET", "/fapi/v1/leverageBracket"): brackets,
            ("GET", "/fapi/v3/positionRisk"): position_risk,
        }
        return {key: self.served(key[1], route) for key, route in table.items()}


def binance_position(side: str, amount: str, entry: str, pnl: str) -> dict[str, Any]:
    """A /fapi/v3/positionRisk row: in hedge mode a SHORT's positionAmt is negative."""
    notional = str(Decimal(amount) * Decimal(entry))
    return {
        "symbol": "BTCUSDT",
        "positionSide": side,
        "positionAmt": amount,
        "entryPrice": entry,
        "breakEvenPrice": entry,
        "markPrice": entry,
        "unRealizedProfit": pnl,
        "liquidationPrice": "0",
        "isolatedMargin": "300",
        "notional": notional,
        "marginAsset": "USDT",
        "isolatedWallet": "300",
        "initialMargin": "300",
        "maintMargin": "6",
        "positionInitialMargin": "300",
        "openOrderInitialMargin": "0",
        "adl": 1,
        "bidNotional": "0",
        "askNotional": "0",
        "updateTime": int(time.time() * 1000),
    }


# -- OKX ------------------------------------------------------------------------------------

# /api/v5/public/instruments?instType=SWAP, as OKX publishes BTC-USDT-SWAP.
OKX_BTC_SWAP = {
    "alias": "",
    "baseCcy": "",
    "category": "1",
    "ctMult": "1",
    "ctType": "linear",
    "ctVal": "0.01",
    "ctValCcy": "BTC",
    "expTime": "",
    "instFamily": "BTC-USDT",
    "instId": "BTC-USDT-SWAP",
    "instType": "SWAP",
    "lever": "100",
    "listTime": "1573557408000",
    "lotSz": "0.01",
    "maxIcebergSz": "100000000.0000000000000000",
    "maxLmtAmt": "20000000",
    "maxLmtSz": "100000000",
    "maxMktAmt": "",
    "maxMktSz": "12000",
    "maxStopSz": "12000",
    "maxTriggerSz": "100000000.0000000000000000",
    "maxTwapSz": "100000000.0000000000000000",
    "minSz": "0.01",
    "optType": "",
    "quoteCcy": "",
    "ruleType": "normal",
    "settleCcy": "USDT",
    "state": "live",
    "stk": "",
    "tickSz": "0.1",
    "uly": "BTC-USDT",
}
OKX_CONTRACT = Decimal(OKX_BTC_SWAP["ctVal"])
OKX_TAKER_FEE = Decimal("0.0005")  # OKX's regular-user taker rate for USDT swaps


def okx_ok(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


class FakeOkx(FakeExchange):
    """One OKX account in long/short mode (docs: okx.com/docs-v5). Its order endpoints answer
    with ids only; the fill is read from the order's details, as on the real exchange."""

    def __init__(self) -> None:
        super().__init__()
        self.position_rows: list[dict[str, Any]] = []

    def routes(self) -> dict[tuple[str, str], Any]:
        async def instruments(request: Recorded) -> web.Response:
            swaps = [OKX_BTC_SWAP] if request.query.get("instType") == "SWAP" else []
            return answer(200, okx_ok(swaps))

        async def position_mode(request: Recorded) -> web.Response:
            return answer(200, okx_ok([{"posMode": request.params()["posMode"]}]))

        async def leverage(request: Recorded) -> web.Response:
            p = request.params()
            row = {k: p.get(k, "") for k in ("instId", "lever", "mgnMode", "posSide")}
            return answer(200, okx_ok([row]))

        async def create(request: Recorded) -> web.Response:
            p = request.params()
            now = str(int(time.time() * 1000))
            contracts = Decimal(p["sz"])
            notional = contracts * OKX_CONTRACT * Decimal(str(FILL_PRICE))
            order_id = str(next(self.order_ids))
            self.orders[p["clOrdId"]] = {
                "accFillSz": p["sz"],
                "avgPx": str(FILL_PRICE),
                "cTime": now,
                "category": "normal",
                "ccy": "",
                "clOrdId": p["clOrdId"],
                "fee": str(-notional * OKX_TAKER_FEE),
                "feeCcy": "USDT",
                "fillPx": str(FILL_PRICE),
                "fillSz": p["sz"],
                "fillTime": now,
                "instId": p["instId"],
                "instType": "SWAP",
                "lever": "5",
                "ordId": order_id,
                "ordType": "market",
                "pnl": "0",
                "posSide": p.get("posSide", "net"),
                "px": "",
                "rebate": "0",
                "rebateCcy": "USDT",
                "reduceOnly": "false",
                "side": p["side"],
                "state": "filled",
                "sz": p["sz"],
                "tag": "",
                "tdMode": p["tdMode"],
                "tgtCcy": "",
                "tradeId": str(next(self.order_ids)),
                "uTime": now,
            }
            if self.create_delay:
                await asyncio.sleep(self.create_delay)
            placed = {"clOrdId": p["clOrdId"], "ordId": order_id, "tag": "", "ts": now}
            return answer(200, okx_ok([{**placed, "sCode": "0", "sMsg": "Order placed"}]))

        async def details(request: Recorded) -> web.Response:
            found = self.orders.get(request.query.get("clOrdId", ""))
            if found is None:
                return answer(200, {"code": "51603", "msg": "Order does not exist", "data": []})
            return answer(200, okx_ok([found]))

        async def positions(request: Recorded) -> web.Response:
            return answer(200, okx_ok(self.position_rows))

        table = {
            ("GET", "/api/v5/public/instruments"): instruments,
            ("POST", "/api/v5/account/set-position-mode"): position_mode,
            ("POST", "/api/v5/account/set-leverage"): leverage,
            # ccxt places a single order through the batch endpoint (lower rate limit)
            ("POST", "/api/v5/trade/batch-orders"): create,
            ("POST", "/api/v5/trade/order"): create,
            ("GET", "/api/v5/trade/order"): details,
            ("GET", "/api/v5/account/positions"): positions,
        }
        return {key: self.served(key[1], route) for key, route in table.items()}

    @staticmethod
    def order_refused(code: str, message: str) -> dict[str, Any]:
        """A refused single order through the batch endpoint: the reason is in the order's row."""
        row = {"clOrdId": "", "ordId": "", "sCode": code, "sMsg": message, "tag": ""}
        return {"code": "1", "msg": "All operations failed", "data": [row]}


def okx_position(pos_side: str, contracts: str, entry: str, pnl: str) -> dict[str, Any]:
    """An /api/v5/account/positions row: in long/short mode `pos` counts contracts, both sides
    positive."""
    return {
        "adl": "1",
        "availPos": contracts,
        "avgPx": entry,
        "cTime": "1700000000000",
        "ccy": "USDT",
        "instId": "BTC-USDT-SWAP",
        "instType": "SWAP",
        "lever": "5",
        "liqPx": "",
        "markPx": entry,
        "margin": "300",
        "mgnMode": "isolated",
        "mgnRatio": "",
        "mmr": "6",
        "notionalUsd": str(Decimal(contracts) * OKX_CONTRACT * Decimal(entry)),
        "pos": contracts,
        "posCcy": "",
        "posId": "1",
        "posSide": pos_side,
        "upl": pnl,
        "uplRatio": "0",
        "uTime": "1700000000000",
    }


# -- sessions -------------------------------------------------------------------------------


@asynccontextmanager
async def session(
    exchange_id: str, fake: FakeExchange, *, timeout_ms: int | None = None
) -> AsyncIterator[tuple[LocalHttp, CcxtExchange]]:
    """The fake exchange on a local port and an adapter, markets loaded, pointed at it."""
    async with LocalHttp(fake.routes()) as server:
        prefix = f"LEVELBOT_{exchange_id.upper()}_"
        environ = {prefix + name: value for name, value in KEYS.items()}
        environ[prefix + "REST_URL"] = server.url
        environ[prefix + "WS_URL"] = server.url.replace("http://", "ws://")
        if timeout_ms is not None:
            environ["LEVELBOT_REST_TIMEOUT_MS"] = str(timeout_ms)
        exchange = CcxtExchange(AccountConfig.from_env(exchange_id, environ))
        # Never the real exchange: every REST and websocket URL is the local server's.
        assert hosts(exchange.client.urls["api"]) == {"127.0.0.1"}
        try:
            await exchange.load_rules()
            yield server, exchange
        finally:
            await exchange.close()
        assert server.unknown == [], "the adapter called an endpoint the fake does not serve"


def only(server: LocalHttp, method: str, path: str) -> dict[str, Any]:
    calls = server.calls(method, path)
    assert len(calls) == 1, f"{method} {path} was called {len(calls)} times"
    return calls[0].params()


# -- Binance: markets and set-up ----------------------------------------------------------


def test_binance_markets_come_from_exchange_info_alone() -> None:
    async def scenario() -> None:
        async with session("binanceusdm", FakeBinance()) as (server, exchange):
            assert [(r.method, r.path) for r in server.requests] == [
                ("GET", "/fapi/v1/exchangeInfo")
            ]
            symbols = json.loads(EXCHANGE_INFO.read_text())["symbols"]
            usdt = {s["symbol"] for s in symbols if s["marginAsset"] == "USDT"}
            perpetual = {s["symbol"] for s in symbols if s["contractType"] == "PERPETUAL"}
            loaded = {r.market_id for r in exchange.rules.values()}
            assert usdt & perpetual <= loaded  # every USDT perpetual
            assert loaded <= usdt  # and no BUSD ones
            assert not loaded & {
                s["symbol"] for s in symbols if s["contractType"].endswith("QUARTER")
            }

    run(scenario())


@pytest.mark.parametrize(
    "margin_mode, margin_type", [("isolated", "ISOLATED"), ("cross", "CROSSED")]
)
def test_binance_prepare_sends_hedge_mode_margin_type_and_leverage(
    margin_mode: str, margin_type: str
) -> None:
    async def scenario() -> None:
        async with session("binanceusdm", FakeBinance()) as (server, exchange):
            await exchange.prepare(SymbolSetup(SYMBOL, 7, margin_mode))
            assert only(server, "POST", "/fapi/v1/positionSide/dual")["dualSidePosition"] == "true"
            margin = only(server, "POST", "/fapi/v1/marginType")
            assert (margin["symbol"], margin["marginType"]) == ("BTCUSDT", margin_type)
            leverage = only(server, "POST", "/fapi/v1/leverage")
            assert (leverage["symbol"], leverage["leverage"]) == ("BTCUSDT", "7")
            assert exchange.setups[SYMBOL] == SymbolSetup(SYMBOL, 7, margin_mode)

    run(scenario())


def test_binance_margin_type_already_set_does_not_stop_prepare() -> None:
    fake = FakeBinance()
    fake.script(
        "/fapi/v1/marginType", 400, {"code": -4046, "msg": "No need to change margin type."}
    )

    async def scenario() -> None:
        async with session("binanceusdm", fake) as (server, exchange):
            await exchange.prepare(SymbolSetup(SYMBOL, 5, "isolated"))
            assert only(server, "POST", "/fapi/v1/leverage")["leverage"] == "5"
            assert SYMBOL in exchange.setups

    run(scenario())


def test_binance_account_already_in_hedge_mode_does_not_stop_prepare() -> None:
    fake = FakeBinance()
    fake.script(
        "/fapi/v1/positionSide/dual",
        400,
        {"code": -4059, "msg": "No need to change position side."},
    )

    async def scenario() -> None:
        async with session("binanceusdm", fake) as (server, exchange):
            await exchange.prepare(SymbolSetup(SYMBOL, 5, "isolated"))
            assert only(server, "POST", "/fapi/v1/marginType")["marginType"] == "ISOLATED"
            assert only(server, "POST", "/fapi/v1/leverage")["leverage"] == "5"

    run(scenario())


def test_binance_refusal_stops_prepare_with_the_exchange_reason() -> None:
    reason = "Margin type cannot be changed if there exists position."
    fake = FakeBinance()
    fake.script("/fapi/v1/marginType", 400, {"code": -4048, "msg": reason})

    async def scenario() -> None:
        async with session("binanceusdm", fake) as (server, exchange):
            with pytest.raises(SymbolSetupError) as refused:
                await exchange.prepare(SymbolSetup(SYMBOL, 5, "isolated"))
            assert reason in str(refused.value)
            assert "margin mode" in str(refused.value)
            assert server.calls("POST", "/fapi/v1/leverage") == []  # it stopped there
            assert SYMBOL not in exchange.setups

    run(scenario())


# -- Binance: orders ----------------------------------------------------------------------


@pytest.mark.parametrize("side, action, order_side, position", HEDGE_ORDERS)
def test_binance_order_names_side_position_side_and_client_id(
    side: str, action: str, order_side: str, position: str
) -> None:
    sent = order("binanceusdm", side, action, 0.05)

    async def scenario() -> None:
        async with session("binanceusdm", FakeBinance()) as (server, exchange):
            await exchange.prepare(SymbolSetup(SYMBOL, 5, "isolated"))
            result = await exchange.place_order(sent)
            p = only(server, "POST", "/fapi/v1/order")
            assert p["side"] == order_side.upper()
            assert p["positionSide"] == position.upper()
            assert p["newClientOrderId"] == sent.client_order_id
            assert (p["type"], Decimal(p["quantity"])) == ("MARKET", Decimal("0.05"))
            if action == "close":
                # Binance refuses reduceOnly in hedge mode: positionSide alone makes it reduce.
                assert "reduceOnly" not in p
            assert result.status == FILLED
            assert result.client_order_id == sent.client_order_id
            assert result.filled_size == pytest.approx(0.05)
            assert result.price == pytest.approx(FILL_PRICE)

    run(scenario())


@pytest.mark.parametrize("side", [LONG, SHORT])
def test_binance_entry_sends_no_reduce_only_in_hedge_mode(side: str) -> None:
    async def scenario() -> None:
        async with session("binanceusdm", FakeBinance()) as (server, exchange):
            await exchange.place_order(order("binanceusdm", side, "open", 0.05))
            assert "reduceOnly" not in only(server, "POST", "/fapi/v1/order")

    run(scenario())


def lot_size(symbol: str) -> dict[str, str]:
    info = json.loads(EXCHANGE_INFO.read_text())
    market = next(s for s in info["symbols"] if s["symbol"] == symbol)
    return next(f for f in market["filters"] if f["filterType"] == "LOT_SIZE")


def test_binance_entry_below_minimum_is_refused_before_the_exchange() -> None:
    minimum = Decimal(lot_size("BTCUSDT")["minQty"])

    async def scenario() -> None:
        async with session("binanceusdm", FakeBinance()) as (server, exchange):
            result = await exchange.place_order(
                order("binanceusdm", LONG, "open", float(minimum / 2))
            )
            assert result.status == REJECTED
            assert "minimum" in result.error
            assert format(minimum.normalize(), "f") in result.error
            assert server.calls("POST", "/fapi/v1/order") == []

    run(scenario())


def test_binance_lost_answer_is_looked_up_by_client_id_not_resent() -> None:
    fake = FakeBinance()
    fake.create_delay = 1.0  # well past the client's 300 ms
    sent = order("binanceusdm", LONG, "open", 0.05)

    async def scenario() -> None:
        async with session("binanceusdm", fake, timeout_ms=300) as (server, exchange):
            result = await exchange.place_order(sent)
            assert len(server.calls("POST", "/fapi/v1/order")) == 1
            lookups = server.calls("GET", "/fapi/v1/order")
            assert lookups, "the order was never looked up"
            assert {r.query["origClientOrderId"] for r in lookups} == {sent.client_order_id}
            assert result.status == FILLED
            assert result.filled_size == pytest.approx(0.05)
            assert result.exchange_order_id == str(fake.orders[sent.client_order_id]["orderId"])

    run(scenario())


def test_binance_insufficient_margin_is_rejected_once_with_the_reason() -> None:
    fake = FakeBinance()
    fake.script("/fapi/v1/order", 400, {"code": -2019, "msg": "Margin is insufficient."})

    async def scenario() -> None:
        async with session("binanceusdm", fake) as (server, exchange):
            result = await exchange.place_order(order("binanceusdm", LONG, "open", 0.05))
            assert result.status == REJECTED
            assert "Margin is insufficient." in result.error
            assert len(server.calls("POST", "/fapi/v1/order")) == 1
            assert server.calls("GET", "/fapi/v1/order") == []

    run(scenario())


def test_binance_rate_limit_is_retried_after_a_pause_with_the_same_client_id() -> None:
    fake = FakeBinance()
    too_many = "Too many requests; current limit of IP is 2400 requests per minute."
    fake.script("/fapi/v1/order", 429, {"code": -1003, "msg": too_many})
    sent = order("binanceusdm", SHORT, "open", 0.05)

    async def scenario() -> None:
        async with session("binanceusdm", fake) as (server, exchange):
            result = await exchange.place_order(sent)
            creates = server.calls("POST", "/fapi/v1/order")
            assert len(creates) == 2
            assert {c.params()["newClientOrderId"] for c in creates} == {sent.client_order_id}
            assert creates[1].at - creates[0].at >= RATE_LIMIT_BACKOFF_S
            assert result.status == FILLED
            assert result.filled_size == pytest.approx(0.05)

    run(scenario())


def test_binance_duplicate_client_id_is_looked_up_not_rejected() -> None:
    fake = FakeBinance()
    sent = order("binanceusdm", LONG, "open", 0.05)

    async def scenario() -> None:
        async with session("binanceusdm", fake) as (server, exchange):
            first = await exchange.place_order(sent)
            fake.script(
                "/fapi/v1/order", 400, {"code": -4116, "msg": "ClientOrderId is duplicated."}
            )
            again = await exchange.place_order(sent)  # the runner's recovery, sent twice
            assert len(server.calls("POST", "/fapi/v1/order")) == 2
            assert again.status == FILLED
            assert again.exchange_order_id == first.exchange_order_id

    run(scenario())


def test_binance_execution_status_unknown_is_looked_up_not_rejected() -> None:
    """-1007: the gateway timed out waiting for the matching engine, which may have placed
    the order."""
    fake = FakeBinance()
    sent = order("binanceusdm", SHORT, "open", 0.05)
    unknown = "Timeout waiting for response from backend server. Send status unknown."

    async def scenario() -> None:
        async with session("binanceusdm", fake) as (server, exchange):
            first = await exchange.place_order(sent)
            fake.script("/fapi/v1/order", 503, {"code": -1007, "msg": unknown})
            again = await exchange.place_order(sent)
            assert len(server.calls("POST", "/fapi/v1/order")) == 2
            assert again.status == FILLED
            assert again.exchange_order_id == first.exchange_order_id

    run(scenario())


def test_binance_positions_map_both_hedge_sides() -> None:
    fake = FakeBinance()
    fake.position_rows = [
        binance_position("LONG", "0.050", "30000", "25.5"),
        binance_position("SHORT", "-0.030", "31000", "-9.25"),
        binance_position("BOTH", "0.000", "0", "0"),
    ]

    async def scenario() -> None:
        async with session("binanceusdm", fake) as (_server, exchange):
            held = await exchange.positions(SYMBOL)
            assert held == {
                LONG: PositionInfo(LONG, pytest.approx(0.05), 30000.0, 25.5),
                SHORT: PositionInfo(SHORT, pytest.approx(0.03), 31000.0, -9.25),
            }

    run(scenario())


# -- OKX: markets and set-up ----------------------------------------------------------------


def test_okx_markets_come_from_swap_instruments_in_base_units() -> None:
    async def scenario() -> None:
        async with session("okx", FakeOkx()) as (server, exchange):
            assert [(r.method, r.path, r.query) for r in server.requests] == [
                ("GET", "/api/v5/public/instruments", {"instType": "SWAP"})
            ]
            rules = exchange.rules[SYMBOL]
            assert rules.market_id == "BTC-USDT-SWAP"
            assert rules.contract_size == OKX_CONTRACT
            assert rules.amount_step == Decimal(OKX_BTC_SWAP["lotSz"]) * OKX_CONTRACT
            assert rules.min_amount == Decimal(OKX_BTC_SWAP["minSz"]) * OKX_CONTRACT
            assert rules.max_leverage == int(OKX_BTC_SWAP["lever"])

    run(scenario())


@pytest.mark.parametrize("margin_mode", ["isolated", "cross"])
def test_okx_prepare_sends_long_short_mode_margin_mode_and_leverage(margin_mode: str) -> None:
    async def scenario() -> None:
        async with session("okx", FakeOkx()) as (server, exchange):
            await exchange.prepare(SymbolSetup(SYMBOL, 5, margin_mode))
            mode = only(server, "POST", "/api/v5/account/set-position-mode")
            assert mode["posMode"] == "long_short_mode"
            sets = [r.params() for r in server.calls("POST", "/api/v5/account/set-leverage")]
            assert sets
            assert {(p["instId"], p["mgnMode"], str(p["lever"])) for p in sets} == {
                ("BTC-USDT-SWAP", margin_mode, "5")
            }
            if margin_mode == "isolated":
                # Isolated margin in long/short mode holds a leverage per position side.
                assert {p.get("posSide") for p in sets} >= {"long", "short"}
            assert exchange.setups[SYMBOL].margin_mode == margin_mode

    run(scenario())


def test_okx_refusal_stops_prepare_with_the_exchange_reason() -> None:
    reason = "Settings failed. Close any open positions or orders before modifying settings."
    fake = FakeOkx()
    fake.script(
        "/api/v5/account/set-position-mode", 200, {"code": "59000", "msg": reason, "data": []}
    )

    async def scenario() -> None:
        async with session("okx", fake) as (server, exchange):
            with pytest.raises(SymbolSetupError) as refused:
                await exchange.prepare(SymbolSetup(SYMBOL, 5, "isolated"))
            assert reason in str(refused.value)
            assert "hedge mode" in str(refused.value)
            assert server.calls("POST", "/api/v5/account/set-leverage") == []
            assert SYMBOL not in exchange.setups

    run(scenario())


# -- OKX: orders ----------------------------------------------------------------------------


def okx_creates(server: LocalHttp) -> list[Recorded]:
    return server.calls("POST", "/api/v5/trade/batch-orders") + server.calls(
        "POST", "/api/v5/trade/order"
    )


@pytest.mark.parametrize("margin_mode", ["isolated", "cross"])
@pytest.mark.parametrize("side, action, order_side, position", HEDGE_ORDERS)
def test_okx_order_names_side_position_margin_mode_and_contracts(
    side: str, action: str, order_side: str, position: str, margin_mode: str
) -> None:
    fake = FakeOkx()
    sent = order("okx", side, action, 0.05)
    contracts = Decimal("0.05") / OKX_CONTRACT  # 5 contracts of 0.01 BTC

    async def scenario() -> None:
        async with session("okx", fake) as (server, exchange):
            await exchange.prepare(SymbolSetup(SYMBOL, 5, margin_mode))
            result = await exchange.place_order(sent)
            (create,) = okx_creates(server)
            p = create.params()
            assert (p["instId"], p["side"], p["posSide"]) == ("BTC-USDT-SWAP", order_side, position)
            assert p["clOrdId"] == sent.client_order_id
            assert p["tdMode"] == margin_mode
            assert (p["ordType"], Decimal(p["sz"])) == ("market", contracts)
            assert p.get("reduceOnly") in (None, False)  # posSide alone makes a close reduce
            # The order answer carries ids only: the fill comes from its details, by client id.
            lookups = server.calls("GET", "/api/v5/trade/order")
            assert {r.query["clOrdId"] for r in lookups} == {sent.client_order_id}
            assert result.status == FILLED
            assert result.filled_size == pytest.approx(0.05)  # contracts back to BTC
            assert result.price == pytest.approx(FILL_PRICE)
            fee = Decimal("0.05") * Decimal(str(FILL_PRICE)) * OKX_TAKER_FEE
            assert result.fee == pytest.approx(float(fee))
            assert result.exchange_order_id == fake.orders[sent.client_order_id]["ordId"]

    run(scenario())


def test_okx_entry_below_minimum_is_refused_before_the_exchange() -> None:
    minimum = Decimal(OKX_BTC_SWAP["minSz"]) * OKX_CONTRACT  # in BTC

    async def scenario() -> None:
        async with session("okx", FakeOkx()) as (server, exchange):
            result = await exchange.place_order(order("okx", SHORT, "open", float(minimum / 2)))
            assert result.status == REJECTED
            assert "minimum" in result.error
            assert format(minimum.normalize(), "f") in result.error
            assert okx_creates(server) == []

    run(scenario())


def test_okx_lost_answer_is_looked_up_by_client_id_not_resent() -> None:
    fake = FakeOkx()
    fake.create_delay = 1.0  # well past the client's 300 ms
    sent = order("okx", LONG, "open", 0.05)

    async def scenario() -> None:
        async with session("okx", fake, timeout_ms=300) as (server, exchange):
            result = await exchange.place_order(sent)
            assert len(okx_creates(server)) == 1
            lookups = server.calls("GET", "/api/v5/trade/order")
            assert lookups, "the order was never looked up"
            assert {r.query["clOrdId"] for r in lookups} == {sent.client_order_id}
            assert result.status == FILLED
            assert result.filled_size == pytest.approx(0.05)

    run(scenario())


def test_okx_insufficient_margin_is_rejected_once_with_the_reason() -> None:
    reason = "Order failed. Insufficient USDT margin in account"
    fake = FakeOkx()
    fake.script("/api/v5/trade/batch-orders", 200, FakeOkx.order_refused("51008", reason))

    async def scenario() -> None:
        async with session("okx", fake) as (server, exchange):
            result = await exchange.place_order(order("okx", LONG, "open", 0.05))
            assert result.status == REJECTED
            assert reason in result.error
            assert len(okx_creates(server)) == 1
            assert server.calls("GET", "/api/v5/trade/order") == []

    run(scenario())


def test_okx_rate_limit_is_retried_after_a_pause_with_the_same_client_id() -> None:
    fake = FakeOkx()
    fake.script(
        "/api/v5/trade/batch-orders", 429, {"code": "50011", "msg": "Too Many Requests", "data": []}
    )
    sent = order("okx", SHORT, "close", 0.05)

    async def scenario() -> None:
        async with session("okx", fake) as (server, exchange):
            result = await exchange.place_order(sent)
            creates = okx_creates(server)
            assert len(creates) == 2
            assert {c.params()["clOrdId"] for c in creates} == {sent.client_order_id}
            assert creates[1].at - creates[0].at >= RATE_LIMIT_BACKOFF_S
            assert result.status == FILLED
            assert result.filled_size == pytest.approx(0.05)

    run(scenario())


def test_okx_duplicate_client_id_is_looked_up_not_rejected() -> None:
    fake = FakeOkx()
    sent = order("okx", LONG, "open", 0.05)

    async def scenario() -> None:
        async with session("okx", fake) as (server, exchange):
            first = await exchange.place_order(sent)
            refused = FakeOkx.order_refused("51016", "Duplicated clOrdId")
            fake.script("/api/v5/trade/batch-orders", 200, refused)
            again = await exchange.place_order(sent)
            assert len(okx_creates(server)) == 2
            assert again.status == FILLED
            assert again.exchange_order_id == first.exchange_order_id

    run(scenario())


def test_okx_positions_map_both_hedge_sides_in_base_units() -> None:
    fake = FakeOkx()
    fake.position_rows = [
        okx_position("long", "5", "30000", "12.5"),
        okx_position("short", "3", "31000", "-4.2"),
    ]

    async def scenario() -> None:
        async with session("okx", fake) as (server, exchange):
            held = await exchange.positions(SYMBOL)
            assert server.calls("GET", "/api/v5/account/positions")[0].query == {
                "instId": "BTC-USDT-SWAP"
            }
            assert held == {
                LONG: PositionInfo(LONG, pytest.approx(5 * 0.01), 30000.0, 12.5),
                SHORT: PositionInfo(SHORT, pytest.approx(3 * 0.01), 31000.0, -4.2),
            }

    run(scenario())
