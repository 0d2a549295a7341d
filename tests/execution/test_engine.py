"""The engine on the paper exchange over real ticks: trailing-stop exits with exact P&L,
restart recovery, drawdown levels and the circuit breaker, hold time, crash recovery of
orders whose outcome was unknown."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from tapeflow.config.execution import (
    DrawdownLevels,
    ExecutionSettings,
    RestingStopSettings,
    RiskSettings,
)
from tapeflow.execution.client_ids import client_order_id
from tapeflow.execution.risk import RiskLevel
from tapeflow.model.events import (
    CircuitBreakerTripped,
    ForceExitRequired,
    PositionClosed,
    StopAllTrading,
)
from tapeflow.model.records import Order, Position
from tests.execution.engine_support import BTC, ETH, Clock, drain, make_rig
from tests.execution.support import real_ticks, signal

BTC_TICKS = real_ticks("usdm", "BTCUSDT", "20240808")
ETH_TICKS = real_ticks("usdm", "ETHUSDT", "20240808")
BPS = Decimal(10_000)


def settings(**kw) -> ExecutionSettings:
    kw.setdefault(
        "risk",
        RiskSettings(
            leverage=Decimal(5), max_position_pct=Decimal(50), trailing_distance_pct=Decimal("0.05")
        ),
    )
    kw.setdefault("stop_persist_interval_s", 0)
    # these tests pin the engine's own enforcement on ticks; the resting stop order is
    # covered in test_resting.py
    kw.setdefault("resting_stops", RestingStopSettings(enabled=False))
    return ExecutionSettings(
        risk_check_interval_s=0, slippage_bps=Decimal(1), fee_bps=Decimal(4), **kw
    )


def trailing_exit(prices, direction, fill_price, distance):
    """Plain-loop reference: index of the trade that hits the stop trailing from
    ``fill_price`` at ``distance`` percent."""
    d = Decimal(distance) / 100
    best = fill_price
    for i, p in enumerate(prices):
        if direction == "long":
            best = max(best, p)
            if p <= best - best * d:
                return i, best - best * d
        else:
            best = min(best, p)
            if p >= best + best * d:
                return i, best + best * d
    raise AssertionError("no exit in range")


async def run_to_exit(rig, direction):
    await rig.feed(BTC_TICKS[:50])
    p = BTC_TICKS[49].price
    sig = signal(BTC, direction, p, p - 300 if direction == "long" else p + 300)
    res = await rig.engine.on_signal(sig)
    assert res.accepted
    return sig, res.entry_order.quantity


async def test_trailing_stop_closes_with_exact_pnl_long_and_short(open_store, tmp_path):
    for direction in ("long", "short"):
        store = open_store() if direction == "long" else _fresh(tmp_path)
        rig = await make_rig(store, settings())
        sig, qty = await run_to_exit(rig, direction)
        slip = Decimal(1) / BPS
        fill = BTC_TICKS[50].price * (1 + slip if direction == "long" else 1 - slip)
        rest = [t.price for t in BTC_TICKS[51:]]
        k, stop_level = trailing_exit(rest, direction, fill, "0.05")
        await rig.feed(BTC_TICKS[50 : 52 + k])  # entry fill ... the trade that hits the stop
        closed = store.get_position(sig.signal_id)
        assert closed.close_reason.startswith(f"trailing stop {stop_level} hit by trade at")
        # the exit fills at the trade that hit the stop, plus slippage
        exit_px = BTC_TICKS[51 + k].price * (1 - slip if direction == "long" else 1 + slip)
        fees = qty * fill * 4 / BPS + qty * exit_px * 4 / BPS
        sign = 1 if direction == "long" else -1
        assert closed.status == "closed"
        assert closed.entry_price == fill and closed.exit_price == exit_px
        assert closed.realized_pnl == (exit_px - fill) * qty * sign - fees
        assert closed.fees == fees
        assert rig.paper.balances()["USDT"] == Decimal(10_000) + closed.realized_pnl
        assert len(rig.engine.stops) == 0
        events = await drain(rig)
        [ev] = [e for e in events if isinstance(e, PositionClosed)]
        assert ev.pnl == closed.realized_pnl and ev.exit_price == exit_px
        await rig.bus.stop()


def _fresh(tmp_path):
    from tapeflow.state.embedded import EmbeddedStore

    return EmbeddedStore(tmp_path / "short.db")


async def test_restart_restores_positions_and_stops(open_store):
    uninterrupted = await make_rig(open_store(), settings())
    sig, _ = await run_to_exit(uninterrupted, "long")
    # reference run, no restart
    rest = [t.price for t in BTC_TICKS[51:]]
    fill = BTC_TICKS[50].price * (1 + Decimal(1) / BPS)
    k, _ = trailing_exit(rest, "long", fill, "0.05")
    cut = 51 + k // 2  # restart in the middle of the trailing
    await uninterrupted.feed(BTC_TICKS[50:cut])
    stop_before = uninterrupted.engine.stops.get(sig.signal_id)
    saved = (stop_before.extreme, stop_before.stop_price)
    await uninterrupted.engine.stop()
    await uninterrupted.bus.stop()

    again = await make_rig(open_store(), settings(), clock=Clock(BTC_TICKS[cut].ts))
    pos = again.engine.book.get(sig.signal_id)
    assert pos.status == "open"
    stop = again.engine.stops.get(sig.signal_id)
    assert (stop.extreme, stop.stop_price) == saved
    assert stop.initial_stop == sig.stop_loss  # the initial stop is restored too
    await again.feed(BTC_TICKS[cut : 51 + k])
    assert again.engine.book.get(sig.signal_id).status == "open"
    await again.feed(BTC_TICKS[51 + k : 52 + k])  # the trade the reference run exits on
    assert again.store.get_position(sig.signal_id).status == "closed"  # filled at that trade


async def test_drawdown_circuit_breaker_closes_all_and_survives_restart(open_store):
    levels = DrawdownLevels(
        alert=Decimal("0.01"),
        warning=Decimal("0.02"),
        critical=Decimal("0.03"),
        circuit_breaker=Decimal("0.05"),
    )
    # no fees or slippage: the drawdown comes from real price moves alone
    s = ExecutionSettings(
        risk_check_interval_s=0,
        stop_persist_interval_s=0,
        fee_bps=0,
        slippage_bps=0,
        drawdown=levels,
        critical_tighten_factor=Decimal("0.5"),
        risk=RiskSettings(
            leverage=Decimal(20),
            max_position_pct=Decimal(50),
            risk_per_trade=Decimal("0.05"),
            trailing_distance_pct=Decimal(5),
        ),
    )
    rig = await make_rig(open_store(), s)
    await rig.feed(BTC_TICKS[:50])
    p = BTC_TICKS[49].price
    sig = signal(BTC, "long", p, p - 100)
    assert (await rig.engine.on_signal(sig)).accepted
    # walk real ticks until the paper equity falls 0.05 % below the day's start
    levels_seen = []
    for i, t in enumerate(BTC_TICKS[50:], start=50):
        await rig.feed([t])
        level = rig.engine.risk.level
        if not levels_seen or levels_seen[-1] != level:
            levels_seen.append(level)
        if rig.engine.risk.halted:
            tripped_at = i
            break
    else:
        raise AssertionError("the breaker never tripped on this capture")
    # independent reference: equity = 10,000 + (price - fill) × quantity
    opened = rig.engine.book.get(sig.signal_id)
    fill, qty = opened.entry_price, opened.quantity
    assert fill == BTC_TICKS[50].price
    want = next(
        j for j, t in enumerate(BTC_TICKS[51:], start=51) if (fill - t.price) * qty >= Decimal(5)
    )  # 0.05 % of 10,000
    assert tripped_at == want
    assert levels_seen == [
        RiskLevel.NORMAL,
        RiskLevel.ALERT,
        RiskLevel.WARNING,
        RiskLevel.CRITICAL,
        RiskLevel.CIRCUIT_BREAKER,
    ]
    pos = rig.engine.book.get(sig.signal_id)
    assert pos.status == "closing" and pos.close_reason == "portfolio circuit breaker"
    # the stop was tightened (halved) when the critical level was reached
    assert rig.engine.stops.get(sig.signal_id).distance_pct == Decimal("2.5")
    await rig.feed(BTC_TICKS[tripped_at + 1 : tripped_at + 2])
    assert rig.store.get_position(sig.signal_id).status == "closed"
    events = await drain(rig)
    assert [e.scope for e in events if isinstance(e, CircuitBreakerTripped)] == ["portfolio"]
    # seed 001 §8.3: the breaker also stops all trading and force-exits every position
    tripped_ts = BTC_TICKS[tripped_at].ts
    [halt] = [e for e in events if isinstance(e, StopAllTrading)]
    assert (halt.scope, halt.at) == ("portfolio", tripped_ts)
    assert halt.reason.startswith("daily drawdown 0.05")
    [forced] = [e for e in events if isinstance(e, ForceExitRequired)]
    assert (forced.position_id, forced.rule, forced.at) == (
        sig.signal_id,
        "circuit_breaker",
        tripped_ts,
    )
    await rig.bus.stop()

    restarted = await make_rig(open_store(), s, clock=Clock(BTC_TICKS[tripped_at + 2].ts))
    assert restarted.engine.risk.halted
    q = BTC_TICKS[tripped_at + 2].price
    res = await restarted.engine.on_signal(signal(BTC, "long", q, q - 100, minute=9))
    assert res.refused_by == "risk" and "circuit breaker" in res.reason


async def test_max_hold_time_closes_the_position(store):
    rig = await make_rig(
        store, settings(risk=RiskSettings(max_hold_minutes=2, trailing_distance_pct=Decimal(5)))
    )
    await rig.feed(ETH_TICKS[:10])
    p = ETH_TICKS[9].price
    sig = signal(ETH, "short", p, p + 20)
    assert (await rig.engine.on_signal(sig)).accepted
    await rig.feed(ETH_TICKS[10:11])
    opened = rig.engine.book.get(sig.signal_id).opened_at
    limit = opened + timedelta(minutes=2)
    i = next(i for i, t in enumerate(ETH_TICKS) if t.ts >= limit)
    await rig.feed(ETH_TICKS[11:i])
    assert rig.engine.book.get(sig.signal_id).status == "open"
    await rig.feed(ETH_TICKS[i : i + 1])
    assert rig.engine.book.get(sig.signal_id).close_reason == "max hold time reached"
    await rig.feed(ETH_TICKS[i + 1 : i + 2])
    assert store.get_position(sig.signal_id).status == "closed"


async def test_crash_after_send_is_resolved_by_client_order_id(open_store):
    """The process died after the paper exchange accepted the entry but before the answer
    was recorded: the store says 'sent'. On restart the engine finds the order by its client
    order id and opens the position — it never sends a second entry."""
    store = open_store()
    rig = await make_rig(store, settings())
    await rig.feed(BTC_TICKS[:10])
    p = BTC_TICKS[9].price
    sig = signal(BTC, "long", p, p - 300)
    assert (await rig.engine.on_signal(sig)).accepted
    cid = client_order_id(sig.signal_id, "entry")
    # simulate the lost answer: the record goes back to 'sent'
    store.put_order(store.get_order(cid).model_copy(update={"status": "sent"}))
    await rig.bus.stop()

    again = await make_rig(open_store(), settings(), clock=Clock(BTC_TICKS[10].ts))
    assert again.store.get_order(cid).status == "open"  # found on the exchange
    await again.feed(BTC_TICKS[10:11])
    assert again.engine.book.get(sig.signal_id).status == "open"
    assert [o["client_order_id"] for o in again.paper.state()["orders"]] == [cid]
    # and a re-delivered signal cannot send another entry
    res = await again.engine.on_signal(sig)
    assert res.refused_by == "existing_position"


async def test_unsent_order_is_dropped_on_restart(open_store):
    """The record was written ('sent') but the process died before the request left: the
    exchange has never seen it, so the decision is dropped, not replayed late."""
    store = open_store()
    pid = "00112233445566778899"
    cid = client_order_id(pid, "entry")
    store.put_position(
        Position(
            position_id=pid,
            symbol=str(BTC),
            direction="long",
            status="pending",
            quantity=Decimal("0.01"),
            entry_price=Decimal(61_000),
            entry_client_order_id=cid,
        )
    )
    store.put_order(
        Order(
            client_order_id=cid,
            symbol=str(BTC),
            position_id=pid,
            side="buy",
            quantity=Decimal("0.01"),
            status="sent",
        )
    )
    rig = await make_rig(open_store(), settings())
    assert rig.store.get_order(cid).status == "rejected"
    assert rig.store.get_order(cid).error == "never reached the exchange"
    pos = rig.store.get_position(pid)
    assert pos.status == "closed" and pos.close_reason.startswith("entry rejected")
    assert rig.paper.state()["orders"] == []


async def test_concurrent_closes_send_one_exit(store):
    import asyncio

    rig = await make_rig(store, settings(risk=RiskSettings(trailing_distance_pct=Decimal(5))))
    await rig.feed(BTC_TICKS[:10])
    p = BTC_TICKS[9].price
    sig = signal(BTC, "long", p, p - 300)
    await rig.engine.on_signal(sig)
    await rig.feed(BTC_TICKS[10:11])
    orders = await asyncio.gather(
        rig.engine.lifecycle.close(sig.signal_id, "a"),
        rig.engine.lifecycle.close(sig.signal_id, "b"),
        rig.engine.close_all("c"),
    )
    exits = [o for o in rig.paper.state()["orders"] if o["client_order_id"].endswith("-ex")]
    assert len(exits) == 1
    assert orders[0].client_order_id == orders[1].client_order_id == exits[0]["client_order_id"]


async def test_engine_equity_and_status(store):
    rig = await make_rig(store, settings())
    await rig.feed(BTC_TICKS[:5] + ETH_TICKS[:5])
    assert await rig.engine.equity() == Decimal(10_000)
    st = rig.engine.status()
    assert st["positions"] == 0 and st["risk_level"] == "NORMAL" and not st["halted"]


async def test_entry_sent_before_its_position_was_recorded_is_rebuilt(open_store):
    """Only the order record precedes the send; if the process dies before the position
    is recorded, the restart rebuilds the position from the order and resolves the order
    by client order id."""
    from tapeflow.model.orders import OrderRequest
    from tests.execution.engine_support import make_paper

    store = open_store()
    pid = "ffeeddccbbaa99887766"
    cid = client_order_id(pid, "entry")
    store.create_order(
        Order(
            client_order_id=cid,
            symbol=str(ETH),
            position_id=pid,
            purpose="entry",
            side="sell",
            quantity=Decimal("0.5"),
            status="sent",
        )
    )
    paper = make_paper(store, settings())  # the exchange got the order
    paper.on_tick(ETH_TICKS[0])
    await paper.place_order(OrderRequest(ETH, cid, "sell", "market", Decimal("0.5")))

    rig = await make_rig(
        open_store(),
        settings(risk=RiskSettings(trailing_distance_pct=Decimal("0.3"))),
        clock=Clock(ETH_TICKS[1].ts),
    )
    pos = rig.engine.book.get(pid)
    assert (pos.status, pos.direction, pos.quantity) == ("pending", "short", Decimal("0.5"))
    assert rig.store.get_order(cid).status == "open"  # found on the exchange, not resent
    await rig.feed(ETH_TICKS[1:2])
    pos = rig.engine.book.get(pid)
    assert pos.status == "open" and pos.entry_price == ETH_TICKS[1].price * (1 - Decimal(1) / BPS)
    assert rig.engine.stops.get(pid).distance_pct == Decimal("0.3")
    assert len(rig.paper.state()["orders"]) == 1


async def test_exit_that_fills_partly_then_expires_keeps_the_rest_open(store):
    """An exit the exchange filled only partly and then expired (Binance EXPIRED, e.g. thin
    liquidity): the position stays open with the rest, the partial gross P&L is kept, and
    the next exit (a new decision, ``-ex1``) closes it with the total P&L."""
    from dataclasses import replace as dc_replace

    rig = await make_rig(store, settings(risk=RiskSettings(trailing_distance_pct=Decimal(5))))
    await rig.feed(ETH_TICKS[:10])
    p = ETH_TICKS[9].price
    sig = signal(ETH, "long", p, p - 10)
    await rig.engine.on_signal(sig)
    await rig.feed(ETH_TICKS[10:11])
    pos = rig.engine.book.get(sig.signal_id)
    qty, entry, entry_fee = pos.quantity, pos.entry_price, pos.fees
    first = await rig.engine.lifecycle.close(sig.signal_id, "test")
    paper_view = await rig.paper.cancel_order(ETH, first.client_order_id)
    part, part_px, part_fee = Decimal("0.100"), ETH_TICKS[11].price, Decimal("0.1")
    await rig.engine.lifecycle.on_update(
        dc_replace(paper_view, filled=part, average_price=part_px, fee=part_fee)
    )
    pos = rig.engine.book.get(sig.signal_id)
    assert pos.status == "open" and pos.quantity == qty - part
    assert pos.realized_pnl == (part_px - entry) * part and pos.fees == entry_fee + part_fee
    second = await rig.engine.lifecycle.close(sig.signal_id, "again")
    assert second.client_order_id == f"tf-{sig.signal_id}-ex1" and second.quantity == qty - part
    await rig.feed(ETH_TICKS[12:13])
    closed = store.get_position(sig.signal_id)
    exit_px = ETH_TICKS[12].price * (1 - Decimal(1) / BPS)
    exit_fee = (qty - part) * exit_px * 4 / BPS
    assert closed.status == "closed"
    assert closed.realized_pnl == (
        (part_px - entry) * part
        + (exit_px - entry) * (qty - part)
        - (entry_fee + part_fee + exit_fee)
    )
