"""Fills of resting stops learned from Binance's user-data stream: the engine over the real
ccxt adapter and the real stream client against the local Binance server, which holds the
stop, triggers it at a test-driven price and pushes the order events over its websocket
(:mod:`tests.servers.binance_user_stream`). The poll interval is an hour and no trade
reaches the engine after the entry, so only the stream (or the re-sync after a reconnect)
can explain a booking."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from tapeflow.config.execution import (
    ExecutionSettings,
    RestingStopSettings,
    RetrySettings,
    RiskSettings,
)
from tapeflow.execution.engine import ExecutionEngine
from tapeflow.execution.user_stream import mask
from tapeflow.venues.binance.user_stream import order_event
from tests.execution.support import real_ticks, signal
from tests.execution.test_ccxt_adapter import SPOT, USDM, Venue
from tests.servers.binance_rest import make_app, running_server
from tests.servers.binance_trading import TradingState, add_trading_routes
from tests.servers.binance_user_stream import UserStreams, add_user_stream


class StreamVenue(Venue):
    streams: UserStreams


@pytest.fixture
async def venue() -> AsyncIterator[StreamVenue]:
    state = TradingState()
    state.set_price("spot", "BTCUSDT", real_ticks("spot", "BTCUSDT", "20240809")[0].price)
    state.set_price("usdm", "BTCUSDT", real_ticks("usdm", "BTCUSDT", "20240808")[0].price)
    app = make_app(symbols={"spot": ["BTCUSDT"], "usdm": ["BTCUSDT"]})
    add_trading_routes(app, state)
    streams = add_user_stream(app, state)
    async with running_server(app) as url:
        v = StreamVenue(url, state, app)
        v.streams = streams
        yield v


def settings(market: str, *, keepalive_s: float = 1800.0) -> ExecutionSettings:
    return ExecutionSettings(
        mode="live",
        market=market,
        risk_check_interval_s=3600,
        retry=RetrySettings(attempts=3, initial_wait_s=0.01, max_wait_s=0.05),
        risk=RiskSettings(leverage=Decimal(4), trailing_distance_pct=Decimal("0.05")),
        # polling an hour apart: a booking within the test comes from the stream
        resting_stops=RestingStopSettings(
            poll_interval_s=3600, stream_poll_interval_s=3600, keepalive_interval_s=keepalive_s
        ),
    )


async def until(cond: Callable[[], bool], what: str) -> None:
    """Yield to the event loop until ``cond()`` holds (bounded, so a failure ends)."""
    for _ in range(2000):
        if cond():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


async def open_with_stream(venue, store, market: str, key, **kw):
    ex = venue.adapter(market)
    engine = ExecutionEngine(settings(market, **kw), ex, store)
    await engine.start()
    stream = engine.start_user_stream(venue.url)
    assert stream is not None and stream.url == "ws" + venue.url.removeprefix("http")
    await until(lambda: stream.connected, "stream connected")
    p = venue.state.prices[(market, "BTCUSDT")]
    sig = signal(key, "long", p, p - 300)
    assert (await engine.on_signal(sig)).accepted
    [held] = [o for o in venue.state.orders if o.stop_price and o.status == "NEW"]
    return engine, stream, sig.signal_id, held


async def test_usdm_stop_fill_is_booked_from_the_stream_event_and_a_repeat_books_nothing(
    venue, store
):
    st = venue.state
    engine, stream, pid, held = await open_with_stream(venue, store, "usdm", USDM)
    try:
        assert held.algo and held.client_order_id == f"tf-{pid}-sl"
        lookups = st.count("GET", "/fapi/v1/algoOrder")
        through = held.stop_price - 25
        st.set_price("usdm", "BTCUSDT", through)  # the exchange triggers and fills the stop
        assert held.status == "FINISHED"
        await until(lambda: store.get_position(pid).status == "closed", "stop booked")
        closed = store.get_position(pid)
        assert closed.exit_price == through
        assert closed.close_reason == f"resting stop {held.stop_price} filled at {through}"
        assert engine.book.get(pid) is None and st.orders_with(f"tf-{pid}-ex") == []
        # the event path: the ALGO_UPDATE FINISHED of our stop, then one lookup by its id
        finished = [e for e in venue.streams.sent if e["e"] == "ALGO_UPDATE"][-1]["o"]
        assert (finished["caid"], finished["X"], finished["aq"]) == (
            held.client_order_id,
            "FINISHED",
            str(held.quantity),
        )
        assert st.count("GET", "/fapi/v1/algoOrder") == lookups + 1
        pnl, events = closed.realized_pnl, stream.events
        # the same event again (Binance may repeat one): no lookup, nothing booked
        venue.streams.push(held)
        await until(lambda: stream.events == events + 1, "repeat delivered")
        assert st.count("GET", "/fapi/v1/algoOrder") == lookups + 1
        assert store.get_position(pid).realized_pnl == pnl
        assert await engine.lifecycle.settle_resting_stop(held.client_order_id) is None
    finally:
        await engine.stop()
    assert not stream.connected


async def test_spot_stop_loss_limit_fill_is_booked_from_the_execution_report(venue, store):
    st = venue.state
    engine, _, pid, held = await open_with_stream(venue, store, "spot", SPOT)
    try:
        assert (held.type, held.client_order_id) == ("STOP_LOSS_LIMIT", f"tf-{pid}-sl")
        through = held.stop_price - 10  # through the stop, above its limit
        st.set_price("spot", "BTCUSDT", through)
        assert held.status == "FILLED"
        await until(lambda: store.get_position(pid).status == "closed", "stop booked")
        closed = store.get_position(pid)
        assert closed.exit_price == through and closed.close_reason.startswith("resting stop")
        report = [e for e in venue.streams.sent if e["c"] == held.client_order_id][-1]
        assert (report["e"], report["X"], report["o"]) == (
            "executionReport",
            "FILLED",
            "STOP_LOSS_LIMIT",
        )
        assert st.orders_with(f"tf-{pid}-ex") == []
    finally:
        await engine.stop()


async def test_a_dropped_stream_reconnects_and_resyncs_a_fill_missed_meanwhile(venue, store):
    st = venue.state
    engine, stream, pid, held = await open_with_stream(venue, store, "usdm", USDM)
    try:
        venue.streams.drop()  # the connection ends ...
        through = held.stop_price - 25
        st.set_price("usdm", "BTCUSDT", through)  # ... and the stop fills before it is back
        assert held.status == "FINISHED"
        assert not [e for e in venue.streams.sent if e["o"].get("X") == "FINISHED"]
        await until(lambda: store.get_position(pid).status == "closed", "booked by re-sync")
        assert (stream.connects, venue.streams.connections) == (2, 2)
        assert st.count("POST", "/fapi/v1/listenKey") == 2
        closed = store.get_position(pid)
        assert closed.exit_price == through
        # both fees from the orders' trades (USD-M answers carry none): 0.04 % per notional
        fees = closed.quantity * (closed.entry_price + through) * Decimal("0.0004")
        assert closed.fees == fees == sum(o.commission for o in st.orders if o.executed)
        assert closed.realized_pnl == (through - closed.entry_price) * closed.quantity - fees
        assert st.orders_with(f"tf-{pid}-ex") == []
        assert await engine.lifecycle.poll_resting_stops() == []  # booked once
    finally:
        await engine.stop()


async def test_keepalive_puts_arrive_with_the_listen_key_which_is_never_logged(
    venue, store, caplog
):
    caplog.set_level(logging.INFO)  # (ccxt's own DEBUG lines print request bodies and headers)
    engine = ExecutionEngine(settings("spot", keepalive_s=0.02), venue.adapter("spot"), store)
    await engine.start()
    stream = engine.start_user_stream(venue.url)
    try:
        await until(lambda: venue.streams.keepalives("spot") >= 3, "three keepalives")
        [key] = venue.streams.keys
        puts = [p for m, path, p in venue.state.requests if m == "PUT"]
        assert puts[:3] == [{"listenKey": key}] * 3
        assert stream.connects == 1  # kept alive, never reconnected
    finally:
        await engine.stop()
    assert f"listen key {mask(key)}" in caplog.text and key not in caplog.text


async def test_paper_engines_and_a_disabled_setting_run_no_stream(venue, store):
    paper = ExecutionEngine(ExecutionSettings(mode="paper", market="usdm"), None, store)
    assert paper.start_user_stream(venue.url) is None
    base = settings("usdm")
    off = base.model_copy(
        update={"resting_stops": base.resting_stops.model_copy(update={"user_stream": False})}
    )
    engine = ExecutionEngine(off, venue.adapter("usdm"), store)
    try:
        assert engine.start_user_stream(venue.url) is None
    finally:
        await engine.exchange.close()


@pytest.mark.parametrize(
    ("raw", "event"),
    [
        ('{"e":"executionReport","c":"tf-a-sl","C":"","X":"FILLED"}', ("tf-a-sl", "FILLED")),
        (
            '{"e":"executionReport","c":"web_1","C":"tf-a-sl","X":"CANCELED"}',
            ("tf-a-sl", "CANCELED"),
        ),
        ('{"e":"ORDER_TRADE_UPDATE","o":{"c":"tf-a-ex","X":"EXPIRED"}}', ("tf-a-ex", "EXPIRED")),
        ('{"e":"ALGO_UPDATE","o":{"caid":"tf-a-sl1","X":"FINISHED"}}', ("tf-a-sl1", "FINISHED")),
        ('{"e":"ACCOUNT_UPDATE","a":{}}', None),
        ('{"e":"listenKeyExpired","listenKey":"x"}', None),
        ("[1]", None),
    ],
)
def test_order_event_reads_the_client_order_id_and_status(raw, event):
    assert order_event(raw) == event


async def test_polling_slows_while_the_stream_is_up_and_resumes_when_it_is_down(venue, store):
    st = venue.state
    base = settings("usdm")
    fast = base.model_copy(
        update={"resting_stops": base.resting_stops.model_copy(update={"poll_interval_s": 0})}
    )
    engine = ExecutionEngine(fast, venue.adapter("usdm"), store)
    await engine.start()
    stream = engine.start_user_stream(venue.url)
    try:
        await until(lambda: stream.connected, "stream connected")
        tick = real_ticks("usdm", "BTCUSDT", "20240808")[0]
        sig = signal(USDM, "long", tick.price, tick.price - 300)
        assert (await engine.on_signal(sig)).accepted
        lookups = st.count("GET", "/fapi/v1/algoOrder")
        for _ in range(3):
            await engine.on_tick(tick)
        assert st.count("GET", "/fapi/v1/algoOrder") == lookups + 1  # one poll, then 1 h
        await stream.stop()  # the stream is down: every trade polls (poll_interval_s 0)
        for _ in range(3):
            await engine.on_tick(tick)
        assert st.count("GET", "/fapi/v1/algoOrder") == lookups + 4
    finally:
        await engine.stop()
