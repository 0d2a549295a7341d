"""The protective stop order resting on the (paper) exchange, driven by real ticks:
placed when the entry fills, moved once per ratchet (rate-limited), its fill is the one
exit, a close cancels it first, a restart finds it or re-places it."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

from tapeflow.config.execution import ExecutionSettings, RestingStopSettings, RiskSettings
from tapeflow.execution.client_ids import parse_client_order_id
from tapeflow.execution.resting import resting_level
from tests.execution.engine_support import BTC, Clock, make_rig
from tests.execution.support import real_ticks, signal

BTC_TICKS = real_ticks("usdm", "BTCUSDT", "20240808")
BPS = Decimal(10_000)


def settings(interval_s: float = 0, **kw) -> ExecutionSettings:
    kw.setdefault(
        "risk",
        RiskSettings(
            leverage=Decimal(5), max_position_pct=Decimal(50), trailing_distance_pct=Decimal("0.05")
        ),
    )
    return ExecutionSettings(
        risk_check_interval_s=3600,
        stop_persist_interval_s=0,
        slippage_bps=Decimal(1),
        fee_bps=Decimal(4),
        resting_stops=RestingStopSettings(min_move_interval_s=interval_s),
        **kw,
    )


async def open_long(rig):
    await rig.feed(BTC_TICKS[:50])
    p = BTC_TICKS[49].price
    sig = signal(BTC, "long", p, p - 300)
    assert (await rig.engine.on_signal(sig)).accepted
    await rig.feed(BTC_TICKS[50:51])  # the entry fills on this trade
    assert rig.engine.book.get(sig.signal_id).status == "open"
    return sig.signal_id


def stop_orders(rig, pid):
    """The stop orders of ``pid`` as the store records them, in id order (sl, sl1, ...)."""
    orders = [o for o in rig.store.list_orders() if o.position_id == pid and o.purpose == "stop"]
    return sorted(orders, key=lambda o: int(parse_client_order_id(o.client_order_id)[2]))


def resting(rig, pid):
    """The stop orders of ``pid`` resting on the paper exchange (its own view)."""
    return [
        o
        for o in rig.paper.state()["orders"]
        if o["client_order_id"].startswith(f"tf-{pid}-sl") and o["status"] == "open"
    ]


def expected_level(rig, pid) -> Decimal:
    return resting_level(rig.paper.market(BTC), "long", rig.engine.stops.get(pid).stop_price)


async def test_stop_rests_when_the_entry_fills_and_moves_once_per_ratchet(store):
    rig = await make_rig(store, settings())
    pid = await open_long(rig)
    [first] = stop_orders(rig, pid)
    assert first.client_order_id == f"tf-{pid}-sl"
    assert (first.order_type, first.side, first.purpose) == ("stop_market", "sell", "stop")
    [on_exchange] = resting(rig, pid)
    assert on_exchange["reduce_only"] is True
    assert first.stop_price == expected_level(rig, pid)
    assert first.quantity == rig.engine.book.get(pid).quantity
    levels = [expected_level(rig, pid)]
    for t in BTC_TICKS[51:]:
        if t.price <= stop_orders(rig, pid)[-1].stop_price:
            break  # the next trade triggers the resting stop
        await rig.feed([t])
        level = expected_level(rig, pid)
        if level != levels[-1]:
            levels.append(level)
        live = resting(rig, pid)
        assert [Decimal(o["stop_price"]) for o in live] == [level]  # one stop, at the level
    assert len(levels) > 3  # the stop did ratchet on this tape
    orders = stop_orders(rig, pid)
    # one order per level, never two for the same change: sl, sl1, sl2, ...
    assert [o.client_order_id for o in orders] == [
        f"tf-{pid}-sl{n if n else ''}" for n in range(len(levels))
    ]
    assert [o.stop_price for o in orders] == levels
    assert [o.status for o in orders] == ["canceled"] * (len(levels) - 1) + ["open"]


async def test_the_resting_stops_fill_is_the_one_exit_booked_once(store):
    rig = await make_rig(store, settings())
    pid = await open_long(rig)
    pos = rig.engine.book.get(pid)
    for t in BTC_TICKS[51:]:
        resting = stop_orders(rig, pid)[-1].stop_price
        await rig.feed([t])
        if rig.engine.book.get(pid) is None:
            break
    assert t.price <= resting  # the first trade at or through the resting stop
    closed = store.get_position(pid)
    exit_price = t.price * (1 - Decimal(1) / BPS)  # the trigger trade, less slippage
    assert closed.status == "closed" and closed.exit_price == exit_price
    assert closed.close_reason == f"resting stop {resting} filled at {exit_price}"
    assert closed.exit_client_order_id == stop_orders(rig, pid)[-1].client_order_id
    fees = (pos.entry_price + exit_price) * pos.quantity * 4 / BPS
    assert closed.fees == fees
    assert closed.realized_pnl == (exit_price - pos.entry_price) * pos.quantity - fees
    # no market exit was sent: the stop's fill was the exit
    cids = [o.client_order_id for o in store.list_orders() if o.position_id == pid]
    assert not any("-ex" in c for c in cids)
    assert await rig.paper.fetch_positions() == []
    assert rig.paper.realized_pnl == (exit_price - pos.entry_price) * pos.quantity


async def test_moves_are_rate_limited_and_catch_up_to_the_latest_level(store):
    rig = await make_rig(store, settings(interval_s=20))
    pid = await open_long(rig)
    moved_at = [rig.clock.now]
    live_price = stop_orders(rig, pid)[-1].stop_price
    for t in BTC_TICKS[51:]:
        if t.price <= live_price:
            break
        await rig.feed([t])
        now_live = stop_orders(rig, pid)[-1].stop_price
        if now_live != live_price:
            moved_at.append(t.ts)
            assert now_live == expected_level(rig, pid)  # at the latest level, not a stale one
            live_price = now_live
    gaps = [b - a for a, b in itertools.pairwise(moved_at)]
    assert len(gaps) >= 2 and min(gaps) >= timedelta(seconds=20)


async def test_a_close_cancels_the_resting_stop_before_the_exit(store):
    rig = await make_rig(store, settings())
    pid = await open_long(rig)
    await rig.feed(BTC_TICKS[51:60])
    [exit_order] = await rig.engine.close_all("operator close")
    assert exit_order.client_order_id == f"tf-{pid}-ex"
    assert [o.status for o in stop_orders(rig, pid)][-1] == "canceled"
    await rig.feed(BTC_TICKS[60:61])
    closed = store.get_position(pid)
    assert closed.status == "closed" and closed.close_reason == "operator close"
    assert await rig.paper.fetch_open_orders() == []


async def test_restart_keeps_the_live_stop_and_replaces_a_missing_one(open_store):
    rig = await make_rig(open_store(), settings())
    pid = await open_long(rig)
    await rig.engine.stop()
    await rig.bus.stop()
    # restart: the stop still rests; nothing new is sent
    again = await make_rig(open_store(), settings(), clock=Clock(BTC_TICKS[51].ts))
    assert [o.status for o in stop_orders(again, pid)] == ["open"]
    # the exchange dropped it meanwhile: the next start re-places it (a new id)
    await again.paper.cancel_order(BTC, f"tf-{pid}-sl")
    await again.engine.stop()
    await again.bus.stop()
    third = await make_rig(open_store(), settings(), clock=Clock(BTC_TICKS[51].ts))
    assert [(o.client_order_id, o.status) for o in stop_orders(third, pid)] == [
        (f"tf-{pid}-sl", "canceled"),
        (f"tf-{pid}-sl1", "open"),
    ]
    assert third.store.get_order(f"tf-{pid}-sl").status == "canceled"
    assert third.engine.book.get(pid).status == "open"


async def test_resting_stop_out_on_real_prints_books_the_engines_exit_exactly(store):
    """The real-print stop-out of test_exits.py (long 0.999 at 61,800.10, stop 61,700.00,
    first print at or below it: trade 5,289 at 61,700.00) with the stop resting on the
    paper exchange: the resting order fills at that print, less slippage, the same exit and
    P&L the engine's enforcement books — once, with no market exit."""
    from tests.execution.test_exits import settings as exit_settings

    rig = await make_rig(store, exit_settings(resting=True))
    await rig.feed(BTC_TICKS[:54])
    sig = signal(BTC, "long", "61800.10", "61700.00")
    await rig.engine.on_signal(sig)
    await rig.feed(BTC_TICKS[54:5289])
    pos = rig.engine.book.get(sig.signal_id)
    [live] = resting(rig, sig.signal_id)
    assert Decimal(live["stop_price"]) == Decimal("61700.0")  # the initial stop rests
    await rig.feed(BTC_TICKS[5289:5290])
    closed = store.get_position(sig.signal_id)
    assert closed.close_reason == "resting stop 61700.0 filled at 61693.830000"
    assert closed.exit_price == Decimal("61693.830000")  # 61,700.00 × 0.9999
    fees = pos.quantity * (pos.entry_price + closed.exit_price) * 4 / BPS
    loss = (closed.exit_price - pos.entry_price) * pos.quantity - fees
    assert closed.realized_pnl == loss
    cids = [o.client_order_id for o in store.list_orders() if o.position_id == sig.signal_id]
    assert not any("-ex" in c for c in cids)
