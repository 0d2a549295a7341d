"""The ccxt adapter against the local Binance-compatible server (signatures verified).

Real ccxt code (``ccxt.async_support.binance``) talks HTTP to
:mod:`tests.servers.binance_trading`, which checks ``X-MBX-APIKEY`` and the HMAC-SHA256
signature of every signed request exactly as Binance does.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

import aiohttp
import pytest

from tapeflow.config.execution import BreakerSettings, RetrySettings
from tapeflow.execution.ccxt_adapter import CcxtExchange, Credentials
from tapeflow.execution.errors import (
    CircuitOpenError,
    CredentialsMissing,
    OrderRejected,
    OrderStatusUnknown,
    TransientExchangeError,
)
from tapeflow.model.orders import OrderRequest
from tapeflow.model.symbols import SymbolKey
from tests.execution.support import real_ticks
from tests.servers.binance_rest import STATS_KEY, make_app, running_server
from tests.servers.binance_trading import USDM_FEE, TradingState, add_trading_routes

SPOT = SymbolKey("binance", "spot", "BTCUSDT")
USDM = SymbolKey("binance", "usdm", "BTCUSDT")
CID = "tf-0123456789abcdef0123-en"
FAST_RETRY = RetrySettings(attempts=4, initial_wait_s=0.01, max_wait_s=0.05)


@dataclass
class Venue:
    url: str
    state: TradingState
    app: object

    def adapter(
        self,
        market: str,
        *,
        secret: str | None = None,
        timeout_ms: int = 3000,
        retry: RetrySettings = FAST_RETRY,
        breaker: BreakerSettings | None = None,
    ) -> CcxtExchange:
        creds = Credentials(self.state.api_key, secret or self.state.secret)
        return CcxtExchange.create(
            "binance",
            market,
            credentials=creds,
            api_base_url=self.url,
            timeout_ms=timeout_ms,
            retry=retry,
            breaker=breaker,
        )


@pytest.fixture
async def venue() -> AsyncIterator[Venue]:
    state = TradingState()
    # current prices: real trades from the recordings
    state.set_price("spot", "BTCUSDT", real_ticks("spot", "BTCUSDT", "20240809")[0].price)
    state.set_price("usdm", "BTCUSDT", real_ticks("usdm", "BTCUSDT", "20240808")[0].price)
    state.set_price("usdm", "ETHUSDT", real_ticks("usdm", "ETHUSDT", "20240808")[0].price)
    app = make_app(symbols={"spot": ["BTCUSDT"], "usdm": ["BTCUSDT", "ETHUSDT"]})
    add_trading_routes(app, state)
    async with running_server(app) as url:
        yield Venue(url, state, app)


@pytest.fixture
async def spot(venue) -> AsyncIterator[CcxtExchange]:
    ex = venue.adapter("spot")
    await ex.load_markets()
    yield ex
    await ex.close()


@pytest.fixture
async def usdm(venue) -> AsyncIterator[CcxtExchange]:
    ex = venue.adapter("usdm")
    await ex.load_markets()
    yield ex
    await ex.close()


def req(key, cid, side, qty, kind="market", **kw) -> OrderRequest:
    return OrderRequest(key, cid, side, kind, Decimal(qty), **kw)


# -- markets ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("market", "path"), [("spot", "/api/v3/exchangeInfo"), ("usdm", "/fapi/v1/exchangeInfo")]
)
async def test_load_markets_makes_one_public_call(venue, market, path):
    ex = venue.adapter(market)
    try:
        rules = await ex.load_markets()
    finally:
        await ex.close()
    assert dict(venue.app[STATS_KEY]) == {path: 1}
    assert venue.state.requests == []  # nothing signed
    btc = rules[SymbolKey("binance", market, "BTCUSDT")]
    if market == "spot":
        assert (btc.amount_step, btc.price_tick, btc.min_notional) == (
            Decimal("0.00001"),
            Decimal("0.01"),
            Decimal(5),
        )
        assert not btc.contract and btc.ccxt_symbol == "BTC/USDT"
    else:
        assert (btc.amount_step, btc.price_tick, btc.min_notional) == (
            Decimal("0.001"),
            Decimal("0.1"),
            Decimal(100),
        )
        assert btc.contract and btc.ccxt_symbol == "BTC/USDT:USDT"
        assert len(rules) == 2


# -- spot orders -----------------------------------------------------------------------------


async def test_spot_every_order_type_fetch_cancel_and_balance(spot, venue):
    st = venue.state
    price = st.prices[("spot", "BTCUSDT")]
    buy = await spot.place_order(req(SPOT, CID, "buy", "0.01000"))
    assert buy.status == "filled" and buy.filled == Decimal("0.01")
    assert buy.average_price == price and buy.exchange_order_id
    # Binance charges the buyer 0.1 % in BTC; the adapter converts it to USDT exactly
    assert buy.fee == Decimal("0.00001") * price
    limit = await spot.place_order(
        req(SPOT, "tf-0123456789abcdef0123-ot", "buy", "0.001", "limit", price=Decimal("50000.00"))
    )
    stop = await spot.place_order(
        req(
            SPOT,
            "tf-0123456789abcdef0123-sl",
            "sell",
            "0.005",
            "stop_market",
            stop_price=Decimal("60000"),
        )
    )
    stop_lim = await spot.place_order(
        req(
            SPOT,
            "tf-0123456789abcdef0123-sl1",
            "sell",
            "0.004",
            "stop_limit",
            price=Decimal("59900"),
            stop_price=Decimal("60000"),
        )
    )
    sent = {
        p["newClientOrderId"]: p
        for m, path, p in st.requests
        if m == "POST" and path == "/api/v3/order"
    }
    assert sent[CID]["type"] == "MARKET" and sent[CID]["quantity"] == "0.01"
    assert (
        sent[limit.client_order_id]["type"],
        sent[limit.client_order_id]["price"],
        sent[limit.client_order_id]["timeInForce"],
    ) == ("LIMIT", "50000", "GTC")
    assert (sent[stop.client_order_id]["type"], sent[stop.client_order_id]["stopPrice"]) == (
        "STOP_LOSS",
        "60000",
    )
    assert sent[stop_lim.client_order_id]["type"] == "STOP_LOSS_LIMIT"
    assert [limit.status, stop.status, stop_lim.status] == ["open"] * 3
    assert stop.order_type == "stop_market" and stop.stop_price == Decimal(60000)

    got = await spot.fetch_order(SPOT, CID, order_type="market")
    assert (got.status, got.filled, got.average_price) == ("filled", Decimal("0.01"), price)
    # the order query carries no commission: it comes from the order's trades, the
    # buyer's 0.1 % in BTC valued at the fill price
    assert (got.fee, got.fee_asset) == (Decimal("0.01") * Decimal("0.001") * price, "USDT")
    [trades] = [q for m, path, q in st.requests if path == "/api/v3/myTrades"]
    assert (trades["symbol"], trades["orderId"]) == ("BTCUSDT", got.exchange_order_id)
    assert await spot.fetch_order(SPOT, "tf-ffffffffffffffffffff-en") is None
    opened = {o.client_order_id for o in await spot.fetch_open_orders(SPOT)}
    assert opened == {limit.client_order_id, stop.client_order_id, stop_lim.client_order_id}
    for o in (limit, stop, stop_lim):
        assert (
            await spot.cancel_order(SPOT, o.client_order_id, order_type=o.order_type)
        ).status == "canceled"
    assert await spot.fetch_open_orders() == []
    bal = await spot.fetch_balance()
    assert bal["BTC"].total == Decimal("0.01") - Decimal("0.00001")
    assert bal["USDT"].total == Decimal(10_000) - Decimal("0.01") * price
    assert await spot.fetch_positions() == []


async def test_refused_before_sending(spot, venue):
    with pytest.raises(OrderRejected, match="not a multiple of the step"):
        await spot.place_order(req(SPOT, CID, "buy", "0.000015"))
    with pytest.raises(OrderRejected, match="notional .* below the minimum"):
        await spot.place_order(req(SPOT, CID, "buy", "0.00001", "limit", price=Decimal(50_000)))
    with pytest.raises(OrderRejected, match="unknown market"):
        await spot.place_order(req(SymbolKey("binance", "spot", "XRPUSDT"), CID, "buy", "1"))
    assert venue.state.requests == []


async def test_exchange_rejections_are_permanent_and_not_retried(spot, venue):
    st = venue.state
    with pytest.raises(OrderRejected) as err:
        await spot.place_order(req(SPOT, CID, "buy", "1.00000"))  # 61k USDT > 10k balance
    assert err.value.kind == "insufficient_funds"
    assert "Account has insufficient balance for requested action." in str(err.value)
    assert st.count("POST", "/api/v3/order") == 1
    with pytest.raises(OrderRejected) as err:  # market order below NOTIONAL
        await spot.place_order(req(SPOT, CID, "buy", "0.00001"))
    assert err.value.code == -1013
    assert st.count("POST", "/api/v3/order") == 2
    assert spot.breaker.state == "closed" and spot.breaker.consecutive_failures == 0


# -- USD-M orders ----------------------------------------------------------------------------


async def test_usdm_every_order_type_positions_and_balance(usdm, venue):
    st = venue.state
    price = st.prices[("usdm", "BTCUSDT")]
    await usdm.set_leverage(USDM, Decimal(5))
    assert st.leverage["BTCUSDT"] == 5
    entry = await usdm.place_order(req(USDM, CID, "buy", "0.010"))
    assert (entry.status, entry.filled, entry.average_price) == ("filled", Decimal("0.01"), price)
    [pos] = await usdm.fetch_positions()
    assert (pos.key, pos.direction, pos.quantity, pos.entry_price) == (
        USDM,
        "long",
        Decimal("0.01"),
        price,
    )
    stop = await usdm.place_order(
        req(
            USDM,
            "tf-0123456789abcdef0123-sl",
            "sell",
            "0.010",
            "stop_market",
            stop_price=Decimal("60000.0"),
            reduce_only=True,
        )
    )
    stop_lim = await usdm.place_order(
        req(
            USDM,
            "tf-0123456789abcdef0123-sl1",
            "sell",
            "0.010",
            "stop_limit",
            price=Decimal("59000.0"),
            stop_price=Decimal("59100.0"),
            reduce_only=True,
        )
    )
    limit = await usdm.place_order(
        req(USDM, "tf-0123456789abcdef0123-ot", "buy", "0.010", "limit", price=Decimal("55000.0"))
    )
    algo = {
        p["clientAlgoId"]: p
        for m, path, p in st.requests
        if m == "POST" and path == "/fapi/v1/algoOrder"
    }
    assert algo[stop.client_order_id]["type"] == "STOP_MARKET"
    assert algo[stop.client_order_id]["triggerPrice"] == "60000"
    assert algo[stop.client_order_id]["reduceOnly"] == "true"
    assert algo[stop_lim.client_order_id]["type"] == "STOP"
    assert (stop.status, stop.order_type) == ("open", "stop_market")
    assert {o.client_order_id for o in await usdm.fetch_open_orders()} == {
        stop.client_order_id,
        stop_lim.client_order_id,
        limit.client_order_id,
    }
    # lookups find conditional orders by client id, with or without the type
    assert (await usdm.fetch_order(USDM, stop.client_order_id)).stop_price == 60000
    assert (
        await usdm.fetch_order(USDM, stop_lim.client_order_id, order_type="stop_limit")
    ).price == 59000
    for o in (stop, stop_lim, limit):
        done = await usdm.cancel_order(USDM, o.client_order_id, order_type=o.order_type)
        assert done.status == "canceled"
    close = await usdm.place_order(
        req(USDM, "tf-0123456789abcdef0123-ex", "sell", "0.010", reduce_only=True)
    )
    assert close.status == "filled"
    assert await usdm.fetch_positions() == []
    bal = (await usdm.fetch_balance())["USDT"]
    fees = 2 * Decimal("0.01") * price * Decimal("0.0004")
    assert bal.total == Decimal(10_000) - fees


# -- signatures and secrets ------------------------------------------------------------------


async def test_bad_signature_is_refused_and_the_error_is_scrubbed(venue):
    ex = venue.adapter("spot", secret="wrong-secret-value-xyz")
    try:
        await ex.load_markets()
        with pytest.raises(OrderRejected) as err:
            await ex.fetch_balance()
    finally:
        await ex.close()
    assert (err.value.kind, err.value.code) == ("auth", -1022)
    text = str(err.value)
    assert "Signature for this request is not valid." in text
    assert venue.state.api_key not in text and "wrong-secret-value-xyz" not in text
    assert venue.state.requests == []  # refused before execution


async def test_server_checks_signatures_exactly(venue):
    st = venue.state
    query = urlencode({"timestamp": int(time.time() * 1000), "recvWindow": 5000})
    good = hmac.new(st.secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    async with aiohttp.ClientSession() as http:

        async def get(sig, key=st.api_key):
            headers = {"X-MBX-APIKEY": key} if key else {}
            async with http.get(
                f"{venue.url}/api/v3/account?{query}&signature={sig}", headers=headers
            ) as r:
                return r.status, await r.json()

        assert (await get(good))[0] == 200
        assert await get(good[:-1] + ("0" if good[-1] != "0" else "1")) == (
            400,
            {"code": -1022, "msg": "Signature for this request is not valid."},
        )
        assert (await get(good, key="other"))[1]["code"] == -2015
        assert (await get(good, key=None))[1]["code"] == -2014


async def test_timeouts_and_transport_errors_are_scrubbed(venue):
    venue.state.inject("GET", "/api/v3/account", "hang", seconds=2, times=10)
    ex = venue.adapter("spot", timeout_ms=300, retry=RetrySettings(attempts=2, initial_wait_s=0))
    try:
        await ex.load_markets()
        with pytest.raises(TransientExchangeError) as err:
            await ex.fetch_balance()
    finally:
        await ex.close()
    text = str(err.value)
    assert err.value.kind == "timeout"
    assert "signature=***" in text and venue.state.secret not in text
    assert err.value.__cause__ is None and err.value.__context__ is None


def test_credentials_come_from_the_environment_only():
    env = {"BINANCE_API_KEY": "k" * 16, "BINANCE_API_SECRET": "s" * 16}
    creds = Credentials.from_env("binance", env)
    assert creds.api_key == "k" * 16
    assert "k" * 16 not in repr(creds) and "s" * 16 not in repr(creds)
    with pytest.raises(CredentialsMissing, match="BINANCE_API_KEY and BINANCE_API_SECRET"):
        CcxtExchange.create("binance", "usdm", credentials=Credentials.from_env("binance", {}))
    with pytest.raises(CredentialsMissing, match="HYPERLIQUID_WALLET_ADDRESS"):
        CcxtExchange.create("hyperliquid", "perp", credentials=Credentials())


def test_other_venues_are_a_constructor_choice():
    ex = CcxtExchange.create("bybit", "linear", require_credentials=False)
    assert ex.client.id == "bybit" and ex.client.options["defaultType"] == "swap"
    assert ex.client.options["fetchMarkets"]["types"] == ["linear"]
    with pytest.raises(ValueError, match="unknown venue"):
        CcxtExchange.create("kraken", "spot", require_credentials=False)


# -- retries and the circuit breaker ---------------------------------------------------------


async def test_5xx_is_retried_with_backoff(spot, venue):
    venue.state.inject("GET", "/api/v3/account", "status", status=503, times=2)
    bal = await spot.fetch_balance()
    assert bal["USDT"].total == Decimal(10_000)
    assert venue.state.count("GET", "/api/v3/account") == 1  # the two 503s never executed
    assert spot.breaker.state == "closed"


async def test_fees_missing_from_order_answers_come_from_the_orders_trades(usdm, venue):
    """USD-M order and algo-order answers carry no commission: the adapter fetches the
    order's trades (``GET /fapi/v1/userTrades``, a 503 there retried) and books exactly what
    the exchange charged; a conditional order's trades are its actual order's."""
    st = venue.state
    price = st.prices[("usdm", "BTCUSDT")]
    st.inject("GET", "/fapi/v1/userTrades", "status", status=503)
    entry = await usdm.place_order(req(USDM, CID, "buy", "0.010"))
    [charged] = st.orders_with(CID)
    assert (entry.fee, entry.fee_asset) == (Decimal("0.010") * price * USDM_FEE, "USDT")
    assert entry.fee == charged.commission and st.count("GET", "/fapi/v1/userTrades") == 1
    stop_cid = "tf-0123456789abcdef0123-sl"
    stop_px = price - 100
    await usdm.place_order(
        req(USDM, stop_cid, "sell", "0.010", "stop_market", stop_price=stop_px, reduce_only=True)
    )
    st.set_price("usdm", "BTCUSDT", stop_px - Decimal("5.5"))  # through the stop: it fills
    [algo] = st.orders_with(stop_cid)
    filled = await usdm.fetch_order(USDM, stop_cid, order_type="stop_market")
    assert (filled.status, filled.average_price) == ("filled", stop_px - Decimal("5.5"))
    assert filled.fee == algo.commission == Decimal("0.010") * (stop_px - Decimal("5.5")) * USDM_FEE
    asked = [q["orderId"] for m, path, q in st.requests if path == "/fapi/v1/userTrades"]
    assert asked == [str(charged.order_id), str(algo.actual_order_id)]
    # a fill whose answer carries its fees (spot's create answer) needs no trades lookup
    assert st.count("GET", "/api/v3/myTrades") == 0


async def test_an_order_placed_while_its_trades_fail_is_booked_without_the_fee(venue, caplog):
    st = venue.state
    st.inject("GET", "/fapi/v1/userTrades", "status", status=503, times=50)
    ex = venue.adapter("usdm")
    try:
        await ex.load_markets()
        entry = await ex.place_order(req(USDM, CID, "buy", "0.010"))
    finally:
        await ex.close()
    assert (entry.status, entry.fee) == ("filled", None)  # left as recorded, not lost
    assert len(st.orders_with(CID)) == 1
    assert f"fees of order {CID} unknown" in caplog.text


async def test_429_honours_retry_after(spot, venue):
    venue.state.inject("GET", "/api/v3/account", "status", status=429, retry_after=1)
    started = time.monotonic()
    await spot.fetch_balance()
    assert time.monotonic() - started >= 1.0  # waited what the server asked
    venue.state.inject("GET", "/api/v3/account", "status", status=418, times=1)
    await spot.fetch_balance()  # the IP-ban code is retried as a rate limit too


async def test_breaker_opens_refuses_then_half_opens_and_closes(venue):
    ex = venue.adapter(
        "spot",
        retry=RetrySettings(attempts=5, initial_wait_s=0.01, max_wait_s=0.01),
        breaker=BreakerSettings(failure_threshold=3, cooldown_s=0.5),
    )
    changes = []
    ex.breaker.listeners.append(lambda old, new, why: changes.append((old, new)))
    try:
        await ex.load_markets()
        venue.state.inject("GET", "/api/v3/account", "status", status=502, times=100)
        with pytest.raises(CircuitOpenError):
            await ex.fetch_balance()  # 3 failures, then the breaker refuses the 4th attempt
        fault = venue.state.faults[0]
        assert 100 - fault.times == 3
        with pytest.raises(CircuitOpenError):
            await ex.fetch_balance()  # refused without a request
        assert 100 - fault.times == 3
        time_open = time.monotonic()
        while time.monotonic() - time_open < 0.6:
            await __import__("asyncio").sleep(0.05)
        with pytest.raises(CircuitOpenError):
            await ex.fetch_balance()  # half-open trial fails -> open again
        assert 100 - fault.times == 4
        fault.times = 0
        await __import__("asyncio").sleep(0.6)
        assert ex.breaker.state == "half_open"
        await ex.fetch_balance()  # trial succeeds -> closed
        assert ex.breaker.state == "closed"
    finally:
        await ex.close()
    assert changes == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]


# -- never two orders for one decision -------------------------------------------------------


@pytest.mark.parametrize("market", ["spot", "usdm"])
@pytest.mark.parametrize("fault", ["hang_after", "status_after"])
async def test_no_duplicate_when_the_answer_is_lost(venue, market, fault):
    """The server executes the order but the answer never arrives (timeout) or is a 5xx:
    the adapter finds the order by client order id instead of sending it again."""
    st = venue.state
    path = "/api/v3/order" if market == "spot" else "/fapi/v1/order"
    st.inject("POST", path, fault, seconds=3, status=503)
    ex = venue.adapter(market, timeout_ms=800)
    key = SPOT if market == "spot" else USDM
    try:
        await ex.load_markets()
        got = await ex.place_order(req(key, CID, "buy", "0.01"))
    finally:
        await ex.close()
    assert got.status == "filled" and got.client_order_id == CID
    assert len(st.orders_with(CID)) == 1
    assert st.count("POST", path) == 1
    assert st.count("GET", path) == 1  # the lookup by origClientOrderId
    lookup = next(p for m, pth, p in st.requests if m == "GET" and pth == path)
    assert lookup["origClientOrderId"] == CID


async def test_a_request_that_never_arrived_is_sent_again_once(venue, spot):
    st = venue.state
    st.inject("POST", "/api/v3/order", "status", status=503)  # refused before execution
    got = await spot.place_order(req(SPOT, CID, "buy", "0.01"))
    assert got.status == "filled"
    assert len(st.orders_with(CID)) == 1
    assert st.count("GET", "/api/v3/order") == 1  # looked up (not found) before resending


async def test_outcome_unknown_when_lookups_fail_too(venue):
    st = venue.state
    st.inject("POST", "/api/v3/order", "hang_after", seconds=2)
    st.inject("GET", "/api/v3/order", "status", status=503, times=50)
    ex = venue.adapter(
        "spot",
        timeout_ms=500,
        retry=RetrySettings(attempts=3, initial_wait_s=0.01, max_wait_s=0.01),
    )
    try:
        await ex.load_markets()
        with pytest.raises(OrderStatusUnknown) as err:
            await ex.place_order(req(SPOT, CID, "buy", "0.01"))
        assert err.value.client_order_id == CID
        assert len(st.orders_with(CID)) == 1
        st.faults.clear()
        found = await ex.fetch_order(SPOT, CID)  # the later lookup resolves it
        assert found.status == "filled"
    finally:
        await ex.close()
    assert st.count("POST", "/api/v3/order") == 1


async def test_duplicate_id_of_an_open_order_returns_that_order(spot, venue):
    limit = req(SPOT, CID, "buy", "0.001", "limit", price=Decimal("50000"))
    first = await spot.place_order(limit)
    again = await spot.place_order(limit)  # e.g. a restarted process resending
    assert again.exchange_order_id == first.exchange_order_id and again.status == "open"
    assert len(venue.state.orders_with(CID)) == 1
    assert venue.state.count("POST", "/api/v3/order") == 2  # the second was refused: -2010


async def test_breaker_open_before_sending_means_not_sent(venue):
    ex = venue.adapter("spot", breaker=BreakerSettings(failure_threshold=1, cooldown_s=30))
    try:
        await ex.load_markets()
        ex.breaker.record_failure("test")
        with pytest.raises(CircuitOpenError):
            await ex.place_order(req(SPOT, CID, "buy", "0.01"))
    finally:
        await ex.close()
    assert venue.state.orders == []


# -- the engine on the live adapter ----------------------------------------------------------


async def test_engine_trades_live_through_the_adapter(venue, store):
    """Signal -> chain -> signed market order -> position -> trailing stop -> exit, all
    against the local exchange; the exit price is the server's price when the stop fired."""
    from tapeflow.config.execution import ExecutionSettings, RiskSettings
    from tapeflow.execution.engine import ExecutionEngine
    from tests.execution.support import signal

    st = venue.state
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    ex = venue.adapter("usdm")
    settings = ExecutionSettings(
        mode="live",
        risk_check_interval_s=3600,
        risk=RiskSettings(leverage=Decimal(4), trailing_distance_pct=Decimal("0.05")),
    )
    engine = ExecutionEngine(settings, ex, store)
    await engine.start()
    try:
        p = ticks[0].price
        sig = signal(USDM, "long", p, p - 300)
        res = await engine.on_signal(sig)
        assert res.accepted and res.entry_order.status == "filled"
        assert st.leverage["BTCUSDT"] == 4
        pos = engine.book.get(sig.signal_id)
        assert pos.status == "open" and pos.entry_price == p
        assert engine.stops.get(sig.signal_id).stop_price == p * Decimal("0.9995")
        for t in ticks[1:]:
            st.set_price("usdm", "BTCUSDT", t.price)  # the exchange trades at the tape
            await engine.on_tick(t)
            if engine.book.get(sig.signal_id) is None:
                break
        closed = store.get_position(sig.signal_id)
        assert closed.status == "closed" and closed.exit_price == t.price
        assert closed.close_reason.startswith("trailing stop")
        # USD-M order answers carry no commission: both fees come from the orders' trades,
        # 0.04 % of each notional
        fees = pos.quantity * (p + t.price) * Decimal("0.0004")
        assert closed.fees == fees
        assert closed.realized_pnl == (t.price - p) * pos.quantity - fees
        assert len(st.orders_with(f"tf-{sig.signal_id}-en")) == 1
        assert len(st.orders_with(f"tf-{sig.signal_id}-ex")) == 1
        assert await ex.fetch_positions() == []
    finally:
        await engine.stop()


async def test_exchange_breaker_degrades_health_and_is_published(venue, store):
    from tapeflow.bus import EventBus
    from tapeflow.config.execution import ExecutionSettings
    from tapeflow.execution.engine import ExecutionEngine
    from tapeflow.model.events import CircuitBreakerTripped
    from tests.execution.support import signal

    bus = EventBus()
    got = []
    bus.subscribe(CircuitBreakerTripped, got.append)
    await bus.start()
    ex = venue.adapter(
        "usdm",
        retry=RetrySettings(attempts=2, initial_wait_s=0.01),
        breaker=BreakerSettings(failure_threshold=2, cooldown_s=60),
    )
    engine = ExecutionEngine(ExecutionSettings(mode="live"), ex, store, bus=bus)
    await engine.start()
    try:
        venue.state.inject("GET", "/fapi/v3/account", "status", status=503, times=10)
        with pytest.raises(TransientExchangeError):
            await engine.equity()
        assert ex.breaker.state == "open"
        assert engine.risk.degraded["exchange"].startswith("circuit breaker open")
        p = real_ticks("usdm", "BTCUSDT", "20240808")[0].price
        res = await engine.on_signal(signal(USDM, "long", p, p - 300))
        assert res.refused_by == "risk" and "exchange: circuit breaker open" in res.reason
    finally:
        await engine.stop()
        await bus.stop()
    assert [e.scope for e in got] == ["exchange binance/usdm"]


async def test_factory_builds_paper_on_real_rules_or_live(venue, store, monkeypatch):
    from tapeflow.config.execution import ExecutionSettings
    from tapeflow.execution.factory import create_exchange
    from tapeflow.execution.paper import PaperExchange

    monkeypatch.delenv("BINANCE_API_KEY", raising=False)
    paper = await create_exchange(ExecutionSettings(), store, api_base_url=venue.url)
    assert isinstance(paper, PaperExchange) and paper.name == "binance/usdm"
    assert paper.market(USDM).min_notional == Decimal(100)  # the venue's own rules
    assert dict(venue.app[STATS_KEY]) == {"/fapi/v1/exchangeInfo": 1}
    with pytest.raises(CredentialsMissing):
        await create_exchange(ExecutionSettings(mode="live"), store)
    monkeypatch.setenv("BINANCE_API_KEY", venue.state.api_key)
    monkeypatch.setenv("BINANCE_API_SECRET", venue.state.secret)
    live = await create_exchange(
        ExecutionSettings(mode="live", market="spot"), store, api_base_url=venue.url
    )
    try:
        await live.load_markets()
        assert (await live.fetch_balance())["USDT"].total == Decimal(10_000)
    finally:
        await live.close()


async def test_spot_exit_sells_what_is_held_after_the_base_asset_fee(venue, store):
    """Binance charges a spot buyer's commission in the bought asset: 0.01 BTC bought
    leaves 0.00999 BTC. The exit sells that, and the realized P&L equals the USDT the round
    trip really made."""
    from tapeflow.config.execution import ExecutionSettings, RiskSettings
    from tapeflow.execution.engine import ExecutionEngine
    from tests.execution.support import signal

    st = venue.state
    ticks = real_ticks("spot", "BTCUSDT", "20240809")
    p, q = ticks[0].price, ticks[3000].price
    ex = venue.adapter("spot")
    settings = ExecutionSettings(
        mode="live",
        market="spot",
        risk_check_interval_s=3600,
        risk=RiskSettings(max_position_pct=Decimal("6.17")),  # 617 USDT -> 0.01000 BTC
    )
    engine = ExecutionEngine(settings, ex, store)
    await engine.start()
    try:
        sig = signal(SPOT, "long", p, p - 300)
        res = await engine.on_signal(sig)
        assert res.accepted and res.entry_order.quantity == Decimal("0.01")
        st.set_price("spot", "BTCUSDT", q)
        [exit_order] = await engine.close_all("test")
        assert exit_order.quantity == Decimal("0.00999") and exit_order.status == "filled"
    finally:
        await engine.stop()
    closed = store.get_position(sig.signal_id)
    usdt_made = st.spot_balances["USDT"] - Decimal(10_000)
    assert usdt_made == q * Decimal("0.00999") * Decimal("0.999") - p * Decimal("0.01")
    assert closed.realized_pnl == usdt_made
    assert st.spot_balances["BTC"] == 0
