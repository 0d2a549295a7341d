"""Dump detection: each signal at its threshold and just below (pure logic); the inputs read
through the analytics equal an independent computation from the raw Tardis CSV (two hours
of Binance USD-M BTCUSDT trades); the early exit through the real engine."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tapeflow.config.execution import DumpSettings, ExecutionSettings
from tapeflow.execution.dump import Bar1m, DumpInputs, dump_signals, read_dump_inputs
from tapeflow.execution.market_exits import MarketExits
from tapeflow.model.events import CandleClosed, ForceExitRequired
from tapeflow.model.ticks import TradeTick
from tapeflow.sources import import_paths
from tapeflow.store import TickStore
from tests.execution.engine_support import BTC, drain, make_rig
from tests.execution.support import signal
from tests.support.paths import TARDIS_CSV

S = DumpSettings()
EPS = Decimal("0.00000001")
FLAT = Bar1m(*(Decimal(x) for x in ("100", "101", "99", "100", "10", "10")))


def inputs(**kw) -> DumpInputs:
    base = dict(
        bars=[FLAT] * 21,
        flow_imbalance=1.0,
        price=Decimal(100),
        ema=99.0,
        quote_volume_recent=Decimal(1000),
        quote_volume_before=Decimal(1000),
    )
    base.update(kw)
    return DumpInputs(**base)


def bar(buy="10", sell="10", o="100", h="101", lo="99", c="100") -> Bar1m:
    return Bar1m(Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(buy), Decimal(sell))


def test_nothing_fires_on_a_calm_tape():
    assert dump_signals(inputs(), S, meme=True) == []


def test_volume_reversal_needs_sell_above_1_5x_buy_in_each_of_3_candles():
    at = [bar(buy="10", sell="15")] * 3
    above = [bar(buy="10", sell=str(15 + EPS))] * 3
    two = [FLAT, *above[:2]]
    assert dump_signals(inputs(bars=[FLAT] * 18 + at), S) == []
    assert dump_signals(inputs(bars=[FLAT] * 18 + above), S) == ["volume_reversal"]
    assert dump_signals(inputs(bars=[FLAT] * 18 + two), S) == []


def test_flow_flip_below_0_4():
    assert dump_signals(inputs(flow_imbalance=0.4), S) == []
    assert dump_signals(inputs(flow_imbalance=0.39999), S) == ["flow_flip"]
    assert dump_signals(inputs(flow_imbalance=None), S) == []


def test_momentum_break_below_the_ema():
    assert dump_signals(inputs(price=Decimal(99), ema=99.0), S) == []
    assert dump_signals(inputs(price=Decimal("98.99999"), ema=99.0), S) == ["momentum_break"]
    assert dump_signals(inputs(price=Decimal(1), ema=None), S) == []  # not enough history


def test_liquidity_drop_of_30_pct_in_10_min_meme_only_by_default():
    at = inputs(quote_volume_recent=Decimal(700))
    just = inputs(quote_volume_recent=Decimal(700) + EPS)
    assert dump_signals(at, S, meme=True) == ["liquidity_drop"]
    assert dump_signals(just, S, meme=True) == []
    assert dump_signals(at, S, meme=False) == []
    assert dump_signals(at, DumpSettings(liquidity_meme_only=False)) == ["liquidity_drop"]


def test_rejection_at_resistance():
    prior = [bar(h="105")] + [FLAT] * 19
    at = bar(o="104", h="105", lo="99", c="101")  # tested 105, closed red in the lower half
    below = bar(o="104", h=str(105 - EPS), lo="99", c="101")
    green = bar(o="100", h="105", lo="99", c="101")
    assert dump_signals(inputs(bars=[*prior, at]), S) == ["resistance_reject"]
    assert dump_signals(inputs(bars=[*prior, below]), S) == []
    assert dump_signals(inputs(bars=[*prior, green]), S) == []


def test_signals_can_be_switched_off():
    x = inputs(flow_imbalance=0.1, price=Decimal(1))
    assert dump_signals(x, S) == ["flow_flip", "momentum_break"]
    assert dump_signals(x, DumpSettings(signals=("flow_flip",))) == ["flow_flip"]


# -- real data ---------------------------------------------------------------------------


def raw_trades() -> list[tuple[datetime, Decimal, Decimal, str]]:
    with open(TARDIS_CSV, newline="") as fh:
        return [
            (
                datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(r["timestamp"])),
                Decimal(r["price"]),
                Decimal(r["amount"]),
                r["side"],
            )
            for r in csv.DictReader(fh)
        ]


def reference_inputs(trades, end: datetime, s: DumpSettings) -> DumpInputs:
    """The inputs from the raw CSV with plain Python (no tapeflow, no SQL)."""

    def window(a, b):
        return [t for t in trades if a <= t[0] < b]

    minute = timedelta(minutes=1)
    bars = []
    for k in range(s.resistance_lookback + 1, 0, -1):
        ts = window(end - k * minute, end - (k - 1) * minute)
        p = [t[1] for t in ts]
        bars.append(
            Bar1m(
                p[0],
                max(p),
                min(p),
                p[-1],
                sum((t[2] for t in ts if t[3] == "buy"), Decimal(0)),
                sum((t[2] for t in ts if t[3] == "sell"), Decimal(0)),
            )
        )
    flow = window(end - timedelta(seconds=s.flow_window_s), end)
    buy = sum(t[2] for t in flow if t[3] == "buy")
    sell = sum(t[2] for t in flow if t[3] == "sell")
    start = trades[0][0].replace(minute=0, second=0, microsecond=0)
    closes = []
    t0 = start
    while t0 + timedelta(minutes=5) <= end:
        closes.append(float(window(t0, t0 + timedelta(minutes=5))[-1][1]))
        t0 += timedelta(minutes=5)
    n = s.ema_period
    ema = sum(closes[:n]) / n
    for c in closes[n:]:
        ema = ema + 2 / (n + 1) * (c - ema)
    w = timedelta(minutes=s.liquidity_window_min)
    return DumpInputs(
        bars=bars,
        flow_imbalance=float(buy / sell),
        price=window(end - minute, end)[-1][1],
        ema=ema,
        quote_volume_recent=sum((t[1] * t[2] for t in window(end - w, end)), Decimal(0)),
        quote_volume_before=sum((t[1] * t[2] for t in window(end - 2 * w, end - w)), Decimal(0)),
    )


@pytest.fixture(scope="module")
def tardis_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("tardis")
    store = TickStore(root)
    import_paths(store, [TARDIS_CSV], progress=False)
    yield store
    store.close()


MINUTES = [datetime(2020, 2, 22, 1, 41, tzinfo=UTC) + timedelta(minutes=k) for k in range(24)]


def test_inputs_read_through_the_analytics_equal_the_raw_trades(tardis_store):
    trades = raw_trades()
    fired_any = set()
    for end in MINUTES:
        ref = reference_inputs(trades, end, S)
        with tardis_store.connection(BTC) as con:
            got = read_dump_inputs(con, end, ref.price, S)
        assert got.bars == ref.bars[-len(got.bars) :] and len(got.bars) >= S.reversal_candles
        assert got.flow_imbalance == pytest.approx(ref.flow_imbalance, rel=1e-12)
        assert got.ema == pytest.approx(ref.ema, rel=1e-12)
        assert (got.quote_volume_recent, got.quote_volume_before) == (
            ref.quote_volume_recent,
            ref.quote_volume_before,
        )
        fired = dump_signals(got, S)
        assert fired == dump_signals(ref, S), end
        fired_any.update(fired)
    assert "momentum_break" in fired_any  # the real tape does dump in this window


async def test_a_dump_exits_the_long_early_through_the_engine(tardis_store, store):
    trades = raw_trades()
    rig = await make_rig(store, ExecutionSettings(risk_check_interval_s=0))
    engine = rig.engine  # the rig has no tick store: give it the market exits over Tardis
    engine.market_exits = MarketExits(
        engine.settings, tardis_store, engine.book, engine._marks, engine.force_exit
    )
    with tardis_store.connection(BTC) as con:
        rows = con.execute(
            "SELECT trade_id, ts, price, quantity, side FROM ticks ORDER BY trade_id"
        ).fetchall()
    ticks = [
        TradeTick(BTC, i, ts.replace(tzinfo=UTC), Decimal(p), Decimal(q), side)
        for i, ts, p, q, side in rows
    ]
    entry_at = datetime(2020, 2, 22, 1, 40, tzinfo=UTC)
    before = [t for t in ticks if t.ts < entry_at]
    await rig.feed(before)
    p = before[-1].price
    sig = signal(BTC, "long", p, p * Decimal("0.98"), minute=40)
    assert (await engine.on_signal(sig)).accepted
    exited_at = None
    for end in MINUTES:
        await rig.feed([t for t in ticks if end - timedelta(minutes=1) <= t.ts < end])
        if engine.book.get(sig.signal_id).status != "open":
            break
        fired = await engine.market_exits.on_candle_closed(
            CandleClosed(key=BTC, timeframe="1m", open_time=end - timedelta(minutes=1), close=p)
        )
        expected = dump_signals(reference_inputs(trades, end, S), S)
        assert fired == expected, end
        if fired:
            exited_at = end
            break
    assert exited_at is not None
    assert engine.book.get(sig.signal_id).status == "closing"
    events = await drain(rig)
    [forced] = [e for e in events if isinstance(e, ForceExitRequired)]
    assert forced.rule == "dump" and forced.position_id == sig.signal_id
    assert forced.reason.endswith(": " + ", ".join(expected))
