"""The aiohttp application: Bybit v5 REST routes (category linear), the two websocket
endpoints, and the simulator's own `/sim/control` and `/sim/state`.

Every REST answer is Bybit's envelope with HTTP 200, refusals included (`retCode` says
what went wrong), so ccxt's `handle_errors` maps them as it would Bybit's. Private routes need
the configured key in `X-BAPI-API-KEY` (else 10003); the signature is not checked. Unknown
paths get 404 with retCode 10017, as Bybit's route-not-found.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from trading.exchange.simulator import stops, wire
from trading.exchange.simulator.account import BybitError, Order
from trading.exchange.simulator.market import now_ms

if TYPE_CHECKING:
    from trading.exchange.simulator.bybit import BybitSimulator

Params = dict[str, Any]
Handler = Callable[["BybitSimulator", Params], Awaitable[Any]]
SIM: web.AppKey[BybitSimulator] = web.AppKey("sim")
RECENT_CLOSED = 500  # how many closed orders /v5/order/realtime still shows, as on Bybit
BATCH_ORDERS = 10  # a batch order request's most orders, as Bybit documents for linear
HISTORY_WINDOW_MS = 7 * 24 * 3600 * 1000  # the longest span one history query covers


def build_app(sim: BybitSimulator) -> web.Application:
    app = web.Application()
    app[SIM] = sim
    for (method, path), (handler, private) in ROUTES.items():
        app.router.add_route(method, path, _endpoint(handler, private=private))
    app.router.add_get("/v5/public/linear", _stream(private=False))
    app.router.add_get("/v5/private", _stream(private=True))
    app.router.add_post("/sim/control", control)
    app.router.add_get("/sim/state", state)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


def _endpoint(handler: Handler, *, private: bool) -> Callable[[web.Request], Awaitable[Any]]:
    async def endpoint(request: web.Request) -> web.Response:
        sim = request.app[SIM]
        sim.requests[request.path] += 1
        try:
            if private:
                if request.headers.get("X-BAPI-API-KEY") != sim.api_key:
                    raise BybitError(10003, "API key is invalid.")
                if sim.faults.take("rate_limited"):
                    raise BybitError(10006, "Too many visits. Exceeded the API Rate Limit.")
            params = await _params(request)
            result = await handler(sim, params)
            if isinstance(result, wire.Extended):
                answer = wire.envelope(result.result, ext=result.ext)
            else:
                answer = wire.envelope(result)
        except BybitError as e:
            answer = wire.envelope({}, e.code, e.message)
        return web.json_response(answer)

    return endpoint


async def _params(request: web.Request) -> Params:
    if request.method == "GET":
        return dict(request.query)
    try:
        body = await request.json() if request.can_read_body else {}
    except ValueError:
        raise BybitError(10001, "The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise BybitError(10001, "The request body must be a JSON object.")
    return body


def _stream(*, private: bool) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def stream(request: web.Request) -> web.StreamResponse:
        return await request.app[SIM].streams.serve(request, private=private)

    return stream


def _linear(params: Params, *, or_inverse: bool = False) -> str:
    category = params.get("category")
    if category == "linear" or (or_inverse and category == "inverse"):
        return str(category)
    raise BybitError(10001, "Illegal category: the simulator serves category linear only.")


def _symbol(sim: BybitSimulator, params: Params, *, required: bool = True) -> str | None:
    symbol = params.get("symbol")
    if not symbol and not required:
        return None
    if symbol != sim.symbol:
        raise BybitError(10001, f"Not supported symbols: the simulator trades {sim.symbol}.")
    return str(symbol)


# Market ------------------------------------------------------------------------------------


async def market_time(sim: BybitSimulator, params: Params) -> Any:
    ms = now_ms()
    return {"timeSecond": str(ms // 1000), "timeNano": str(ms * 1_000_000)}


async def instruments_info(sim: BybitSimulator, params: Params) -> Any:
    _linear(params)
    rows = sim.instruments.select(params)
    return {"category": "linear", **wire.page(rows, params, default=500, maximum=1000)}


async def tickers(sim: BybitSimulator, params: Params) -> Any:
    _linear(params)
    _symbol(sim, params, required=False)
    return {"category": "linear", "list": [wire.ticker_record(sim.market)]}


# Account -----------------------------------------------------------------------------------


async def wallet_balance(sim: BybitSimulator, params: Params) -> Any:
    if params.get("accountType") != "UNIFIED":
        raise BybitError(10001, "accountType only support UNIFIED.")
    return {"list": [wire.wallet_record(sim.account, sim.market.last)]}


async def account_info(sim: BybitSimulator, params: Params) -> Any:
    return {
        "unifiedMarginStatus": 6,  # unified trading account 2.0
        "marginMode": sim.account.margin_mode,
        "isMasterTrader": False,
        "spotHedgingStatus": "OFF",
        "updatedTime": str(now_ms()),
        "dcpStatus": "OFF",
        "timeWindow": 10,
        "smpGroup": 0,
    }


async def query_api(sim: BybitSimulator, params: Params) -> Any:
    return {
        "id": "1",
        "note": "levelbot exchange simulator",
        "apiKey": sim.api_key,
        "readOnly": 0,
        "secret": "",
        "permissions": {"ContractTrade": ["Order", "Position"], "Wallet": ["AccountTransfer"]},
        "ips": ["*"],
        "type": 1,
        "unified": 0,
        "uta": 1,
        "userID": 1,
        "isMaster": True,
    }


async def switch_mode(sim: BybitSimulator, params: Params) -> Any:
    _linear(params)
    if not params.get("coin"):
        _symbol(sim, params)
    sim.account.switch_mode(params.get("mode"))
    return {}


async def set_leverage(sim: BybitSimulator, params: Params) -> Any:
    _linear(params)
    _symbol(sim, params)
    sim.account.set_leverage(params.get("buyLeverage"), params.get("sellLeverage"))
    return {}


async def set_margin_mode(sim: BybitSimulator, params: Params) -> Any:
    sim.account.set_margin_mode(params.get("setMarginMode"))
    return {"reasons": []}


async def position_list(sim: BybitSimulator, params: Params) -> Any:
    category = _linear(params, or_inverse=True)
    records = []
    if category == "linear":
        symbol = _symbol(sim, params, required=False)
        if symbol is None and params.get("settleCoin") != "USDT":
            raise BybitError(10001, "symbol or settleCoin (USDT) is required.")
        slots = sim.account.slots()
        if symbol is None:  # listed by coin, Bybit shows only what is held
            slots = [(index, side) for index, side in slots if side and sim.account.held(side)]
        records = [
            wire.position_record(sim.account, index, side, sim.market.last) for index, side in slots
        ]
    return {"category": category, **wire.page(records, params, default=20, maximum=200)}


async def trading_stop(sim: BybitSimulator, params: Params) -> Any:
    """Set, move or cancel (`stopLoss` "0") a position's stop-loss; the position stream says so."""
    _linear(params)
    _symbol(sim, params)
    side = stops.set_stop(sim.account, params, sim.market.last)
    await sim.publish_positions({side})
    return {}


# Orders ------------------------------------------------------------------------------------


async def order_create(sim: BybitSimulator, params: Params) -> Any:
    _linear(params)
    order = await _place(sim, params)
    if sim.faults.take("delayed"):
        await asyncio.sleep(sim.faults.delay_seconds)  # filled, yet the answer comes late
    return {"orderId": order.order_id, "orderLinkId": order.order_link_id}


async def order_create_batch(sim: BybitSimulator, params: Params) -> Any:
    """Bybit's batch order: each order checked and filled as `/v5/order/create` does, in the
    request's order, a refused one leaving the others be. The answer's list and its
    `retExtInfo` list give each order's result and code, in the request's order."""
    _linear(params)
    requests = params.get("request")
    if not isinstance(requests, list) or not requests:
        raise BybitError(10001, "request must be a list of orders.")
    if len(requests) > BATCH_ORDERS:
        raise BybitError(10001, f"A batch holds at most {BATCH_ORDERS} orders.")
    created: list[dict[str, Any]] = []
    codes: list[dict[str, Any]] = []
    for request in requests:
        request = request if isinstance(request, dict) else {}
        entry = {"category": "linear", "symbol": request.get("symbol", "")}
        try:
            order = await _place(sim, request)
        except BybitError as e:
            link_id = request.get("orderLinkId", "")
            created.append({**entry, "orderId": "", "orderLinkId": link_id, "createAt": ""})
            codes.append({"code": e.code, "msg": e.message})
            continue
        created.append(
            {
                **entry,
                "orderId": order.order_id,
                "orderLinkId": order.order_link_id,
                "createAt": str(order.created_ms),
            }
        )
        codes.append({"code": 0, "msg": "OK"})
    if sim.faults.take("delayed"):
        await asyncio.sleep(sim.faults.delay_seconds)
    return wire.Extended({"list": created}, {"list": codes})


async def _place(sim: BybitSimulator, params: Params) -> Order:
    if sim.faults.take("rate_limited_orders"):
        raise BybitError(10006, "Too many visits. Exceeded the API Rate Limit.")
    if sim.faults.take("insufficient"):
        raise BybitError(110007, "ab not enough for new order")
    _symbol(sim, params)
    order = sim.account.place(params, sim.market.quote(), now_ms())
    await sim.publish_order(order)
    if sim.faults.take("timed_out"):
        raise BybitError(5004, "Server Timeout")
    return order


async def order_realtime(sim: BybitSimulator, params: Params) -> Any:
    """Open orders (there are none: market orders fill at once), and, when an id is given or
    `openOnly` is 1, the most recent closed ones, as Bybit keeps them."""
    _linear(params)
    _symbol(sim, params, required=False)
    asked = params.get("orderId") or params.get("orderLinkId")
    recent = asked or str(params.get("openOnly")) == "1"
    closed = _orders(sim, params)[:RECENT_CLOSED] if recent else []
    return {"category": "linear", **wire.page(closed, params, default=20, maximum=50)}


async def order_history(sim: BybitSimulator, params: Params) -> Any:
    _linear(params)
    _symbol(sim, params, required=False)
    status = params.get("orderStatus")
    records = _orders(sim, params) if status in (None, "", "Filled") else []
    return {"category": "linear", **wire.page(records, params, default=20, maximum=50)}


def _orders(sim: BybitSimulator, params: Params) -> list[dict[str, Any]]:
    found = sim.account.find(order_id=params.get("orderId"), link_id=params.get("orderLinkId"))
    return [wire.order_record(order, sim.account) for order in found]


async def execution_list(sim: BybitSimulator, params: Params) -> Any:
    """Trade executions (without `execType`, or Trade), or the funding settlements (`execType`
    Funding), newest first within Bybit's time window (at most 7 days: from `startTime`, up to
    `endTime`, else the last 7 days), a page at a time."""
    _linear(params)
    _symbol(sim, params, required=False)
    if params.get("execType") == "Funding":
        start, end = _window(params)
        charges = [c for c in sim.account.fundings if start <= c.time_ms <= end]
        records = [wire.funding_record(c, sim.account) for c in reversed(charges)]
        return {"category": "linear", **wire.page(records, params, default=50, maximum=100)}
    found = sim.account.find(order_id=params.get("orderId"), link_id=params.get("orderLinkId"))
    records = [
        wire.execution_record(order, fill, sim.account, sim.market.last)
        for order in found
        for fill in order.fills
    ]
    if params.get("execType") not in (None, "", "Trade"):
        records = []
    return {"category": "linear", **wire.page(records, params, default=50, maximum=100)}


def _window(params: Params) -> tuple[int, int]:
    """The (start, end) ms a history query covers, as Bybit reads `startTime` and `endTime`."""
    start, end = params.get("startTime"), params.get("endTime")
    try:
        if start not in (None, "") and end not in (None, ""):
            return int(start), int(end)
        if start not in (None, ""):
            return int(start), int(start) + HISTORY_WINDOW_MS
        stop = int(end) if end not in (None, "") else now_ms()
    except ValueError:
        raise BybitError(10001, "startTime and endTime are times in ms.") from None
    return stop - HISTORY_WINDOW_MS, stop


ROUTES: dict[tuple[str, str], tuple[Handler, bool]] = {
    ("GET", "/v5/market/time"): (market_time, False),
    ("GET", "/v5/market/instruments-info"): (instruments_info, False),
    ("GET", "/v5/market/tickers"): (tickers, False),
    ("GET", "/v5/account/wallet-balance"): (wallet_balance, True),
    ("GET", "/v5/account/info"): (account_info, True),
    ("GET", "/v5/user/query-api"): (query_api, True),
    ("POST", "/v5/position/switch-mode"): (switch_mode, True),
    ("POST", "/v5/position/set-leverage"): (set_leverage, True),
    ("POST", "/v5/account/set-margin-mode"): (set_margin_mode, True),
    ("GET", "/v5/position/list"): (position_list, True),
    ("POST", "/v5/position/trading-stop"): (trading_stop, True),
    ("POST", "/v5/order/create"): (order_create, True),
    ("POST", "/v5/order/create-batch"): (order_create_batch, True),
    ("GET", "/v5/order/realtime"): (order_realtime, True),
    ("GET", "/v5/order/history"): (order_history, True),
    ("GET", "/v5/execution/list"): (execution_list, True),
}


# The simulator's own endpoints ---------------------------------------------------------------


async def control(request: web.Request) -> web.Response:
    """`POST {"fault": name, ...arguments}`: run one of the simulator's controls."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "fault" not in body:
        return _refuse(
            'Send a JSON object naming the fault: {"fault": "stall_websockets", "seconds": 5}.'
        )
    fault = body.pop("fault")
    try:
        result = await request.app[SIM].control(fault, **body)
    except (ValueError, TypeError) as e:
        return _refuse(str(e))
    return web.json_response({"ok": True, "result": result})


def _refuse(sentence: str) -> web.Response:
    return web.json_response({"ok": False, "error": sentence}, status=400)


async def state(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIM].state())


async def not_found(request: web.Request) -> web.Response:
    answer = wire.envelope({}, 10017, f"Route not found: {request.method} {request.path}")
    return web.json_response(answer, status=404)
