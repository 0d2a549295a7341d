"""Protective exits through the engine and the paper exchange: the initial stop at the
signal's stop, the trailing stop never looser than it, take-profit targets, fills at the
print that reached the level (gaps included), exact P&L on real Binance prints, and the
exit state across restarts."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

from tapeflow.config.execution import ExecutionSettings, RestingStopSettings, RiskSettings
from tapeflow.execution.engine import STOPS_STATE
from tests.execution.engine_support import BTC, Clock, make_rig
from tests.execution.support import real_ticks, signal

BTC_TICKS = real_ticks("usdm", "BTCUSDT", "20240808")
BPS = Decimal(10_000)


def settings(*, fee_bps=4, slippage_bps=1, resting=False, **risk) -> ExecutionSettings:
    """These tests pin the engine's own enforcement on every print (``resting=False``: no
    stop order rests on the exchange; with one, test_resting.py shows the same exit)."""
    risk.setdefault("leverage", Decimal(10))
    risk.setdefault("max_position_pct", Decimal(100))
    return ExecutionSettings(
        risk_check_interval_s=0,
        stop_persist_interval_s=0,
        fee_bps=Decimal(fee_bps),
        slippage_bps=Decimal(slippage_bps),
        risk=RiskSettings(**risk),
        resting_stops=RestingStopSettings(enabled=resting),
    )


def prints(*prices: str):
    """Trades at ``prices`` one second apart, shaped like the recording's first trade."""
    first = BTC_TICKS[0]
    return [
        dataclasses.replace(
            first, trade_id=first.trade_id + i, ts=first.ts + timedelta(seconds=i), price=Decimal(p)
        )
        for i, p in enumerate(prices)
    ]


async def test_zone_stop_is_enforced_and_a_gap_fills_at_the_print(store):
    """A long at 60,000 with its zone stop at 59,880, risking 1 % of 10,000: a trade at
    59,850 closes it there (−124.950), not at the 0.5 % trailing stop 59,700 (−249.90)."""
    rig = await make_rig(store, settings(fee_bps=0, slippage_bps=0, leverage=Decimal(5)))
    ticks = prints("60000", "60000", "59880.1", "59850", "59700")
    await rig.feed(ticks[:1])
    sig = signal(BTC, "long", "60000", "59880")
    res = await rig.engine.on_signal(sig)
    assert res.accepted and res.entry_order.quantity == Decimal("0.833")  # 100 / 120, floored
    await rig.feed(ticks[1:3])  # entry fills at 60,000; 59,880.1 is one tick above the stop
    assert rig.engine.book.get(sig.signal_id).status == "open"
    stop = rig.engine.stops.get(sig.signal_id)
    await rig.feed(ticks[3:4])  # 59,850: through the stop
    closed = store.get_position(sig.signal_id)
    assert closed.status == "closed"
    assert stop.initial_stop == stop.stop_price == Decimal("59880")
    assert stop.trailing_level() == Decimal("59700.000")  # the 0.5 % trail: looser
    assert closed.close_reason == "stop 59880 hit by trade at 59850"
    assert closed.exit_price == Decimal("59850")  # the print, not the stop level
    assert closed.realized_pnl == Decimal("-124.950")  # (59,850 − 60,000) × 0.833
    assert rig.paper.balances()["USDT"] == Decimal("9875.050")
    await rig.bus.stop()


async def test_stop_out_on_real_prints_loses_the_sized_risk_plus_costs(store):
    """BTCUSDT USD-M, 2024-08-08: long at 61,800.10 with the stop at 61,700.00 (100.10
    below), 1 % of 10,000 at risk, 4 bps fee and 1 bps slippage per fill. The first print
    at or below 61,700.00 is trade 5,289 at exactly 61,700.00 (the one before it, 61,700.30,
    is 3 ticks above)."""
    rig = await make_rig(store, settings())
    await rig.feed(BTC_TICKS[:54])
    assert BTC_TICKS[53].price == BTC_TICKS[54].price == Decimal("61800.10")
    sig = signal(BTC, "long", "61800.10", "61700.00")
    res = await rig.engine.on_signal(sig)
    qty = res.entry_order.quantity
    assert qty == Decimal("0.999")  # 100 / 100.10 = 0.999000..., floored to the 0.001 step
    await rig.feed(BTC_TICKS[54:5289])
    pos = rig.engine.book.get(sig.signal_id)
    assert pos.status == "open" and BTC_TICKS[5288].price == Decimal("61700.30")
    assert pos.entry_price == Decimal("61806.28001")  # 61,800.10 × 1.0001
    await rig.feed(BTC_TICKS[5289:5290])
    closed = store.get_position(sig.signal_id)
    assert closed.status == "closed"
    assert closed.close_reason == "stop 61700.00 hit by trade at 61700.00"
    assert closed.exit_price == Decimal("61693.830000")  # 61,700.00 × 0.9999
    # by hand: risk 0.999 × 100.10 = 99.9999 (≤ 1 % of 10,000 = 100)
    #          slippage 0.999 × (6.18001 + 6.17) = 12.33765999
    #          fees 0.999 × (61,806.28001 + 61,693.83) × 0.0004 = 49.350643959996
    risk_loss = Decimal("99.9999")
    slippage = Decimal("12.33765999")
    fees = Decimal("0.999") * (Decimal("61806.28001") + Decimal("61693.830000")) * 4 / BPS
    assert fees == Decimal("49.350643959996")
    assert closed.fees == fees
    assert closed.realized_pnl == -(risk_loss + slippage + fees) == Decimal("-161.688203949996")
    assert risk_loss <= Decimal(10_000) * RiskSettings().risk_per_trade
    assert rig.paper.balances()["USDT"] == Decimal(10_000) + closed.realized_pnl
    await rig.bus.stop()


async def test_risk_reward_target_fills_at_the_print_that_reaches_it(store):
    """Long at 61,800.10, stop 61,780.10 (20 below), R:R 1.5: target 61,830.10. Trade 960
    at 61,830.00 is just below it; trade 961 at 61,830.40 goes through it."""
    rig = await make_rig(store, settings(leverage=Decimal(50)))
    await rig.feed(BTC_TICKS[:54])
    sig = signal(BTC, "long", "61800.10", "61780.10")
    res = await rig.engine.on_signal(sig)
    assert res.position.target_price == Decimal("61830.100")
    qty = res.entry_order.quantity
    assert qty == Decimal("5.000")
    await rig.feed(BTC_TICKS[54:961])
    assert BTC_TICKS[960].price == Decimal("61830.00")
    assert rig.engine.book.get(sig.signal_id).status == "open"
    await rig.feed(BTC_TICKS[961:962])
    closed = store.get_position(sig.signal_id)
    assert closed.status == "closed"
    assert closed.close_reason == "target 61830.100 reached by trade at 61830.40"
    entry, exit_px = Decimal("61806.28001"), Decimal("61824.216960")  # × 1.0001, × 0.9999
    assert closed.entry_price == entry and closed.exit_price == exit_px
    fees = qty * (entry + exit_px) * 4 / BPS
    # a 30-point target on 5 BTC earns 89.68 gross; 8 bps of fees round trip cost 247.26
    assert closed.realized_pnl == (exit_px - entry) * qty - fees == Decimal("-157.57624394")
    await rig.bus.stop()


async def test_signal_target_of_a_short_fires_at_its_level(store):
    """Short at 61,800.10, stop 61,840.10, the signal's target 61,750.10: trade 3,836 at
    61,750.40 is one print above it, trade 3,837 prints exactly 61,750.10."""
    rig = await make_rig(store, settings(leverage=Decimal(50)))
    await rig.feed(BTC_TICKS[:54])
    sig = dataclasses.replace(
        signal(BTC, "short", "61800.10", "61840.10"), target=Decimal("61750.10")
    )
    res = await rig.engine.on_signal(sig)
    assert res.position.target_price == Decimal("61750.10")
    qty = res.entry_order.quantity
    assert qty == Decimal("2.500")
    await rig.feed(BTC_TICKS[54:3837])
    assert BTC_TICKS[3836].price == Decimal("61750.40")
    assert rig.engine.book.get(sig.signal_id).status == "open"
    await rig.feed(BTC_TICKS[3837:3838])
    closed = store.get_position(sig.signal_id)
    assert closed.close_reason == "target 61750.10 reached by trade at 61750.10"
    entry, exit_px = Decimal("61793.919990"), Decimal("61756.27501")  # × 0.9999, × 1.0001
    assert closed.entry_price == entry and closed.exit_price == exit_px
    fees = qty * (entry + exit_px) * 4 / BPS
    assert closed.realized_pnl == (entry - exit_px) * qty - fees == Decimal("-29.4377450")
    await rig.bus.stop()


async def test_take_profit_off_leaves_only_the_stops(store):
    rig = await make_rig(store, settings(leverage=Decimal(50), take_profit="off"))
    await rig.feed(BTC_TICKS[:54])
    sig = signal(BTC, "long", "61800.10", "61780.10")
    res = await rig.engine.on_signal(sig)
    assert res.position.target_price is None
    await rig.feed(BTC_TICKS[54:962])  # past the print that reached 61,830.10
    assert rig.engine.book.get(sig.signal_id).status == "open"
    assert rig.engine.stops.get(sig.signal_id).target is None
    await rig.bus.stop()


async def test_exits_survive_a_restart_with_or_without_the_stop_snapshot(open_store):
    """The stop book's snapshot keeps extreme, level, initial stop and target; a snapshot
    written before initial stops were kept, or none at all, re-arms them from the
    position record."""
    rig = await make_rig(open_store(), settings(leverage=Decimal(50)))
    await rig.feed(BTC_TICKS[:54])
    sig = signal(BTC, "long", "61800.10", "61780.10")
    await rig.engine.on_signal(sig)
    await rig.feed(BTC_TICKS[54:500])
    before = rig.engine.stops.get(sig.signal_id).to_dict()
    assert before["initial_stop"] == "61780.10" and before["target"] == "61830.100"
    await rig.engine.stop()
    await rig.bus.stop()

    again = await make_rig(
        open_store(), settings(leverage=Decimal(50)), clock=Clock(BTC_TICKS[500].ts)
    )
    assert again.engine.stops.get(sig.signal_id).to_dict() == before
    # an older snapshot: no initial stop or target in it
    old = {k: v for k, v in before.items() if k not in ("initial_stop", "target")}
    again.store.put_state(STOPS_STATE, {"stops": [old]})
    await again.bus.stop()
    third = await make_rig(
        open_store(), settings(leverage=Decimal(50)), clock=Clock(BTC_TICKS[500].ts)
    )
    assert third.engine.stops.get(sig.signal_id).to_dict() == before
    # no snapshot at all: armed from the position (entry fill, initial stop, target)
    third.store.put_state(STOPS_STATE, {"stops": []})
    await third.bus.stop()
    fourth = await make_rig(
        open_store(), settings(leverage=Decimal(50)), clock=Clock(BTC_TICKS[500].ts)
    )
    stop = fourth.engine.stops.get(sig.signal_id)
    assert (stop.initial_stop, stop.target) == (Decimal("61780.10"), Decimal("61830.100"))
    assert stop.extreme == Decimal("61806.28001") and stop.stop_price == Decimal("61780.10")
    await fourth.feed(BTC_TICKS[500:962])
    closed = fourth.store.get_position(sig.signal_id)
    assert closed.close_reason == "target 61830.100 reached by trade at 61830.40"
    await fourth.bus.stop()
