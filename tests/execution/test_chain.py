"""The execution chain on the paper exchange with real prices: acceptance and every
handler's refusal path."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import get_args

import pytest

from tapeflow.bus import EventBus
from tapeflow.config.execution import (
    DEFAULT_HANDLERS,
    ExecutionSettings,
    HandlerName,
    RestingStopSettings,
    RiskSettings,
)
from tapeflow.execution.chain import ExecutionChain, refuse
from tapeflow.execution.context import SignalContext
from tapeflow.execution.handlers import HANDLERS
from tapeflow.model.events import (
    OrderFailed,
    OrderFilled,
    OrderPlaced,
    PositionOpened,
    SignalGenerated,
    TradeTickReceived,
)
from tapeflow.model.records import Position
from tests.execution.engine_support import BTC, ETH, drain, make_rig
from tests.execution.support import real_ticks, signal

BTC_TICKS = real_ticks("usdm", "BTCUSDT", "20240808")
ETH_TICKS = real_ticks("usdm", "ETHUSDT", "20240808")


def settings(**kw) -> ExecutionSettings:
    kw.setdefault("risk", RiskSettings(leverage=Decimal(5), max_position_pct=Decimal(50)))
    kw.setdefault("resting_stops", RestingStopSettings(enabled=False))  # see test_resting.py
    return ExecutionSettings(risk_check_interval_s=0, slippage_bps=Decimal(1), **kw)


async def test_accepted_signal_places_fills_and_arms_the_stop(store, tmp_path):
    rig = await make_rig(store, settings(), refusal_path=tmp_path / "refusals.jsonl")
    await rig.feed(BTC_TICKS[:100])
    entry = BTC_TICKS[99].price
    sig = signal(BTC, "long", entry, entry - 300)
    result = await rig.engine.on_signal(sig)
    assert result.accepted and result.refused_by is None
    assert result.entry_order.client_order_id == f"tf-{sig.signal_id}-en"
    assert result.entry_order.status == "open"  # paper: waits for the next trade
    assert result.position.status == "pending"
    # sizing: 1 % of 10,000 over a 300 USDT stop distance = 0.333 BTC
    assert result.entry_order.quantity == Decimal("0.333")
    await rig.feed(BTC_TICKS[100:101])
    pos = rig.engine.book.get(sig.signal_id)
    fill_price = BTC_TICKS[100].price * (1 + Decimal(1) / 10_000)
    assert pos.status == "open" and pos.entry_price == fill_price
    stop = rig.engine.stops.get(sig.signal_id)
    # the 0.5 % trail (regular asset class) is looser than the signal's stop: the signal's
    # stop is the protective level until the trail passes it
    assert fill_price * Decimal("0.995") < sig.stop_loss
    assert stop.trailing_level() == fill_price * Decimal("0.995")
    assert stop.stop_price == sig.stop_loss == stop.initial_stop
    events = await drain(rig)
    kinds = [type(e) for e in events if isinstance(e, OrderPlaced | OrderFilled | PositionOpened)]
    assert kinds == [OrderPlaced, OrderFilled, PositionOpened]
    assert rig.store.get_order(f"tf-{sig.signal_id}-en").status == "filled"
    assert not (tmp_path / "refusals.jsonl").exists()


async def test_refusal_risk_gate(store, tmp_path):
    rig = await make_rig(store, settings(), refusal_path=tmp_path / "r.jsonl")
    await rig.feed(BTC_TICKS[:10])
    rig.engine.risk.set_health("feed", False, "binance/usdm disconnected")
    p = BTC_TICKS[9].price
    res = await rig.engine.on_signal(signal(BTC, "long", p, p - 200))
    assert (res.accepted, res.refused_by) == (False, "risk")
    assert res.reason == "health degraded (feed: binance/usdm disconnected)"
    [line] = (tmp_path / "r.jsonl").read_text().splitlines()
    rec = json.loads(line)
    assert rec["handler"] == "risk" and rec["symbol"] == "binance/usdm/BTCUSDT"
    assert rig.engine.chain.refusals.counts == {"risk": 1}
    assert rig.store.list_positions() == []


async def test_refusal_existing_position(store):
    rig = await make_rig(store, settings())
    await rig.feed(BTC_TICKS[:10])
    p = BTC_TICKS[9].price
    first = signal(BTC, "long", p, p - 200, minute=1)
    assert (await rig.engine.on_signal(first)).accepted
    again = await rig.engine.on_signal(first)  # the same decision delivered twice
    assert again.refused_by == "existing_position"
    assert again.reason == f"signal already executed: position {first.signal_id} is pending"
    other = await rig.engine.on_signal(signal(BTC, "long", p, p - 200, minute=2))
    assert other.refused_by == "existing_position"
    assert other.reason.startswith("already long binance/usdm/BTCUSDT")
    assert len(rig.paper.state()["orders"]) == 1  # one order for one decision


async def test_reversal_closes_the_opposite_position_first(store):
    rig = await make_rig(store, settings())
    await rig.feed(BTC_TICKS[:10])
    p = BTC_TICKS[9].price
    long = signal(BTC, "long", p, p - 200, minute=1)
    await rig.engine.on_signal(long)
    short = signal(BTC, "short", p, p + 200, minute=2)
    pending = await rig.engine.on_signal(short)  # the long has not filled yet
    assert pending.refused_by == "reversal"
    assert pending.reason == f"opposite position {long.signal_id} is still pending its entry fill"
    await rig.feed(BTC_TICKS[10:11])  # long opens
    short = signal(BTC, "short", p, p + 200, minute=3)
    res = await rig.engine.on_signal(short)
    assert res.accepted
    assert rig.engine.book.get(long.signal_id).status == "closing"
    await rig.feed(BTC_TICKS[11:12])  # both orders fill on the next trade, exit first
    closed = rig.store.get_position(long.signal_id)
    assert closed.status == "closed" and closed.close_reason == "reversal to short"
    assert rig.engine.book.get(short.signal_id).status == "open"
    assert await rig.paper.fetch_positions() == [
        p for p in await rig.paper.fetch_positions() if p.direction == "short"
    ]


async def test_reversal_refused_when_the_exit_is_rejected(store):
    rig = await make_rig(store, settings())
    await rig.feed(BTC_TICKS[:10])
    # a position whose quantity the exchange cannot trade (not a step multiple)
    store.put_position(
        Position(
            position_id="0123456789abcdef0123",
            symbol=str(BTC),
            direction="long",
            status="open",
            quantity=Decimal("0.0005"),
            entry_price=BTC_TICKS[0].price,
        )
    )
    rig.engine.book.load()
    p = BTC_TICKS[9].price
    res = await rig.engine.on_signal(signal(BTC, "short", p, p + 200))
    assert res.refused_by == "reversal"
    assert "could not close opposite position 0123456789abcdef0123" in res.reason
    assert "not a multiple of the step" in res.reason
    assert rig.engine.book.get("0123456789abcdef0123").status == "open"  # back from closing


async def test_refusal_position_limit(store):
    rig = await make_rig(store, settings(max_concurrent=1))
    await rig.feed(BTC_TICKS[:10])
    await rig.feed(ETH_TICKS[:10])
    p = BTC_TICKS[9].price
    assert (await rig.engine.on_signal(signal(BTC, "long", p, p - 200))).accepted
    q = ETH_TICKS[9].price
    res = await rig.engine.on_signal(signal(ETH, "long", q, q - 20))
    assert (res.refused_by, res.reason) == ("position_limit", "1 positions active; limit 1")


async def test_refusal_sizing_below_minimum_notional(store):
    rig = await make_rig(
        store, settings(paper_balance=Decimal(100), risk=RiskSettings(max_position_pct=Decimal(10)))
    )
    await rig.feed(BTC_TICKS[:10])
    p = BTC_TICKS[9].price
    res = await rig.engine.on_signal(signal(BTC, "long", p, p - 200))
    assert res.refused_by == "sizing"
    assert res.reason.startswith("size refused: size rounds to zero")
    big_stop = await rig.engine.on_signal(signal(BTC, "long", p, p + 1, minute=5))
    assert big_stop.reason == f"size refused: long stop {p + 1} is not below entry {p}"


async def test_refusal_exposure_total_and_symbol(store):
    rig = await make_rig(
        store, settings(max_total_notional=Decimal(25_000), max_symbol_notional=Decimal(15_000))
    )
    await rig.feed(BTC_TICKS[:10])
    await rig.feed(ETH_TICKS[:10])
    p = BTC_TICKS[9].price
    first = await rig.engine.on_signal(signal(BTC, "long", p, p - 300))  # ~20.6k notional
    assert first.refused_by == "exposure"
    assert first.reason.startswith("binance/usdm/BTCUSDT notional ")
    assert first.reason.endswith("would exceed 15000")
    ok = await rig.engine.on_signal(signal(BTC, "long", p, p - 600, minute=1))  # ~10.3k
    assert ok.accepted
    q = ETH_TICKS[9].price
    eth = await rig.engine.on_signal(signal(ETH, "long", q, q - 10))  # 10 % cap ~ 25k
    assert eth.refused_by == "exposure"
    assert eth.reason.startswith("total notional ") and eth.reason.endswith("exceed 25000")


async def test_refusal_placement_when_the_exchange_rejects(store):
    # sized at 100 % of the balance from a stale reference price 10 % below the market:
    # at the real price the margin is short, and the exchange refuses
    s = settings(risk=RiskSettings(risk_per_trade=Decimal("0.1"), max_position_pct=Decimal(100)))
    rig = await make_rig(store, s)
    await rig.feed(BTC_TICKS[:10])
    p = BTC_TICKS[9].price * Decimal("0.9")
    sig = signal(BTC, "long", p, p - 50)
    res = await rig.engine.on_signal(sig)
    assert res.refused_by == "placement"
    assert res.reason.startswith("entry order rejected: rejected: insufficient margin")
    pos = store.get_position(sig.signal_id)
    assert pos.status == "closed" and pos.close_reason.startswith("entry rejected")
    assert store.get_order(f"tf-{sig.signal_id}-en").status == "rejected"
    [failed] = [e for e in await drain(rig) if isinstance(e, OrderFailed)]
    assert failed.client_order_id == f"tf-{sig.signal_id}-en"
    assert failed.reason.startswith("rejected: insufficient margin")


async def test_without_monitoring_no_trailing_stop(store):
    handlers = ("existing_position", "sizing", "placement")
    rig = await make_rig(store, settings(handlers=handlers))
    assert rig.engine.chain.names == list(handlers)
    await rig.feed(BTC_TICKS[:10])
    p = BTC_TICKS[9].price
    sig = signal(BTC, "long", p, p - 200)
    assert (await rig.engine.on_signal(sig)).accepted
    await rig.feed(BTC_TICKS[10:11])
    assert rig.engine.book.get(sig.signal_id).status == "open"
    assert len(rig.engine.stops) == 0


async def test_a_failing_handler_refuses():
    class Boom:
        name = "boom"

        async def __call__(self, ctx):
            raise RuntimeError("kaput")

    class Never:
        name = "never"

        async def __call__(self, ctx):  # pragma: no cover - must not run
            raise AssertionError

    chain = ExecutionChain([Boom(), Never()])
    p = BTC_TICKS[0].price
    sig = signal(BTC, "long", p, p - 1)
    res = await chain.process(SignalContext(sig, BTC, BTC_TICKS[0].ts, RiskSettings()))
    assert (res.refused_by, res.reason) == ("boom", "handler error: RuntimeError: kaput")
    assert refuse("x").ok is False


def test_every_configurable_handler_has_a_factory_under_its_class_name():
    assert tuple(HANDLERS) == DEFAULT_HANDLERS == get_args(HandlerName)


@pytest.mark.parametrize(
    ("handlers", "message"),
    [
        (("sizing",), "'placement' is required"),
        (("placement", "sizing"), "'sizing' is required before 'placement'"),
        (("exposure", "sizing", "placement"), "must come after 'sizing'"),
        (("monitoring", "sizing", "placement"), "'monitoring' must come after 'placement'"),
        (("sizing", "sizing", "placement"), "listed more than once"),
    ],
)
def test_handler_order_is_validated(handlers, message):
    with pytest.raises(ValueError, match=message):
        ExecutionSettings(handlers=handlers)


async def test_engine_attached_to_the_bus_trades_from_events(store):
    rig = await make_rig(store, settings())
    bus = EventBus()
    rig.engine.attach(bus)
    await bus.start()
    for t in BTC_TICKS[:20]:
        await bus.publish(TradeTickReceived(tick=t))
    p = BTC_TICKS[19].price
    sig = signal(BTC, "long", p, p - 300)
    await bus.publish(SignalGenerated(signal=sig))
    await bus.stop()  # drained: ticks and signals travel in separate subscriber queues
    assert rig.engine.book.get(sig.signal_id).status == "pending"
    await bus.start()
    await bus.publish(TradeTickReceived(tick=BTC_TICKS[20]))
    await bus.stop()
    pos = rig.engine.book.get(sig.signal_id)
    assert pos.status == "open" and pos.entry_price == BTC_TICKS[20].price * (
        1 + Decimal(1) / 10_000
    )
