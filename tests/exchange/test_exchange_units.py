"""The exchange and live-feed pieces that need no exchange: order rules, pacing, backoff, quote
and trade parsing, account configuration, order naming, and the live feed's merging of streams.
No test here opens a socket or waits for real time."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest

import trading.exchange.ratelimit as ratelimit
import trading.feeds.live as feeds_live
from tests.shared_data import SHARED
from trading.engine import LONG, SHORT, TRADE_ONLY
from trading.exchange import ccxtload
from trading.exchange.accounts import AccountConfig, make_client, redirect
from trading.exchange.base import FILLED, OrderRequest, OrderResult, as_answered
from trading.exchange.live import SymbolSetup, setups_for
from trading.exchange.markets import MarketRules
from trading.exchange.ratelimit import TokenBucket
from trading.exchange.sending import OrderOutcomeUnknown, order_params, order_side
from trading.feeds.live import (
    BACKOFF_FIRST_S,
    BACKOFF_MAX_S,
    LiveFeed,
    backoff_delay,
    quote_tick,
    trade_flow,
)

EXCHANGE_INFO = SHARED / "data" / "exchange" / "fapi_v1_exchangeInfo_2021-07-21.json"

# ccxt markets as `load_markets` gives them: Binance states amounts in BTC, OKX in contracts.
LINEAR = {
    "symbol": "BTC/USDT:USDT",
    "id": "BTCUSDT",
    "contractSize": 1.0,
    "precision": {"amount": 0.001, "price": 0.1},
    "limits": {"amount": {"min": 0.001}, "cost": {"min": 5.0}, "leverage": {"max": 125}},
}
CONTRACTS = {
    "symbol": "BTC/USDT:USDT",
    "id": "BTC-USDT-SWAP",
    "contractSize": 0.01,
    "precision": {"amount": 1.0, "price": 0.1},
    "limits": {"amount": {"min": 1.0}, "cost": {"min": None}, "leverage": {"max": 100}},
}


def d(text: str) -> Decimal:
    return Decimal(text)


# -- MarketRules --------------------------------------------------------------------------


def test_rules_of_a_base_unit_market_are_its_own() -> None:
    rules = MarketRules.from_ccxt("binanceusdm", LINEAR)
    assert (rules.symbol, rules.market_id) == ("BTC/USDT:USDT", "BTCUSDT")
    assert rules.amount_step == d("0.001")
    assert rules.min_amount == d("0.001")
    assert rules.min_notional == d("5")
    assert rules.contract_size == 1
    assert rules.max_leverage == 125
    assert rules.to_contracts(d("0.05")) == d("0.05")


def test_rules_of_a_contract_market_are_turned_into_base_units() -> None:
    rules = MarketRules.from_ccxt("okx", CONTRACTS)
    assert rules.amount_step == d("0.01")  # one contract of 0.01 BTC
    assert rules.min_amount == d("0.01")
    assert rules.min_notional is None
    assert rules.contract_size == d("0.01")
    assert rules.max_leverage == 100
    assert rules.to_contracts(d("0.05")) == 5


def test_rules_without_limits_have_none() -> None:
    rules = MarketRules.from_ccxt("bybit", {"symbol": "X/USDT:USDT", "id": "XUSDT"})
    assert (rules.amount_step, rules.min_amount, rules.min_notional) == (None, None, None)
    assert rules.round_amount(d("0.123456")) == d("0.123456")
    assert rules.problem(d("0.123456"), d("1")) is None


@pytest.mark.parametrize(
    "size, rounded",
    [("0.0129", "0.012"), ("0.0199999", "0.019"), ("0.012", "0.012"), ("5", "5"), ("0.0009", "0")],
)
def test_round_amount_rounds_down_to_the_step(size: str, rounded: str) -> None:
    rules = MarketRules.from_ccxt("binanceusdm", LINEAR)
    assert rules.round_amount(d(size)) == d(rounded)


def test_round_amount_never_rounds_up() -> None:
    rules = MarketRules.from_ccxt("okx", CONTRACTS)
    rng = random.Random(7)
    for _ in range(500):
        size = Decimal(rng.randrange(1, 10**7)) / Decimal(10**6)
        rounded = rules.round_amount(size)
        assert rounded <= size
        assert size - rounded < d("0.01")
        assert rounded % d("0.01") == 0


def test_problem_below_the_minimum_amount_names_the_minimum() -> None:
    rules = MarketRules.from_ccxt("binanceusdm", LINEAR)
    problem = rules.problem(d("0.0005"), d("30000"))
    assert problem is not None
    assert "0.0005" in problem
    assert "minimum order of 0.001" in problem
    assert "BTC/USDT:USDT" in problem


def test_problem_when_the_size_rounds_to_nothing() -> None:
    rules = MarketRules("bybit", "BTC/USDT:USDT", "BTCUSDT", amount_step=d("0.001"))
    problem = rules.problem(d("0.0004"), d("30000"))
    assert problem is not None
    assert "0.0004 rounds to nothing" in problem


def test_problem_below_the_minimum_notional_names_the_numbers() -> None:
    rules = MarketRules.from_ccxt("binanceusdm", LINEAR)
    problem = rules.problem(d("0.001"), d("3000"))  # worth 3 USDT, the minimum is 5
    assert problem is not None
    for number in ("0.001", "3000", "worth 3,", "5"):
        assert number in problem
    assert rules.problem(d("0.001"), d("5000")) is None  # exactly the minimum value is fine


def test_problem_judges_the_rounded_size() -> None:
    rules = MarketRules.from_ccxt("binanceusdm", LINEAR)
    # 0.00199 is worth 5.97 at 3000, but only 0.001 of it can be sent: worth 3.
    problem = rules.problem(d("0.00199"), d("3000"))
    assert problem is not None
    assert "0.001 at 3000 is worth 3," in problem


def test_level_problems_name_a_size_off_the_step() -> None:
    rules = MarketRules.from_ccxt("binanceusdm", LINEAR)
    problems = rules.level_problems(d("0.0015"), d("30000"))
    assert len(problems) == 1
    assert "0.0015 is not a multiple of the amount step 0.001" in problems[0]


def test_level_problems_name_a_size_too_small_at_the_lowest_price() -> None:
    rules = MarketRules.from_ccxt("binanceusdm", LINEAR)
    problems = rules.level_problems(d("0.001"), d("4000"))
    assert len(problems) == 1
    assert "below the minimum order value of 5" in problems[0]
    assert rules.level_problems(d("0.002"), d("4000")) == []


def exchange_info_markets() -> list[dict[str, Any]]:
    """The real Binance USD-M exchangeInfo, parsed by ccxt's own binanceusdm class."""
    client = ccxtload.exchange_class("binanceusdm")({"enableRateLimit": False})
    info = json.loads(EXCHANGE_INFO.read_text())
    return client.parse_markets(info["symbols"])  # type: ignore[no-any-return]


def test_rules_of_real_binance_markets_match_their_filters() -> None:
    info = {s["symbol"]: s for s in json.loads(EXCHANGE_INFO.read_text())["symbols"]}
    markets = [m for m in exchange_info_markets() if m["swap"] and m["settle"] == "USDT"]
    assert len(markets) > 100
    for market in markets:
        filters = {f["filterType"]: f for f in info[market["id"]]["filters"]}
        rules = MarketRules.from_ccxt("binanceusdm", market)
        assert rules.amount_step == d(filters["LOT_SIZE"]["stepSize"]), market["id"]
        assert rules.min_amount == d(filters["LOT_SIZE"]["minQty"]), market["id"]
        assert rules.min_notional == d(filters["MIN_NOTIONAL"]["notional"]), market["id"]
    btc = next(m for m in markets if m["symbol"] == "BTC/USDT:USDT")
    rules = MarketRules.from_ccxt("binanceusdm", btc)
    lot = next(f for f in info["BTCUSDT"]["filters"] if f["filterType"] == "LOT_SIZE")
    assert (rules.amount_step, rules.min_amount) == (d(lot["stepSize"]), d(lot["minQty"]))
    assert rules.min_notional == d("5")


# -- TokenBucket ----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """A clock that only `asyncio.sleep` moves: sleeping takes no real time."""
    fake = FakeClock()
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        fake.now += seconds
        await real_sleep(0)

    monkeypatch.setattr(ratelimit.asyncio, "sleep", sleep)
    return fake


def acquire_all(bucket: TokenBucket, calls: int) -> list[float]:
    async def scenario() -> list[float]:
        return [await bucket.acquire() for _ in range(calls)]

    return asyncio.run(asyncio.wait_for(scenario(), timeout=5))


def test_bucket_lets_a_burst_through_at_once(clock: FakeClock) -> None:
    bucket = TokenBucket(10.0, 3, clock=clock)
    assert acquire_all(bucket, 3) == [0.0, 0.0, 0.0]
    assert clock.now == 1000.0


def test_bucket_paces_the_call_after_a_burst_at_its_rate(clock: FakeClock) -> None:
    bucket = TokenBucket(10.0, 3, clock=clock)
    waits = acquire_all(bucket, 5)
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == [pytest.approx(0.1), pytest.approx(0.1)]
    assert clock.now == pytest.approx(1000.2)


def test_bucket_refills_while_idle_up_to_its_burst_only(clock: FakeClock) -> None:
    bucket = TokenBucket(10.0, 3, clock=clock)
    acquire_all(bucket, 3)
    clock.now += 3600  # an idle hour would be 36,000 tokens: the burst caps it at 3
    assert bucket.wait_time() == 0.0
    waits = acquire_all(bucket, 4)
    assert waits == [0.0, 0.0, 0.0, pytest.approx(0.1)]


def test_bucket_drain_holds_calls_back(clock: FakeClock) -> None:
    bucket = TokenBucket(10.0, 3, clock=clock)
    bucket.drain(0.5)
    assert bucket.wait_time() >= 0.5
    (waited,) = acquire_all(bucket, 1)
    assert 0.5 <= waited <= 0.5 + 1 / 10.0 + 1e-9
    assert clock.now - 1000.0 == pytest.approx(waited)


def test_bucket_refuses_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        TokenBucket(0.0, 3)
    with pytest.raises(ValueError):
        TokenBucket(5.0, 0)


@pytest.mark.parametrize("exchange", ["bybit", "binanceusdm", "okx"])
def test_bucket_for_an_exchange_uses_its_limits(exchange: str) -> None:
    bucket = TokenBucket.for_exchange(exchange)
    assert (bucket.rate, bucket.burst) == ratelimit.LIMITS[exchange]


# -- backoff, quotes and trades -----------------------------------------------------------


def test_backoff_stays_within_half_and_all_of_its_ceiling() -> None:
    rng = random.Random(42)
    for attempt in range(16):
        ceiling = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2**attempt)
        for _ in range(50):
            assert ceiling / 2 <= backoff_delay(attempt, rng=rng) <= ceiling


def test_backoff_ceiling_doubles_and_stops_at_thirty_seconds() -> None:
    class Highest(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b

    ceilings = [backoff_delay(attempt, rng=Highest()) for attempt in range(12)]
    assert ceilings[:5] == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6])
    assert all(b == pytest.approx(2 * a) for a, b in itertools.pairwise(ceilings[:9]))
    assert max(ceilings) == 30.0
    assert ceilings[-1] == 30.0


def test_backoff_with_the_same_seed_repeats() -> None:
    first = [backoff_delay(a, rng=random.Random(3)) for a in range(6)]
    again = [backoff_delay(a, rng=random.Random(3)) for a in range(6)]
    assert first == again


def test_quote_tick_is_the_mid_of_a_two_sided_quote() -> None:
    assert quote_tick({"bid": 100.0, "ask": 102.0, "timestamp": 5}) == (5, 101.0, 100.0, 102.0)
    assert quote_tick({"bid": 100.0, "ask": 100.0, "timestamp": 6}) == (6, 100.0, 100.0, 100.0)


@pytest.mark.parametrize(
    "ticker",
    [
        {"bid": None, "ask": 102.0, "timestamp": 5},
        {"bid": 100.0, "ask": None, "timestamp": 5},
        {"bid": 0.0, "ask": 102.0, "timestamp": 5},
        {"bid": 103.0, "ask": 102.0, "timestamp": 5},  # crossed
        {"bid": 100.0, "ask": 102.0, "timestamp": None},
        {"bid": -1.0, "ask": 102.0, "timestamp": 5},
    ],
)
def test_quote_tick_is_none_without_a_sound_two_sided_quote(ticker: dict[str, Any]) -> None:
    assert quote_tick(ticker) is None


def test_trade_flow_signs_the_taker_side() -> None:
    buy = {"side": "buy", "amount": 0.5, "price": 100.0, "timestamp": 7}
    sell = {"side": "sell", "amount": 0.25, "price": 99.0, "timestamp": 8}
    assert trade_flow(buy) == (7, 100.0, 0.5)
    assert trade_flow(sell) == (8, 99.0, -0.25)


@pytest.mark.parametrize(
    "trade",
    [
        {"side": None, "amount": 0.5, "price": 100.0, "timestamp": 7},
        {"side": "buy", "amount": 0.0, "price": 100.0, "timestamp": 7},
        {"side": "buy", "amount": 0.5, "price": None, "timestamp": 7},
        {"side": "buy", "amount": 0.5, "price": 100.0, "timestamp": None},
    ],
)
def test_trade_flow_is_none_for_an_incomplete_trade(trade: dict[str, Any]) -> None:
    assert trade_flow(trade) is None


# -- AccountConfig ------------------------------------------------------------------------

SECRETS = {"API_KEY": "kEy-7f3a91", "SECRET": "sEcReT-c0ffee42", "PASSWORD": "pAsS-d00d5"}


@pytest.mark.parametrize("exchange", ["bybit", "binanceusdm", "okx"])
def test_config_never_shows_its_keys(exchange: str) -> None:
    prefix = f"LEVELBOT_{exchange.upper()}_"
    config = AccountConfig.from_env(exchange, {prefix + k: v for k, v in SECRETS.items()})
    assert (config.api_key, config.secret) == (SECRETS["API_KEY"], SECRETS["SECRET"])
    assert config.has_keys
    for text in (repr(config), str(config), config.venue, f"{config!r:>10}"):
        for value in SECRETS.values():
            assert value not in text


def test_config_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEVELBOT_BYBIT_API_KEY", "from-env")
    monkeypatch.setenv("LEVELBOT_BYBIT_TESTNET", "yes")
    config = AccountConfig.from_env("bybit")
    assert config.api_key == "from-env"
    assert config.testnet is True


@pytest.mark.parametrize(
    "exchange, env, missing",
    [
        ("bybit", {}, ["LEVELBOT_BYBIT_API_KEY", "LEVELBOT_BYBIT_SECRET"]),
        ("bybit", {"LEVELBOT_BYBIT_API_KEY": "k"}, ["LEVELBOT_BYBIT_SECRET"]),
        ("bybit", {"LEVELBOT_BYBIT_API_KEY": "k", "LEVELBOT_BYBIT_SECRET": "s"}, []),
        ("binanceusdm", {"LEVELBOT_BINANCEUSDM_SECRET": "s"}, ["LEVELBOT_BINANCEUSDM_API_KEY"]),
        (
            "okx",
            {"LEVELBOT_OKX_API_KEY": "k", "LEVELBOT_OKX_SECRET": "s"},
            ["LEVELBOT_OKX_PASSWORD"],
        ),
        (
            "okx",
            {},
            ["LEVELBOT_OKX_API_KEY", "LEVELBOT_OKX_SECRET", "LEVELBOT_OKX_PASSWORD"],
        ),
    ],
)
def test_missing_keys_names_the_variables(
    exchange: str, env: dict[str, str], missing: list[str]
) -> None:
    config = AccountConfig.from_env(exchange, env)
    assert config.missing_keys() == missing
    assert config.has_keys is (missing == [])


@pytest.mark.parametrize("name", ["LEVELBOT_REST_TIMEOUT_MS", "LEVELBOT_WS_KEEPALIVE_MS"])
@pytest.mark.parametrize("value", ["abc", "0", "-300", "1.5", "5s"])
def test_a_bad_duration_is_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        AccountConfig.from_env("bybit", {name: value})


def test_durations_default_and_parse() -> None:
    default = AccountConfig.from_env("bybit", {})
    assert (default.timeout_ms, default.keepalive_ms) == (5000, 18000)
    env = {"LEVELBOT_REST_TIMEOUT_MS": " 300 ", "LEVELBOT_WS_KEEPALIVE_MS": "9000"}
    config = AccountConfig.from_env("bybit", env)
    assert (config.timeout_ms, config.keepalive_ms) == (300, 9000)


def test_an_unsupported_exchange_is_refused() -> None:
    with pytest.raises(ValueError, match="kraken"):
        AccountConfig.from_env("kraken", {})


@pytest.mark.parametrize("value, on", [("1", True), ("true", True), ("ON", True), ("0", False)])
def test_testnet_and_demo_flags(value: str, on: bool) -> None:
    config = AccountConfig.from_env(
        "binanceusdm",
        {"LEVELBOT_BINANCEUSDM_TESTNET": value, "LEVELBOT_BINANCEUSDM_DEMO": value},
    )
    assert (config.testnet, config.demo) == (on, on)


def test_redirect_keeps_paths_and_queries_and_fills_hostname_templates() -> None:
    urls = {
        "public": "https://api.{hostname}",
        "private": "https://fapi.{hostname}/fapi/v1?x=1",
        "ws": {"linear": "wss://stream.{hostname}/v5/public/linear", "plain": "ws://a.b/c"},
        "doc": "not a url",
        "limit": 42,
    }
    redirect(urls, "http://127.0.0.1:8001/sim/", "ws://127.0.0.1:8002")
    assert urls == {
        "public": "http://127.0.0.1:8001/sim",
        "private": "http://127.0.0.1:8001/sim/fapi/v1?x=1",
        "ws": {"linear": "ws://127.0.0.1:8002/v5/public/linear", "plain": "ws://127.0.0.1:8002/c"},
        "doc": "not a url",
        "limit": 42,
    }


def test_redirect_with_one_url_leaves_the_other_kind_alone() -> None:
    urls = {"rest": "https://{hostname}", "ws": "wss://ws.okx.com:443/ws/v5"}
    redirect(urls, "", "ws://127.0.0.1:9")
    assert urls == {"rest": "https://{hostname}", "ws": "ws://127.0.0.1:9/ws/v5"}
    redirect(urls, "http://127.0.0.1:8", "")
    assert urls == {"rest": "http://127.0.0.1:8", "ws": "ws://127.0.0.1:9/ws/v5"}


def leaves(urls: Any) -> list[str]:
    if isinstance(urls, dict):
        return [leaf for value in urls.values() for leaf in leaves(value)]
    return [urls] if isinstance(urls, str) and "://" in urls else []


@pytest.mark.parametrize("exchange", ["bybit", "binanceusdm", "okx"])
def test_client_with_local_urls_speaks_to_no_other_host(exchange: str) -> None:
    prefix = f"LEVELBOT_{exchange.upper()}_"
    env = {prefix + "REST_URL": "http://127.0.0.1:8001", prefix + "WS_URL": "ws://127.0.0.1:8002"}
    client = make_client(AccountConfig.from_env(exchange, env))
    urls = leaves(client.urls["api"])
    assert urls
    assert {urlsplit(u).netloc for u in urls} == {"127.0.0.1:8001", "127.0.0.1:8002"}
    assert client.enableRateLimit is False
    assert client.has["fetchCurrencies"] is False


@pytest.mark.parametrize("exchange", ["bybit", "binanceusdm"])
def test_testnet_uses_ccxt_sandbox_urls(exchange: str) -> None:
    plain_client = ccxtload.exchange_class(exchange)({})
    sandbox = leaves(plain_client.urls["test"])
    client = make_client(
        AccountConfig.from_env(exchange, {f"LEVELBOT_{exchange.upper()}_TESTNET": "1"})
    )
    urls = leaves(client.urls["api"])
    assert sorted(urls) == sorted(sandbox)  # no redirect: no URL was given
    rest = [client.implode_hostname(u) for u in urls if u.startswith("http")]
    assert rest
    assert all("test" in urlsplit(u).hostname for u in rest), rest


@pytest.mark.parametrize("exchange", ["bybit", "binanceusdm", "okx"])
def test_mainnet_without_urls_keeps_ccxt_urls(exchange: str) -> None:
    plain_client = ccxtload.exchange_class(exchange)({})
    client = make_client(AccountConfig.from_env(exchange, {}))
    assert client.urls["api"] == plain_client.urls["api"]
    assert "127.0.0.1" not in json.dumps(client.urls["api"])


# -- order naming and set-ups ---------------------------------------------------------------


@pytest.mark.parametrize(
    "side, action, expected",
    [
        (LONG, "open", "buy"),
        (LONG, "add", "buy"),
        (LONG, "close", "sell"),
        (SHORT, "open", "sell"),
        (SHORT, "add", "sell"),
        (SHORT, "close", "buy"),
    ],
)
def test_order_side(side: str, action: str, expected: str) -> None:
    assert order_side(side, action) == expected


def request(exchange: str, side: str, action: str) -> OrderRequest:
    return OrderRequest(exchange, "BTC/USDT:USDT", side, action, 0.01, 30000.0, "cid-1")


@pytest.mark.parametrize("side, index", [(LONG, 1), (SHORT, 2)])
@pytest.mark.parametrize("action", ["open", "close"])
def test_order_params_for_bybit_name_the_position_index(side: str, index: int, action: str) -> None:
    params = order_params("bybit", request("bybit", side, action), "isolated")
    assert params["clientOrderId"] == "cid-1"
    assert params["positionIdx"] == index
    assert params["reduceOnly"] is (action == "close")
    assert "hedged" not in params
    assert "marginMode" not in params


@pytest.mark.parametrize("exchange", ["binanceusdm", "okx"])
@pytest.mark.parametrize("side", [LONG, SHORT])
@pytest.mark.parametrize("action", ["open", "close"])
def test_order_params_for_hedged_exchanges_let_ccxt_name_the_side(
    exchange: str, side: str, action: str
) -> None:
    params = order_params(exchange, request(exchange, side, action), "cross")
    assert params["clientOrderId"] == "cid-1"
    assert params["hedged"] is True
    assert bool(params.get("reduceOnly")) is (action == "close")
    assert "positionIdx" not in params
    assert params.get("marginMode") == ("cross" if exchange == "okx" else None)


def level(symbol: str, leverage: int, margin_type: str) -> SimpleNamespace:
    return SimpleNamespace(symbol=symbol, leverage=leverage, margin_type=margin_type)


def test_setups_take_the_lowest_leverage_and_isolated_unless_all_cross() -> None:
    setups = setups_for(
        [
            level("BTC/USDT:USDT", 10, "cross"),
            level("BTC/USDT:USDT", 5, "isolated"),
            level("BTC/USDT:USDT", 20, "cross"),
            level("ETH/USDT:USDT", 8, "cross"),
            level("ETH/USDT:USDT", 3, "cross"),
            level("SOL/USDT:USDT", 4, "isolated"),
        ]
    )
    assert setups == {
        "BTC/USDT:USDT": SymbolSetup("BTC/USDT:USDT", 5, "isolated"),
        "ETH/USDT:USDT": SymbolSetup("ETH/USDT:USDT", 3, "cross"),
        "SOL/USDT:USDT": SymbolSetup("SOL/USDT:USDT", 4, "isolated"),
    }
    assert setups_for([]) == {}


# -- LiveFeed -------------------------------------------------------------------------------


def network_error(text: str) -> Exception:
    ccxtload.install()
    from ccxt.base.errors import NetworkError

    return NetworkError(text)


class ScriptedClient:
    """Stands in for a ccxt.pro client: each watch call takes the next scripted item (an
    answer, or an error to raise), waiting for one as a quiet socket would."""

    id = "bybit"

    def __init__(self) -> None:
        self.tickers: asyncio.Queue[Any] = asyncio.Queue()
        self.trades: asyncio.Queue[Any] = asyncio.Queue()

    @staticmethod
    async def _next(queue: asyncio.Queue[Any]) -> Any:
        item = await queue.get()
        if isinstance(item, Exception):
            raise item
        return item

    async def watch_ticker(self, symbol: str) -> dict[str, Any]:
        return await self._next(self.tickers)  # type: ignore[no-any-return]

    async def watch_trades(self, symbol: str) -> list[dict[str, Any]]:
        return await self._next(self.trades)  # type: ignore[no-any-return]


def ticker(ts: int, bid: float | None, ask: float | None) -> dict[str, Any]:
    return {"symbol": "BTC/USDT:USDT", "timestamp": ts, "bid": bid, "ask": ask}


def trade(ts: int, side: str, amount: float, price: float) -> dict[str, Any]:
    return {"timestamp": ts, "side": side, "amount": amount, "price": price}


def test_live_feed_merges_quotes_and_trades_and_survives_a_dropped_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[int] = []

    def no_backoff(attempt: int, **kw: Any) -> float:
        attempts.append(attempt)
        return 0.0

    monkeypatch.setattr(feeds_live, "backoff_delay", no_backoff)
    quotes: list[tuple[str, float, float]] = []

    async def scenario() -> None:
        client = ScriptedClient()
        resynced = asyncio.Event()
        resyncs = 0

        async def on_reconnect() -> None:
            nonlocal resyncs
            resyncs += 1
            resynced.set()

        feed = LiveFeed(
            client,
            "BTC/USDT:USDT",
            on_quote=lambda symbol, bid, ask: quotes.append((symbol, bid, ask)),
            on_reconnect=on_reconnect,
        )
        assert feed.description == "live:bybit"
        batches = feed.batches()

        async def next_batch() -> list[tuple[int, float, float]]:
            return await asyncio.wait_for(batches.__anext__(), timeout=2)

        try:
            # Before any quote, trades are the price.
            client.trades.put_nowait(
                [trade(1000, "buy", 0.5, 100.0), trade(1001, "sell", 0.2, 99.0)]
            )
            assert await next_batch() == [(1000, 100.0, 0.5), (1001, 99.0, -0.2)]
            # A quote is a tick at its mid; a one-sided one is no tick at all.
            client.tickers.put_nowait(ticker(1002, None, 101.0))
            client.tickers.put_nowait(ticker(1002, 99.0, 101.0))
            assert await next_batch() == [(1002, 100.0, 0.0)]
            assert quotes == [("BTC/USDT:USDT", 99.0, 101.0)]
            # Once quoted, a trade moves the flow only.
            client.trades.put_nowait([trade(1003, "buy", 1.0, 101.0)])
            assert await next_batch() == [(1003, TRADE_ONLY, 1.0)]
            assert feed.reconnects == 0
            # The socket drops; the next quote arrives late, stamped before the last trade.
            client.tickers.put_nowait(network_error("Connection closed by remote server"))
            client.tickers.put_nowait(ticker(990, 100.0, 102.0))
            assert await next_batch() == [(1003, 101.0, 0.0)]  # event time never goes back
            await asyncio.wait_for(resynced.wait(), timeout=2)
            assert feed.reconnects == 1
            assert resyncs == 1
            assert attempts == [0]
            assert "NetworkError" in feed.last_error
            # The trades stream was never down: no reconnect counted for it.
            client.trades.put_nowait([trade(1004, "sell", 0.3, 101.0)])
            assert await next_batch() == [(1004, TRADE_ONLY, -0.3)]
            assert feed.reconnects == 1
        finally:
            await asyncio.wait_for(batches.aclose(), timeout=2)

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))


def test_live_feed_backs_off_longer_after_each_failure_in_a_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[int] = []

    def no_backoff(attempt: int, **kw: Any) -> float:
        attempts.append(attempt)
        return 0.0

    monkeypatch.setattr(feeds_live, "backoff_delay", no_backoff)

    async def scenario() -> LiveFeed:
        client = ScriptedClient()
        feed = LiveFeed(client, "BTC/USDT:USDT")
        batches = feed.batches()
        try:
            for n in range(3):
                client.trades.put_nowait(network_error(f"drop {n}"))
            client.trades.put_nowait([trade(2000, "buy", 0.1, 50.0)])
            batch = await asyncio.wait_for(batches.__anext__(), timeout=2)
            assert batch == [(2000, 50.0, 0.1)]
        finally:
            await asyncio.wait_for(batches.aclose(), timeout=2)
        return feed

    feed = asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert attempts == [0, 1, 2]
    assert feed.reconnects == 1  # one outage, however many attempts it took
    assert feed.last_error == "NetworkError: drop 2"


def test_order_lookups_are_paced_apart_from_orders() -> None:
    """A burst of lookups (fills, positions, balance) never holds an order back."""
    from trading.exchange.ratelimit import LIMITS, QUERY_LIMITS

    for exchange in ("bybit", "binanceusdm", "okx"):
        orders = TokenBucket.for_exchange(exchange)
        queries = TokenBucket.for_exchange(exchange, queries=True)
        assert (orders.rate, orders.burst) == LIMITS[exchange]
        assert (queries.rate, queries.burst) == QUERY_LIMITS[exchange]
        for _ in range(queries.burst + 5):
            queries._tokens -= 1  # spend the queries' bucket dry
        assert queries.wait_time() > 0 and orders.wait_time() == 0


def test_answers_come_as_soon_as_known_each_with_its_index() -> None:
    async def scenario() -> list[tuple[int, str]]:
        gate = asyncio.Event()

        async def slow() -> OrderResult:
            await gate.wait()
            return OrderResult("slow", FILLED)

        async def unknown() -> OrderResult:
            raise OrderOutcomeUnknown("maybe placed")

        async def quick() -> OrderResult:
            return OrderResult("quick", FILLED)

        seen: list[tuple[int, str]] = []
        async for i, outcome in as_answered([slow(), unknown(), quick()]):
            told = outcome.client_order_id if isinstance(outcome, OrderResult) else repr(outcome)
            seen.append((i, told))
            if len(seen) == 2:
                gate.set()  # the slow one answers only once the others have come
        return seen

    assert asyncio.run(scenario()) == [
        (1, "OrderOutcomeUnknown('maybe placed')"),
        (2, "quick"),
        (0, "slow"),
    ]
