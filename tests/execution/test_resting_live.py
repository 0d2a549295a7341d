"""The resting stop on a live venue: the engine over the real ccxt adapter against the
local Binance server (signed requests), which holds the stop order and triggers it from the
recorded trades the test replays through it."""

from __future__ import annotations

from decimal import Decimal

from tapeflow.config.execution import ExecutionSettings, RestingStopSettings, RiskSettings
from tapeflow.execution.engine import ExecutionEngine
from tapeflow.execution.resting import resting_level, spot_limit
from tests.execution.support import real_ticks, signal
from tests.execution.test_ccxt_adapter import SPOT, USDM, venue  # noqa: F401 (fixture)
from tests.servers.binance_trading import COMMISSION_STEP, SPOT_FEE, USDM_FEE


def live_settings(market: str) -> ExecutionSettings:
    return ExecutionSettings(
        mode="live",
        market=market,
        risk_check_interval_s=3600,
        risk=RiskSettings(leverage=Decimal(4), trailing_distance_pct=Decimal("0.05")),
        # every ratchet moves the stop; fills are learned by the explicit poll below
        resting_stops=RestingStopSettings(min_move_interval_s=0, poll_interval_s=3600),
    )


async def ratchet(engine, st, ex, key, ticks, pid, *, moves: int) -> list[Decimal]:
    """Replay recorded trades through the exchange (its price) and the engine until the
    stop has moved ``moves`` times; after each trade exactly one stop works on the exchange,
    at the engine's current level. Returns the levels in order."""
    rules = ex.market(key)
    levels = [resting_level(rules, "long", engine.stops.get(pid).stop_price)]
    for t in ticks:
        working = [o for o in st.orders if o.stop_price and o.status == "NEW"]
        if t.price <= working[0].stop_price:
            raise AssertionError("the tape reached the stop before it moved enough")
        st.set_price(key.market, key.symbol, t.price)  # the exchange trades at the tape
        await engine.on_tick(t)
        level = resting_level(rules, "long", engine.stops.get(pid).stop_price)
        if level != levels[-1]:
            levels.append(level)
        working = [o for o in st.orders if o.stop_price and o.status == "NEW"]
        assert [o.stop_price for o in working] == [level]  # one stop, at the level
        if len(levels) > moves:
            return levels
    raise AssertionError("not enough ratchets on this tape")


async def test_usdm_stop_rests_on_the_exchange_moves_per_ratchet_and_its_fill_is_booked(
    venue,  # noqa: F811
    store,
):
    st = venue.state
    ticks = real_ticks("usdm", "BTCUSDT", "20240808")
    ex = venue.adapter("usdm")
    engine = ExecutionEngine(live_settings("usdm"), ex, store)
    await engine.start()
    try:
        p = ticks[0].price
        sig = signal(USDM, "long", p, p - 300)
        assert (await engine.on_signal(sig)).accepted
        pid = sig.signal_id
        pos = engine.book.get(pid)
        # the market entry's answer carries no commission: it comes from the order's
        # trades, exactly what the exchange charged (0.04 % of the notional, in USDT)
        [entry] = [o for o in st.orders if o.type == "MARKET"]
        entry_fee = pos.quantity * p * USDM_FEE
        assert entry.commission == entry_fee and pos.fees == entry_fee
        assert [q["orderId"] for m, path, q in st.requests if path == "/fapi/v1/userTrades"] == [
            str(entry.order_id)
        ]
        [held] = [o for o in st.orders if o.algo]  # the exchange holds the stop
        level = resting_level(ex.market(USDM), "long", engine.stops.get(pid).stop_price)
        assert (held.client_order_id, held.type, held.side) == (
            f"tf-{pid}-sl",
            "STOP_MARKET",
            "SELL",
        )
        assert (held.stop_price, held.quantity, held.reduce_only) == (level, pos.quantity, True)
        levels = await ratchet(engine, st, ex, USDM, ticks[1:], pid, moves=4)
        # exactly one new stop per ratchet, each replacing the one before it
        assert st.count("POST", "/fapi/v1/algoOrder") == len(levels)
        assert st.count("DELETE", "/fapi/v1/algoOrder") == len(levels) - 1
        assert [o.client_order_id for o in st.orders if o.algo] == [
            f"tf-{pid}-sl{n or ''}" for n in range(len(levels))
        ]
        # the market falls through the stop (a test-driven price): the exchange fills it
        through = levels[-1] - 25
        st.set_price("usdm", "BTCUSDT", through)
        last = [o for o in st.orders if o.algo][-1]
        assert last.status == "FINISHED" and await ex.fetch_positions() == []
        assert engine.book.get(pid).status == "open"  # not known here yet
        [filled] = await engine.lifecycle.poll_resting_stops()  # learned by polling
        assert (filled.client_order_id, filled.status) == (last.client_order_id, "filled")
        closed = store.get_position(pid)
        assert closed.status == "closed" and closed.exit_price == through
        assert closed.close_reason == f"resting stop {levels[-1]} filled at {through}"
        # the algo order's answer carries no commission either: its fill's trades do
        exit_fee = pos.quantity * through * USDM_FEE
        assert last.commission == exit_fee and closed.fees == entry_fee + exit_fee
        assert closed.realized_pnl == (through - p) * pos.quantity - entry_fee - exit_fee
        assert ("GET", "/fapi/v1/userTrades", str(last.actual_order_id)) in [
            (m, path, q.get("orderId")) for m, path, q in st.requests
        ]
        assert engine.book.get(pid) is None and engine.stops.get(pid) is None
        assert st.orders_with(f"tf-{pid}-ex") == []  # the stop's fill was the one exit
        assert await engine.lifecycle.poll_resting_stops() == []  # booked once
    finally:
        await engine.stop()


async def test_spot_stop_loss_limit_rests_and_its_fill_closes_the_position(
    venue,  # noqa: F811
    store,
):
    st = venue.state
    ticks = real_ticks("spot", "BTCUSDT", "20240809")
    st.set_price("spot", "BTCUSDT", ticks[0].price)
    ex = venue.adapter("spot")
    engine = ExecutionEngine(live_settings("spot"), ex, store)
    await engine.start()
    try:
        p = ticks[0].price
        sig = signal(SPOT, "long", p, p - 300)
        assert (await engine.on_signal(sig)).accepted
        pid = sig.signal_id
        rules = ex.market(SPOT)
        [held] = [o for o in st.orders if o.type == "STOP_LOSS_LIMIT"]
        level = resting_level(rules, "long", engine.stops.get(pid).stop_price)
        assert (held.client_order_id, held.side, held.status) == (f"tf-{pid}-sl", "SELL", "NEW")
        assert (held.stop_price, held.price) == (
            level,
            spot_limit(rules, "long", level, Decimal("0.5")),
        )
        # the buyer's fee was paid in BTC: the stop sells what is held, floored to the step
        assert held.quantity == rules.floor_amount(st.spot_balances["BTC"])
        levels = await ratchet(engine, st, ex, SPOT, ticks[1:], pid, moves=2)
        last = [o for o in st.orders if o.type == "STOP_LOSS_LIMIT"][-1]
        assert last.stop_price == levels[-1] and last.status == "NEW"
        # a trade through the stop but above its limit: it triggers and fills there
        through = levels[-1] - 10
        st.set_price("spot", "BTCUSDT", through)
        assert last.status == "FILLED"
        await engine.lifecycle.poll_resting_stops()
        closed = store.get_position(pid)
        assert closed.exit_price == through and closed.close_reason.startswith("resting stop")
        # the entry's fee: its answer's fills, in BTC (the buyer's asset) at the entry price;
        # the stop's fee: not in the order query's answer, so from the order's trades
        [entry] = [o for o in st.orders if o.type == "MARKET"]
        entry_fee = entry.quantity * SPOT_FEE * p
        exit_fee = (last.quantity * through * SPOT_FEE).quantize(COMMISSION_STEP)
        assert (entry.commission, entry.commission_asset) == (entry.quantity * SPOT_FEE, "BTC")
        assert (last.commission, last.commission_asset) == (exit_fee, "USDT")
        assert closed.fees == entry_fee + exit_fee
        assert closed.realized_pnl == (through - p) * last.quantity - entry_fee - exit_fee
        assert st.orders_with(f"tf-{pid}-ex") == []
        assert [o.status for o in st.orders if o.type == "STOP_LOSS_LIMIT"] == ["CANCELED"] * (
            len(levels) - 1
        ) + ["FILLED"]
    finally:
        await engine.stop()
