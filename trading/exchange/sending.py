"""Market orders through ccxt, the order-sending half of `live.CcxtExchange`.

- `place_order` checks and rounds the amount with the market's rules, refuses an entry while
  the spread is wider than the limit, paces the call with the account's token bucket, and
  sends a market order under the client id whose intent is already written. Closes name the
  position side the exchange's way and are reduce-only where the exchange takes that.
- `place_orders` sends a batch's orders that wait for nothing in Bybit batch requests (up to
  10 orders each), each order answered as `place_order` answers it, as soon as its answer is
  known; the other exchanges take them one request an order, side by side.
- A timeout or a dropped connection never leads to a second order: the order is looked up by
  its client id; if the exchange does not know it (yet), the call raises `OrderOutcomeUnknown`
  and the intent stays for the runner's recovery, which looks it up again before anything is
  sent. A client id the exchange calls a duplicate, or an answer that leaves the order possibly
  placed, is looked up, never resent.
- Rate-limit answers back off and retry (the exchange did nothing); any other refusal is a
  REJECTED result with the exchange's reason, and no retry.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from trading.engine import LONG
from trading.exchange.base import (
    FILLED,
    REJECTED,
    OrderRequest,
    OrderResult,
    as_answered,
    one_by_one,
)
from trading.exchange.markets import MarketRules
from trading.exchange.ratelimit import TokenBucket
from trading.exchange.streams import OrderWaiters

if TYPE_CHECKING:
    from trading.exchange.live import SymbolSetup

# Answers after which the order may be on the exchange, told apart by the code in the answer:
# a duplicate client order id (Bybit retCode 110072, Binance code -4116, OKX sCode 51016, which
# ccxt maps to InvalidOrder), and a timeout behind the exchange's gateway, which does not say
# whether the order was placed (Bybit 5004 "Server Timeout" and 10016, Binance -1007).
MAYBE_PLACED = re.compile(
    r'"(?:retCode|code|sCode)"\s*:\s*"?(?:110072|-4116|51016|5004|10016|-1007)"?\s*[,}]'
)

# Orders in one batch request: Bybit's documented limit for linear contracts is 10 (20 in some
# versions of its documentation).
BATCH_ORDERS = 10
RATE_LIMIT_RETRIES = 3
RATE_LIMIT_BACKOFF_S = 0.25
# A market order is normally filled before its answer arrives; if not, look again this often.
FILL_POLLS = (0.05, 0.1, 0.2, 0.4, 0.8)
# How long an order's fill is awaited on the private order stream before it is looked up.
STREAM_WAIT_S = 0.3


class OrderOutcomeUnknown(Exception):
    """The order may or may not be on the exchange: its intent stays for recovery."""


def _errors() -> Any:
    import ccxt  # the stand-in package: its error classes only

    return ccxt


def order_side(side: str, action: str) -> str:
    """buy or sell: entries buy a LONG and sell a SHORT; a close does the opposite."""
    buys = side == LONG
    return ("sell" if buys else "buy") if action == "close" else ("buy" if buys else "sell")


def order_params(
    exchange: str, order: OrderRequest, margin_mode: str, max_slippage_bps: float | None = None
) -> dict[str, Any]:
    """The create_order params naming the client id and the hedge-mode position side.

    Bybit takes the position index and reduce-only together, and a slippage cap in percent.
    Binance USD-M (`positionSide`) and OKX (`posSide`) refuse any reduce-only flag in hedge
    mode (Binance -1106, even when false), where the position side alone makes a close
    reduce: ccxt's `hedged` flag maps the side from a reduce-only close and leaves the flag
    out, and entries carry none."""
    close = order.action == "close"
    params: dict[str, Any] = {"clientOrderId": order.client_order_id}
    if exchange == "bybit":
        params.update(positionIdx=1 if order.side == LONG else 2, reduceOnly=close)
        if max_slippage_bps is not None:
            # Bybit's slippage tolerance for market orders, in percent (0.01 to 10).
            percent = min(max(max_slippage_bps / 100, 0.01), 10.0)
            params.update(slippageToleranceType="Percent", slippageTolerance=f"{percent:g}")
    else:
        params["hedged"] = True
        if close:
            params["reduceOnly"] = True
    if exchange == "okx":
        params["marginMode"] = margin_mode
    return params


class CcxtOrders:
    """The orders of a `live.CcxtExchange`, which holds the state read here."""

    name: str
    client: Any
    log: Any
    bucket: TokenBucket  # orders
    queries: TokenBucket  # every other private call
    rules: dict[str, MarketRules]
    setups: dict[str, SymbolSetup]
    waiters: OrderWaiters
    quotes: dict[str, tuple[float, float]]  # symbol -> (bid, ask), from the feed
    max_spread_bps: float | None
    max_slippage_bps: float | None

    def _refusal(self, order: OrderRequest, amount: Decimal) -> str | None:
        rules = self.rules.get(order.symbol)
        if rules is None:
            return f"{self.name} has no market {order.symbol} loaded."
        if order.action == "close":
            return None if amount > 0 else "The position is below the amount step."
        problem = rules.problem(Decimal(repr(order.size)), Decimal(repr(order.price)))
        if problem is not None:
            return problem
        quote = self.quotes.get(order.symbol)
        if quote is not None and self.max_spread_bps is not None:
            bid, ask = quote
            spread_bps = (ask - bid) / ((ask + bid) / 2) * 10_000
            if spread_bps > self.max_spread_bps:
                return (
                    f"The spread is {spread_bps:.1f} bps, wider than the {self.max_spread_bps:g} "
                    "bps limit: no entry."
                )
        return None

    async def place_order(self, order: OrderRequest) -> OrderResult:
        prepared = self._prepare(order)
        if isinstance(prepared, OrderResult):
            return prepared
        side, contracts, params = prepared
        self.waiters.expect(order.client_order_id)
        try:
            return await self._send(order, side, contracts, params)
        finally:
            self.waiters.forget(order.client_order_id)

    async def place_orders(
        self, orders: Sequence[OrderRequest]
    ) -> AsyncIterator[tuple[int, OrderResult | Exception]]:
        """On Bybit's unified accounts, batch order requests of up to 10 orders each, sent at
        once; each order answered in its place as soon as its answer is known, as `place_order`
        answers it. Elsewhere (a classic Bybit account takes no batch of linear orders), one
        request an order, side by side."""
        if self.name != "bybit" or len(orders) < 2 or not await self._unified():
            async for answer in one_by_one(self, orders):
                yield answer
            return
        prepared = [(order, self._prepare(order)) for order in orders]
        batch = [(order, *p) for order, p in prepared if not isinstance(p, OrderResult)]
        for order, *_ in batch:
            self.waiters.expect(order.client_order_id)
        size = min(BATCH_ORDERS, self.bucket.burst)
        requests: list[asyncio.Task[dict[str, Any]]] = []
        batched: list[Awaitable[OrderResult]] = []
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            requests.append(asyncio.ensure_future(self._send_batch(chunk)))
            batched += (self._batch_answer(item, requests[-1], i) for i, item in enumerate(chunk))
        answers = iter(batched)
        try:
            async for answer in as_answered(
                [_given(p) if isinstance(p, OrderResult) else next(answers) for _, p in prepared]
            ):
                yield answer
        finally:
            for request in requests:
                request.cancel()  # only one not done: the caller is stopping
            for order, *_ in batch:
                self.waiters.forget(order.client_order_id)

    def _prepare(self, order: OrderRequest) -> OrderResult | tuple[str, float, dict[str, Any]]:
        """A refusal, or the order's ccxt side, amount in contracts and params."""
        rules = self.rules.get(order.symbol)
        amount = rules.round_amount(Decimal(repr(order.size))) if rules else Decimal(0)
        if (refusal := self._refusal(order, amount)) is not None:
            return OrderResult(order.client_order_id, REJECTED, error=refusal)
        assert rules is not None
        setup = self.setups.get(order.symbol)
        margin_mode = setup.margin_mode if setup else "isolated"
        params = order_params(self.name, order, margin_mode, self.max_slippage_bps)
        return order_side(order.side, order.action), float(rules.to_contracts(amount)), params

    async def _send(
        self, order: OrderRequest, side: str, contracts: float, params: dict[str, Any]
    ) -> OrderResult:
        ccxt = _errors()
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            await self.bucket.acquire()
            try:
                answer = await self.client.create_order(
                    order.symbol, "market", side, contracts, None, params
                )
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as e:
                if attempt == RATE_LIMIT_RETRIES:
                    return OrderResult(order.client_order_id, REJECTED, error=f"Rate limited: {e}")
                pause = RATE_LIMIT_BACKOFF_S * 2**attempt
                self.bucket.drain(pause)
                self.log.warning("rate limited", client_order_id=order.client_order_id)
                continue
            except ccxt.BaseError as e:
                return await self._refused(e, order)
            return await self._filled(answer, order.client_order_id, order.symbol)
        raise AssertionError("unreachable")

    async def _send_batch(
        self, chunk: list[tuple[OrderRequest, str, float, dict[str, Any]]]
    ) -> dict[str, Any]:
        """One Bybit batch order request's answer, a rate-limited request sent again after a
        pause; raises ccxt's error when the request failed. Each order is made as ccxt makes
        one order's (`create_order_request`), and the answer read in Bybit's order, which is
        the request's: ccxt's own `create_orders` sorts the answers by time, losing which is
        whose."""
        ccxt = _errors()
        client = self.client
        requests = []
        for order, side, contracts, params in chunk:
            request = client.create_order_request(
                order.symbol, "market", side, contracts, None, params, True
            )
            request.pop("category", None)
            requests.append(request)
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            for _ in chunk:  # Bybit counts each order of a batch against the order limit
                await self.bucket.acquire()
            try:
                answer: dict[str, Any] = await client.privatePostV5OrderCreateBatch(
                    {"category": "linear", "request": requests}
                )
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection):
                if attempt == RATE_LIMIT_RETRIES:
                    raise
                self.bucket.drain(RATE_LIMIT_BACKOFF_S * 2**attempt)
                for order, *_ in chunk:
                    self.log.warning("rate limited", client_order_id=order.client_order_id)
                continue
            return answer
        raise AssertionError("unreachable")

    async def _batch_answer(
        self,
        item: tuple[OrderRequest, str, float, dict[str, Any]],
        request: asyncio.Task[dict[str, Any]],
        position: int,
    ) -> OrderResult:
        """One order's part of its batch request's answer, at `position` in its lists."""
        ccxt = _errors()
        order, side, contracts, params = item
        cid = order.client_order_id
        try:
            answer = await asyncio.shield(request)
        except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as e:
            return OrderResult(cid, REJECTED, error=f"Rate limited: {e}")
        except ccxt.BaseError as e:
            return await self._refused(e, order)
        created = (answer.get("result") or {}).get("list") or []
        codes = (answer.get("retExtInfo") or {}).get("list") or []
        if position >= len(codes) or position >= len(created):
            return await self._settle(cid, order.symbol)  # the answer does not say: look
        code = codes[position]
        if str(code.get("code")) == "0":
            placed = {"id": created[position].get("orderId"), "status": None}
            return await self._filled(placed, cid, order.symbol)
        error = self._error_of(code)
        if isinstance(error, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            # Turned away for the rate, so not placed: it goes alone, under the same id.
            return await self._send(order, side, contracts, params)
        return await self._refused(error, order)

    async def _unified(self) -> bool:
        """Whether the Bybit account is a unified trading account (ccxt asks once)."""
        return bool((await self.client.is_unified_enabled())[1])

    def _error_of(self, code: dict[str, Any]) -> Exception:
        """The exception ccxt raises for one order's code and message in a batch's answer:
        the one it raises for the same answer to a single order."""
        ccxt = _errors()
        answer = {"retCode": code.get("code"), "retMsg": code.get("msg")}
        body = json.dumps(answer)
        try:
            self.client.handle_errors(200, "OK", "order", "POST", {}, body, answer, None, None)
        except ccxt.BaseError as e:
            return e
        return ccxt.ExchangeError(f"{self.name} {body}")

    async def _refused(self, error: Exception, order: OrderRequest) -> OrderResult:
        """An order the exchange answered with an error: REJECTED with its reason, unless the
        order may be there (a duplicate client id, a timeout behind the exchange's gateway, a
        lost answer): then it is looked up."""
        if not _maybe_placed(error) and not isinstance(error, _errors().NetworkError):
            return OrderResult(order.client_order_id, REJECTED, error=describe_error(error))
        # Sent, perhaps received: only the exchange can say. Never send it again here.
        self.log.warning(
            "order answer lost", client_order_id=order.client_order_id, error=str(error)
        )
        return await self._settle(order.client_order_id, order.symbol)

    async def _filled(self, answer: dict[str, Any], cid: str, symbol: str) -> OrderResult:
        """The order's fill: from the answer when it carries one, else from the order stream,
        else looked up by id."""
        result = self._result(answer, cid, symbol)
        if result is None:
            result = await self.waiters.wait(cid, STREAM_WAIT_S)
        if result is not None:
            return result
        return await self._settle(cid, symbol)

    async def _settle(self, cid: str, symbol: str) -> OrderResult:
        for pause in FILL_POLLS:
            if (told := self.waiters.told(cid)) is not None:
                return told
            try:
                found = await self.find_order(cid, symbol)
            except OrderOutcomeUnknown:
                found = None
            if found is not None:
                return found
            await asyncio.sleep(pause)
        raise OrderOutcomeUnknown(f"{cid}: no answer and not found on {self.name} yet.")

    def _result(self, order: dict[str, Any], cid: str, symbol: str) -> OrderResult | None:
        """FILLED or REJECTED from a ccxt order, or None while it is still working."""
        status = order.get("status")
        filled = float(order.get("filled") or 0)
        rules = self.rules.get(symbol)
        contract = float(rules.contract_size) if rules else 1.0
        if status == "closed" or (status in ("canceled", "expired", "rejected") and filled > 0):
            fee = order.get("fee") or {}
            return OrderResult(
                cid,
                FILLED,
                filled_size=filled * contract,
                price=float(order.get("average") or order.get("price") or 0) or None,
                fee=abs(float(fee.get("cost") or 0)),
                exchange_order_id=str(order.get("id") or ""),
            )
        if status in ("canceled", "expired", "rejected"):
            info = order.get("info") or {}
            reason = info.get("rejectReason") or info.get("cancelType") or status
            return OrderResult(
                cid,
                REJECTED,
                exchange_order_id=str(order.get("id") or ""),
                error=f"{self.name} {status} the order: {reason}",
            )
        return None

    async def find_order(
        self, client_order_id: str, symbol: str | None = None
    ) -> OrderResult | None:
        """The order with this client id, if the exchange ever received it (None if not);
        raises OrderOutcomeUnknown when the exchange cannot be asked right now."""
        ccxt = _errors()
        symbols = [symbol] if symbol else list(self.setups) or list(self.rules)
        for name in symbols:
            await self.queries.acquire()
            try:
                found = await self._lookup(client_order_id, name)
            except ccxt.OrderNotFound:
                continue
            except ccxt.NetworkError as e:
                raise OrderOutcomeUnknown(f"{client_order_id}: cannot look it up: {e}") from None
            if found is not None:
                result = self._result(found, client_order_id, name)
                if result is not None:
                    return result
                raise OrderOutcomeUnknown(f"{client_order_id} is still working on {self.name}.")
        return None

    async def _lookup(self, cid: str, symbol: str) -> dict[str, Any] | None:
        if self.name == "bybit":
            # Open orders, then the history: both take the client id as orderLinkId.
            for fetch in (self.client.fetch_open_orders, self.client.fetch_closed_orders):
                orders = await fetch(symbol, None, None, {"orderLinkId": cid})
                if orders:
                    return orders[0]  # type: ignore[no-any-return]
            return None
        key = "clOrdId" if self.name == "okx" else "origClientOrderId"
        return await self.client.fetch_order(None, symbol, {key: cid})  # type: ignore[no-any-return]


def _maybe_placed(error: Exception) -> bool:
    """Whether the exchange's answer leaves the order possibly placed (`MAYBE_PLACED`)."""
    return MAYBE_PLACED.search(str(error)) is not None


async def _given(result: OrderResult) -> OrderResult:
    return result


def describe_error(error: Exception) -> str:
    """An exchange error in one line: its kind and the exchange's reason, cut to a length a
    status page and a log line can hold."""
    text = f"{type(error).__name__}: {error}"
    return text if len(text) <= 300 else text[:297] + "..."
