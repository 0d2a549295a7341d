"""Operator controls and flattening on the execution engine itself (paper exchange, real
ticks): a paused symbol's entries are refused by the chain's ``risk`` handler and the pause
survives a restart; the paper exchange fills a flatten's exits at its last trade price."""

from __future__ import annotations

from decimal import Decimal

from tapeflow.config.execution import FlattenSettings
from tapeflow.execution.controls import OperatorControls
from tapeflow.execution.flatten import flatten
from tests.execution.engine_support import BTC, ETH, make_rig
from tests.execution.support import real_ticks, signal
from tests.execution.test_engine import settings

BTC_TICKS = real_ticks("usdm", "BTCUSDT", "20240808")
ETH_TICKS = real_ticks("usdm", "ETHUSDT", "20240808")


async def test_paused_symbol_refuses_entries_until_resumed_and_survives_restart(open_store):
    rig = await make_rig(open_store(), settings())
    controls = OperatorControls([rig.engine], [BTC, ETH])
    await rig.feed([*BTC_TICKS[:20], *ETH_TICKS[:20]])
    assert controls.pause("BTCUSDT").changed
    p = BTC_TICKS[19].price
    refused = await rig.engine.on_signal(signal(BTC, "long", p, p - 300))
    assert (refused.accepted, refused.refused_by) == (False, "risk")
    assert refused.reason == (
        "binance/usdm/BTCUSDT paused by the operator (tapeflow resume BTCUSDT lifts it)"
    )
    e = ETH_TICKS[19].price  # another symbol trades on
    assert (await rig.engine.on_signal(signal(ETH, "long", e, e - 20))).accepted

    again = await make_rig(open_store(), settings())  # a restart keeps the pause
    assert again.engine.pauses.symbols == ["binance/usdm/BTCUSDT"]
    later = signal(BTC, "long", p, p - 300, minute=1)
    assert (await again.engine.on_signal(later)).refused_by == "risk"
    controls = OperatorControls([again.engine], [BTC, ETH])
    assert controls.pause("BTCUSDT", False).messages == [
        "binance/usdm/BTCUSDT: resumed: new entries allowed"
    ]
    assert (await again.engine.on_signal(later)).accepted


async def test_paper_flatten_fills_exits_at_the_last_trade(store):
    rig = await make_rig(store, settings())
    await rig.feed(BTC_TICKS[:50])
    p = BTC_TICKS[49].price
    sig = signal(BTC, "long", p, p - 300)
    assert (await rig.engine.on_signal(sig)).accepted
    await rig.feed(BTC_TICKS[50:52])  # the entry fills at trade 50
    assert rig.engine.book.get(sig.signal_id).status == "open"

    report = await flatten(rig.engine, FlattenSettings())
    assert report.flat and report.attempts == 1 and report.closed == [sig.signal_id]
    closed = store.get_position(sig.signal_id)
    slip = Decimal(1) / Decimal(10_000)
    assert closed.status == "closed" and closed.close_reason == "flatten on exit"
    assert closed.exit_price == BTC_TICKS[51].price * (1 - slip)  # the last trade seen
    assert await rig.paper.fetch_open_orders() == []
    # flattening refused new entries from its start
    q = BTC_TICKS[51].price
    after = await rig.engine.on_signal(signal(BTC, "long", q, q - 300, minute=2))
    assert after.refused_by == "risk" and "flattening on exit" in after.reason
