"""Correlation exits on real Binance spot BTCUSDT/ETHUSDT trades (2024-08-08 23:54 to
2024-08-09 00:05): the leader's drop and the correlation match an independent computation,
and the exit fires at each threshold and not just short of it, through the real engine."""

from __future__ import annotations

import itertools
import math
import statistics
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tapeflow.bus import EventBus
from tapeflow.config.execution import CorrelationSettings, ExecutionSettings
from tapeflow.execution.correlation import change_pct, closes_1m, correlation
from tapeflow.execution.engine import ExecutionEngine
from tapeflow.execution.paper import PaperExchange
from tapeflow.model.events import ForceExitRequired
from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import import_paths
from tapeflow.store import TickStore
from tests.execution.engine_support import Clock
from tests.execution.support import capture_path, market_rules, real_ticks, signal

SBTC = SymbolKey("binance", "spot", "BTCUSDT")
SETH = SymbolKey("binance", "spot", "ETHUSDT")
NOW = datetime(2024, 8, 9, 0, 5, 0, 1000, tzinfo=UTC)  # the 00:04 candle is the last closed
SINCE = datetime(2024, 8, 8, 23, 0, tzinfo=UTC)


def ticks(sym: str):
    return real_ticks("spot", sym, "20240808") + real_ticks("spot", sym, "20240809")


def minute_closes(sym: str) -> dict[datetime, Decimal]:
    """Last trade price of each minute before 00:05, from the raw captures."""
    out: dict[datetime, Decimal] = {}
    for t in ticks(sym):
        if t.ts < NOW.replace(microsecond=0):
            out[t.ts.replace(second=0, microsecond=0)] = t.price
    return out


BTC_CLOSES, ETH_CLOSES = minute_closes("BTCUSDT"), minute_closes("ETHUSDT")
MINUTES = sorted(BTC_CLOSES)
DROP = (BTC_CLOSES[MINUTES[-1]] - BTC_CLOSES[MINUTES[0]]) / BTC_CLOSES[MINUTES[0]] * 100


def reference_correlation() -> float:
    def rets(c):
        xs = [float(c[m]) for m in MINUTES]
        return [math.log(b / a) for a, b in itertools.pairwise(xs)]

    return statistics.correlation(rets(BTC_CLOSES), rets(ETH_CLOSES))


@pytest.fixture(scope="module")
def spot_store(tmp_path_factory):
    store = TickStore(tmp_path_factory.mktemp("spot"))
    paths = [
        capture_path("spot", s, d) for s in ("btcusdt", "ethusdt") for d in ("20240808", "20240809")
    ]
    import_paths(store, paths, exchange="binance", market="spot", progress=False)
    yield store
    store.close()


def test_drop_and_correlation_equal_the_raw_trades(spot_store):
    with spot_store.connection(SBTC) as con:
        btc = closes_1m(con, SINCE, NOW)
    with spot_store.connection(SETH) as con:
        eth = closes_1m(con, SINCE, NOW)
    assert [t.replace(tzinfo=UTC) for t in btc["open_time"].to_list()] == MINUTES
    assert change_pct(btc, SINCE) == DROP < 0
    assert correlation(btc, eth, 10) == pytest.approx(reference_correlation(), abs=1e-12)
    assert correlation(btc, eth, 11) is None  # 10 returns only


async def engine_with_eth_long(state, spot_store, corr: CorrelationSettings):
    """An engine on paper spot fed every trade before ``NOW``, with a long ETHUSDT
    opened at 23:55."""
    engine, bus, events, pid = await engine_with_eth_long_or_closed(state, spot_store, corr)
    assert engine.book.get(pid).status == "open"
    return engine, bus, events, pid


async def engine_with_eth_long_or_closed(state, spot_store, corr: CorrelationSettings):
    settings = ExecutionSettings(
        market="spot", risk_check_interval_s=0, correlation=corr, dump={"enabled": False}
    )
    paper = PaperExchange(
        "binance/spot",
        {k: market_rules("spot", k.symbol) for k in (SBTC, SETH)},
        quote_asset="USDT",
        starting_balance=settings.paper_balance,
        fee_bps=settings.fee_bps,
        slippage_bps=settings.slippage_bps,
        leverage_for=lambda key: Decimal(1),
        store=state,
    )
    bus, clock, events = EventBus(), Clock(), []
    bus.subscribe(object, events.append, name="test.events")
    await bus.start()
    engine = ExecutionEngine(settings, paper, state, bus=bus, clock=clock, ticks=spot_store)
    await engine.start()
    feed = sorted(ticks("BTCUSDT") + ticks("ETHUSDT"), key=lambda t: (t.ts, t.trade_id))
    opened = None
    for t in feed:
        if t.ts >= NOW:
            break
        clock.now = t.ts
        await engine.on_tick(t)
        if opened is None and t.key == SETH and t.ts.minute == 55:
            sig = signal(SETH, "long", t.price, t.price * Decimal("0.98"), minute=55)
            assert (await engine.on_signal(sig)).accepted
            opened = sig.signal_id
    assert opened is not None
    return engine, bus, events, opened


def corr_settings(**kw) -> CorrelationSettings:
    """The rule under test, checked by hand at ``NOW`` only (not on the engine's cadence
    while the trades are fed)."""
    kw.setdefault("enabled", False)
    kw.setdefault("leaders", ("BTCUSDT",))
    kw.setdefault("min_points", 10)
    return CorrelationSettings(**kw)


@pytest.mark.parametrize(
    ("drop_pct", "min_corr", "exits"),
    [
        (-DROP, None, True),  # the leader fell exactly the threshold
        (-DROP + Decimal("1e-12"), None, False),  # ... just short of it
        (None, "corr", True),  # correlation exactly at the threshold
        (None, "corr+", False),  # ... just below it
        (Decimal("1.5"), None, False),  # the seed's default: BTC fell only 0.36 %
    ],
)
async def test_alts_correlated_with_a_dumping_leader_are_closed(
    open_store, spot_store, drop_pct, min_corr, exits
):
    ref = reference_correlation()
    corr_value = correlation_measured(spot_store)
    assert corr_value == pytest.approx(ref, abs=1e-12)
    kw = {}
    if drop_pct is not None:
        kw["leader_drop_pct"] = drop_pct
    else:
        kw["leader_drop_pct"] = -DROP
        kw["min_correlation"] = corr_value if min_corr == "corr" else math.nextafter(corr_value, 1)
    engine, bus, events, pid = await engine_with_eth_long(
        open_store(), spot_store, corr_settings(**kw)
    )
    engine.clock = lambda: NOW  # the check runs at NOW on the engine's clock
    [dump] = await engine.market_exits.check_correlation(NOW)
    assert (dump.leader, dump.change_pct) == ("binance/spot/BTCUSDT", DROP)
    await bus.stop()
    forced = [e for e in events if isinstance(e, ForceExitRequired)]
    if exits:
        assert dump.correlations == {"binance/spot/ETHUSDT": corr_value}
        assert [(e.position_id, e.rule) for e in forced] == [(pid, "correlation")]
        assert forced[0].reason.startswith(f"BTCUSDT {DROP:.3f}% in 60 min; correlation")
        assert engine.book.get(pid).status == "closing"
    else:
        assert forced == [] and engine.book.get(pid).status == "open"
    await engine.stop()


def correlation_measured(store) -> float:
    with store.connection(SBTC) as con:
        btc = closes_1m(con, SINCE, NOW)
    with store.connection(SETH) as con:
        eth = closes_1m(con, SINCE, NOW)
    value = correlation(btc, eth, 10)
    assert value is not None
    return value


async def test_the_engine_checks_correlations_every_minute_of_its_clock(open_store, spot_store):
    settings = corr_settings(enabled=True, leader_drop_pct=Decimal("0.2"), min_points=3)
    engine, bus, events, pid = await engine_with_eth_long_or_closed(
        open_store(), spot_store, settings
    )
    await bus.stop()
    [forced] = [e for e in events if isinstance(e, ForceExitRequired)]
    assert (forced.position_id, forced.rule) == (pid, "correlation")
    with spot_store.connection(SBTC) as con:
        btc = closes_1m(con, SINCE, forced.at)
    with spot_store.connection(SETH) as con:
        eth = closes_1m(con, SINCE, forced.at)
    since = forced.at - timedelta(minutes=60)
    assert change_pct(btc, since) <= Decimal("-0.2")
    assert correlation(btc, eth, 3) >= 0.7
    checks = engine._correlation_due
    assert checks.next_at is not None and checks.interval_s == 60
    await engine.stop()
