"""Real accounts through ccxt: Bybit, Binance USD-M and OKX linear USDT perpetuals, hedge mode.

`CcxtExchange` is the live side of the one exchange interface (`base.Exchange`):
- `connect` loads the linear markets, stores their order rules for the level form, and sets
  each traded symbol to hedge mode with the levels' margin mode and leverage. A symbol the
  account cannot switch stays off, with the exchange's reason.
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
  sent. A client id the exchange calls a duplicate is looked up, never resent.
- Rate-limit answers back off and retry (the exchange did nothing); any other refusal is a
  REJECTED result with the exchange's reason, and no retry.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from trading.engine import LONG, SHORT
from trading.exchange.accounts import AccountConfig, make_client
from trading.exchange.base import (
    FILLED,
    REJECTED,
    FundingSettlement,
    OrderRequest,
    OrderResult,
    PositionInfo,
    as_answered,
    one_by_one,
)
from trading.exchange.funding import funding_settlement
from trading.exchange.markets import MarketRules
from trading.exchange.ratelimit import TokenBucket
from trading.exchange.streams import OrderWaiters, follow
from trading.notify.notification import settle_currency

log = structlog.get_logger("levelbot.exchange")

# An exchange's "it is already so" answers to a settings call, as their texts say them.
ALREADY_SO = ("not modified", "no need to change")
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


class SymbolSetupError(Exception):
    """The account cannot trade this symbol as levelbot needs; the message says why."""


@dataclass(frozen=True)
class SymbolSetup:
    """How the levels of one symbol want it traded."""

    symbol: str
    leverage: int
    margin_mode: str  # isolated or cross


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


class CcxtExchange:
    def __init__(self, config: AccountConfig, *, client: Any = None) -> None:
        self.config = config
        self.name = config.exchange
        self.client = client if client is not None else make_client(config)
        # Orders and every other private call (settings, lookups, positions, balance) are
        # paced apart, as exchanges limit them apart: lookups never hold an order back.
        self.bucket = TokenBucket.for_exchange(config.exchange)
        self.queries = TokenBucket.for_exchange(config.exchange, queries=True)
        self.rules: dict[str, MarketRules] = {}
        self.waiters = OrderWaiters()
        self.setups: dict[str, SymbolSetup] = {}
        self.quotes: dict[str, tuple[float, float]] = {}  # symbol -> (bid, ask), from the feed
        self.max_spread_bps: float | None = None
        self.max_slippage_bps: float | None = None
        self.log = log.bind(exchange=self.name, venue=config.venue)

    # -- start-up ------------------------------------------------------------------------

    async def load_rules(self) -> dict[str, MarketRules]:
        """The linear USDT perpetuals' order rules, by unified symbol."""
        markets = await self.client.load_markets()
        self.rules = {
            symbol: MarketRules.from_ccxt(self.name, market)
            for symbol, market in markets.items()
            if market.get("swap")
            and market.get("linear")
            and market.get("settle") == "USDT"
            and market.get("active") is not False
        }
        return self.rules

    async def prepare(self, setup: SymbolSetup) -> None:
        """Hedge mode, margin mode and leverage for one symbol. "Already so" answers are fine;
        any other refusal raises SymbolSetupError with the exchange's reason."""
        ccxt = _errors()
        if setup.symbol not in self.rules:
            raise SymbolSetupError(
                f"{self.name} has no linear USDT perpetual {setup.symbol}: check the symbol."
            )
        rules = self.rules[setup.symbol]
        if rules.max_leverage is not None and setup.leverage > rules.max_leverage:
            raise SymbolSetupError(
                f"Leverage {setup.leverage} is above {self.name}'s maximum of "
                f"{rules.max_leverage} for {setup.symbol}."
            )
        for what, call, args, params in self._setup_steps(setup):
            await self.queries.acquire()
            try:
                await call(*args, params)
            except (ccxt.NoChange, ccxt.MarginModeAlreadySet):
                pass
            except ccxt.BaseError as e:
                if not any(words in str(e).lower() for words in ALREADY_SO):
                    raise SymbolSetupError(
                        f"{setup.symbol}: cannot set {what}: {describe_error(e)}"
                    ) from None
        self.setups[setup.symbol] = setup
        self.log.info(
            "symbol ready",
            symbol=setup.symbol,
            leverage=setup.leverage,
            margin_mode=setup.margin_mode,
        )

    def _setup_steps(self, setup: SymbolSetup) -> list[tuple[str, Any, tuple[Any, ...], dict]]:
        """(what, call, args, params) to put a symbol in hedge mode with its margin mode and
        leverage. OKX sets the margin mode with the leverage (its margin-mode call needs the
        leverage too), once per position side when isolated."""
        client, symbol = self.client, setup.symbol
        steps: list[tuple[str, Any, tuple[Any, ...], dict]] = [
            ("hedge mode", client.set_position_mode, (True, symbol), {})
        ]
        if self.name != "okx":
            steps.append(("margin mode", client.set_margin_mode, (setup.margin_mode, symbol), {}))
            steps.append(("leverage", client.set_leverage, (setup.leverage, symbol), {}))
        elif setup.margin_mode == "isolated":
            for pos_side in ("long", "short"):
                params = {"marginMode": "isolated", "posSide": pos_side}
                steps.append(("leverage", client.set_leverage, (setup.leverage, symbol), params))
        else:
            params = {"marginMode": "cross"}
            steps.append(("leverage", client.set_leverage, (setup.leverage, symbol), params))
        return steps

    # -- orders --------------------------------------------------------------------------

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

    # -- the stop-loss on the exchange ---------------------------------------------------

    async def protect(self, symbol: str, side: str, stop_price: float | None) -> str | None:
        """Rest a stop-loss for one side's position on the exchange, so that it holds if the
        bot dies; `stop_price` None removes it. The price goes to the market's tick, away from
        the position (down for a LONG, up for a SHORT): never tighter than asked. A call
        replaces the side's previous stop: there is never more than one.

        Returns None once the exchange holds it so (an unchanged stop, or a removal from a
        side already flat, included), else the reason in one line: a refusal never raises,
        the bot keeps its own stop either way. Each exchange holds it its own way, by the
        mark price, closing the whole side at the market (`trading.exchange.stops`): Bybit
        as the position's own stop-loss, Binance USD-M as a closePosition STOP_MARKET order,
        OKX as a conditional algo order with closeFraction 1."""
        from trading.exchange import stops  # it builds on this module's helpers

        return await stops.protect(self, symbol, side, stop_price)

    # -- positions -----------------------------------------------------------------------

    async def positions(self, symbol: str) -> dict[str, PositionInfo]:
        await self.queries.acquire()
        rules = self.rules.get(symbol)
        contract = float(rules.contract_size) if rules else 1.0
        held: dict[str, PositionInfo] = {}
        for row in await self.client.fetch_positions([symbol]):
            size = float(row.get("contracts") or 0) * contract
            side = {"long": LONG, "short": SHORT}.get(str(row.get("side")))
            if side is None or size <= 0:
                continue
            held[side] = PositionInfo(
                side,
                size,
                float(row.get("entryPrice") or 0),
                float(row.get("unrealizedPnl") or 0),
            )
        return held

    async def watch_account(self, on_change: Callable[[set[str]], Awaitable[None]]) -> None:
        """Follow the account's private streams until cancelled: positions (`on_change` hears
        the symbols whose positions moved: a fill, a liquidation, a close by hand; it only
        says where to look, the positions themselves are read over REST, the source of truth)
        and, where the exchange streams them, orders (settling the orders on their way)."""

        async def moved(updates: list[dict[str, Any]]) -> None:
            symbols = {str(p.get("symbol")) for p in updates if p.get("symbol")}
            if symbols:
                await on_change(symbols)

        streams = [follow(self.client.watch_positions, moved, name="position stream", log=self.log)]
        if self.client.has.get("watchOrders"):
            streams.append(
                follow(
                    self.client.watch_orders,
                    self._orders_told,
                    name="order stream",
                    log=self.log,
                    on_state=self._order_stream_up,
                )
            )
        await asyncio.gather(*streams)

    async def _orders_told(self, orders: list[dict[str, Any]]) -> None:
        for order in orders:
            cid = str(order.get("clientOrderId") or "")
            symbol = str(order.get("symbol") or "")
            if cid in self.waiters.waiting:
                result = self._result(order, cid, symbol)
                if result is not None:
                    self.waiters.settle(result)

    def _order_stream_up(self, up: bool) -> None:
        self.waiters.live = up

    async def free_margin(self, symbol: str) -> float | None:
        """The account's free balance in the symbol's settle currency (USDT), over REST."""
        if symbol not in self.rules:
            return None
        await self.queries.acquire()
        balance = await self.client.fetch_balance()
        free = (balance.get(settle_currency(symbol)) or {}).get("free")
        return None if free is None else float(free)

    # -- funding -------------------------------------------------------------------------

    async def funding_settlements(self, symbol: str, since_ms: int) -> list[FundingSettlement]:
        """The funding the exchange settled on the account's positions of `symbol` from
        `since_ms` on, oldest first, through ccxt's `fetch_funding_history` (Bybit: executions
        of type Funding, every page; Binance USD-M: income FUNDING_FEE; OKX: bills of type 8).
        Raises ccxt's errors: the caller tries again later."""
        await self.queries.acquire()
        # Bybit lists newest first, a page at a time: read every page back to `since_ms`.
        params = {"paginate": True} if self.name == "bybit" else {}
        rows = await self.client.fetch_funding_history(symbol, since_ms, None, params)
        found = (funding_settlement(row) for row in rows if row.get("symbol") == symbol)
        # Pages of a list that grew while it was read may repeat a row: one each.
        unique = {s.settlement_id: s for s in found if s is not None}
        return sorted(unique.values(), key=lambda s: s.ts_ms)

    async def close(self) -> None:
        await self.client.close()


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


def setups_for(levels: Iterable[Any]) -> dict[str, SymbolSetup]:
    """One setup per symbol from its levels: the lowest leverage any level asks for (an
    exchange holds one per symbol, and less leverage is the safer reading), and isolated
    margin unless every level asks for cross."""
    by_symbol: dict[str, list[Any]] = {}
    for level in levels:
        by_symbol.setdefault(level.symbol, []).append(level)
    return {
        symbol: SymbolSetup(
            symbol,
            min(level.leverage for level in group),
            "cross" if all(level.margin_type == "cross" for level in group) else "isolated",
        )
        for symbol, group in by_symbol.items()
    }
