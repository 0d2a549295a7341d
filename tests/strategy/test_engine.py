"""The full engine over the real recordings: every evaluation is logged, and every number
in the decision log equals what the analytics views give for the same candle when asked
independently (indicators, candles, market profile, tick-level flow windows)."""

import asyncio
import math
import shutil
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from tapeflow.analytics.api import Analytics
from tapeflow.bus import EventBus
from tapeflow.config import parse_config
from tapeflow.model.events import CandleClosed, SignalGenerated
from tapeflow.model.signals import TradeSignal
from tapeflow.model.timeframes import floor_time
from tapeflow.store import TickStore
from tapeflow.strategy.decision_log import read_decisions
from tapeflow.strategy.engine import StrategyEngine
from tapeflow.strategy.levels import LEVELS
from tests.strategy.recordings import SYMBOLS, XRPETH

#: Thresholds relaxed (through defaults + a per-symbol override) so that the 2.5 days of
#: XRPETH reach every level; the shipped defaults need 200 15m candles before the regime.
RELAXED = {
    "defaults": {
        "strategy": {
            "indicators": {
                "ema_fast": 5,
                "ema_mid": 10,
                "ema_slow": 20,
                "hurst_window": 32,
                "autocorrelation_window": 20,
                "mean_reversion_window": 20,
            },
            "regime": {
                "min_adx": 10,
                "min_atr_pct": 0.1,
                "min_hurst": 0.0,
                "max_mean_reversion": 1.0,
            },
            "zone": {"atr_multiple": 1.0},
            "cascade": {"min_fast_imbalance": 1.0, "max_fast_imbalance": 0.9},
            "confluence": {"min_score": 0},
        }
    },
    "symbols": {
        "binance/spot/XRPETH": {
            "strategy": {
                "name": "relaxed",
                "bounce": {"min_strength": 0.4, "min_volume_spike": 1.0},
            }
        },
    },
}
START = datetime(2019, 10, 12, 0, 0, tzinfo=UTC)
END = datetime(2019, 10, 13, 11, 19, tzinfo=UTC)  # last closed 1m candle opens 11:18
MINUTE = timedelta(minutes=1)


def close(a, b, rel=1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, str) or isinstance(b, str):  # non-finite floats are logged as text
        return str(a) == str(b) or float(a) == float(b)
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-15)


@pytest.fixture(scope="module")
def replayed(recordings_template, tmp_path_factory):
    """The relaxed engine run over every XRPETH minute in [START, END), log flushed (one
    run per module, on a private copy of the store; tests only read it)."""
    root = tmp_path_factory.mktemp("replayed") / "store"
    shutil.copytree(recordings_template, root)
    store = TickStore(root)
    cfg = parse_config(RELAXED, env={})
    engine = StrategyEngine.from_config(store, cfg)
    engine.warm_up(as_of=START)
    t, decisions = START, []
    while t < END:
        decisions.append(engine.evaluate(XRPETH, t))
        t += MINUTE
    engine.flush()
    yield store, cfg.symbol(XRPETH), decisions
    store.close()


def test_every_evaluation_is_logged_once_and_levels_are_consistent(replayed):
    store, _, decisions = replayed
    with store.connection(XRPETH) as con:
        rows = read_decisions(con, last=10_000)
        (raw,) = con.execute("SELECT count(*) FROM decision_log").fetchall()[0]
    assert raw == len(rows) == len(decisions) == (END - START) // MINUTE
    reached = {r["level_reached"] for r in rows}
    assert reached >= {"regime", "zone", "cascade", "bounce", "signal"}
    for r in rows:
        assert r["strategy"] == "relaxed" and r["timeframe"] == "1m"
        evaluated = [lvl for lvl in LEVELS if lvl in r["levels"]]
        # evaluation stops at the first failure: levels form a prefix, all but the last pass
        assert evaluated == list(LEVELS[: len(evaluated)])
        for lvl in LEVELS:
            flag = r[f"{lvl}_pass"]
            assert flag == (r["levels"][lvl]["passed"] if lvl in r["levels"] else None)
        failed = [lvl for lvl in evaluated if not r["levels"][lvl]["passed"]]
        if r["level_reached"] == "signal":
            assert not failed and r["signal"] is not None
        else:
            assert failed == [r["level_reached"]] and r["signal"] is None
            assert r["reason"] == r["levels"][r["level_reached"]]["reason"]


def test_regime_metrics_equal_the_indicator_view(replayed):
    store, sym, _ = replayed
    p = sym.strategy.indicators
    ref = Analytics.from_store(store).indicators(
        XRPETH,
        "15m",
        ema=(p.ema_fast, p.ema_mid, p.ema_slow),
        atr=p.atr_period,
        adx=p.adx_period,
        hurst_window=p.hurst_window,
        autocorr_window=p.autocorrelation_window,
        mr_ema=p.mean_reversion_ema,
        mr_window=p.mean_reversion_window,
    )
    by_time = {r["open_time"]: r for r in ref.iter_rows(named=True)}
    with store.connection(XRPETH) as con:
        rows = read_decisions(con, last=10_000)
    checked = 0
    for r in rows:
        m = r["levels"]["regime"]["metrics"]
        candle_time = r["candle_time"].replace(tzinfo=UTC)
        # the last 15m candle closed at the evaluated 1m candle's close
        expect = floor_time(candle_time + MINUTE, timedelta(minutes=15)) - timedelta(minutes=15)
        assert datetime.fromisoformat(m["candle"]) == expect
        v = by_time[expect]
        for name, col in (
            ("ema_fast", "ema_5"),
            ("ema_mid", "ema_10"),
            ("ema_slow", "ema_20"),
            ("atr", "atr"),
            ("atr_pct", "atr_pct"),
            ("adx", "adx"),
            ("hurst", "hurst"),
            ("mean_reversion", "mean_reversion"),
        ):
            assert close(m[name], v[col]), (r["candle_time"], name, m[name], v[col])
        checked += 1
    assert checked > 2000


def test_zone_cascade_and_bounce_metrics_equal_the_views(replayed):
    store, _, _ = replayed
    analytics = Analytics.from_store(store)
    with store.connection(XRPETH) as con:
        rows = read_decisions(con, last=10_000)
    sparse = analytics.candles(XRPETH, "1m", START - timedelta(hours=1), END)
    cont = analytics.candles(XRPETH, "1m", START - timedelta(hours=1), END, continuous=True)
    vol = dict(zip(cont["open_time"], cont["volume"], strict=True))
    profiles: dict[tuple, object] = {}
    zone_rows = cascade_rows = bounce_rows = 0
    for r in rows:
        t = r["candle_time"].replace(tzinfo=UTC)
        levels = r["levels"]
        if "zone" in levels and levels["zone"]["metrics"].get("tolerance") is not None:
            m = levels["zone"]["metrics"]
            traded = sparse.filter(pl.col("open_time") <= t).tail(1).row(0, named=True)
            assert Decimal(m["close"]) == traded["close"]
            key = (m["profile_start"], m["profile_end"], m["bucket_size"])
            if key not in profiles:
                profiles[key] = analytics.market_profile(
                    XRPETH,
                    m["profile_start"],
                    m["profile_end"],
                    bucket=Decimal(m["bucket_size"]),
                    value_area=0.70,
                ).summary
            ref = profiles[key]
            assert (Decimal(m["poc"]), Decimal(m["vah"]), Decimal(m["val"])) == (
                ref.poc,
                ref.vah,
                ref.val,
            )
            zone_rows += 1
        if "cascade" in levels:
            m = levels["cascade"]["metrics"]
            end = t + MINUTE
            for name, seconds in (("fast", 60), ("middle", 300), ("longest", 900)):
                ref = analytics.flow_window(XRPETH, end, seconds)["imbalance"][0]
                assert close(m[name], ref), (t, name, m[name], ref)
            cascade_rows += 1
        if "bounce" in levels and levels["bounce"]["metrics"]:
            m = levels["bounce"]["metrics"]
            bar = sparse.filter(pl.col("open_time") == t).row(0, named=True)
            assert [Decimal(m[k]) for k in ("open", "high", "low", "close", "volume")] == [
                bar[k] for k in ("open", "high", "low", "close", "volume")
            ]
            prev = [vol[t - i * MINUTE] for i in range(1, 20)]
            expect = float(bar["volume"] / (sum(prev) / 19)) if sum(prev) else math.inf
            assert close(m["volume_spike"], expect)
            bounce_rows += 1
    assert zone_rows > 1000 and cascade_rows > 300 and bounce_rows > 20


def test_signals_carry_the_level_figures(replayed):
    store, _, decisions = replayed
    signals = [d.signal for d in decisions if d.signal is not None]
    assert len(signals) >= 5
    with store.connection(XRPETH) as con:
        logged = {r["signal_id"]: r for r in read_decisions(con, last=10_000) if r["signal_id"]}
    assert set(logged) == {s.signal_id for s in signals}
    for sig in signals:
        r = logged[sig.signal_id]
        z = r["levels"]["zone"]["metrics"]
        b = r["levels"]["bounce"]["metrics"]
        c = r["levels"]["cascade"]["metrics"]
        assert sig.entry_price == Decimal(z["close"]) == Decimal(b["close"])
        assert sig.stop_loss == Decimal(z["stop"])
        zone_edge = z["zone"]["low"] if sig.direction == "long" else z["zone"]["high"]
        assert sig.stop_loss == Decimal(zone_edge)  # stop_buffer_atr = 0: at the boundary
        assert (sig.stop_loss < sig.entry_price) == (sig.direction == "long")
        fast = float(c["fast"])
        directional = fast if sig.direction == "long" else (1 / fast if fast else math.inf)
        assert close(sig.entry_score, b["strength"] * directional)
        assert sig.zone_strength == z["zone"]["strength"]
        assert sig.confluence == r["levels"]["confluence"]["metrics"]["score"]
        assert r["signal"]["entry_price"] == str(sig.entry_price)
        assert sig.strategy == "relaxed" and sig.key == XRPETH
        again = TradeSignal(
            sig.key, sig.direction, sig.entry_price, sig.stop_loss, sig.candle_time, sig.strategy
        )
        assert again.signal_id == sig.signal_id


def test_default_config_on_every_recording_stops_at_the_regime(recorded_store):
    """Shipped thresholds: the captures are too short to define every indicator on 15m
    candles (warming up, naming exactly the indicators the view has no value for) — also
    across the July/August USD-M captures: the three weeks between them are a data gap, not
    flat candles, so the August evaluations start afresh (no closed 15m candle yet: every
    input undefined, and the reason names the gap). Every evaluation is recorded with the
    view's values."""
    cfg = parse_config({"symbols": [str(k) for k in SYMBOLS]}, env={})
    engine = StrategyEngine.from_config(recorded_store, cfg)
    engine.warm_up()
    analytics = Analytics.from_store(recorded_store)
    names = {
        "ema_fast": "ema_20",
        "ema_mid": "ema_50",
        "ema_slow": "ema_200",
        "atr_pct": "atr_pct",
        "adx": "adx",
        "hurst": "hurst",
    }
    warming = set()
    for key in SYMBOLS:
        candles = analytics.candles(key, "1m", closed_only=True)
        times = candles["open_time"].to_list()[-12:]
        for t in times:
            assert engine.evaluate(key, t).level_reached == "regime"
        engine.flush()
        with recorded_store.connection(key) as con:
            rows = read_decisions(con, last=100)
        assert len(rows) == len(times)
        if key == XRPETH:
            continue
        for r in rows:
            # the view over the candles the engine's features were computed from
            history_start = r["levels"]["context"]["first_candle"]
            ind = analytics.indicators(key, "15m", start=history_start)
            by_time = {v["open_time"]: v for v in ind.iter_rows(named=True)}
            m = r["levels"]["regime"]["metrics"]
            if m["candle"] is None:  # after the July/August gap: nothing closed yet
                assert key.market == "usdm" and m["regime"] == "warming_up"
                assert m["close"] is None and m["atr"] is None
                assert r["reason"].startswith("warming up after a data gap (no data between ")
                warming.add(True)
                continue
            view = by_time[datetime.fromisoformat(m["candle"])]
            for name, col in names.items():
                assert close(m[name], view[col]), (key, name)
            missing = [n for n, col in names.items() if view[col] is None]
            if missing:
                assert m["regime"] == "warming_up"
                after_gap = "warming up after a data gap" if key.market == "usdm" else "warming up"
                assert r["reason"].startswith(after_gap)
                assert r["reason"].endswith(f": {', '.join(missing)} not yet defined")
            else:  # defined over the filled capture gap: the ranging tests decide
                assert m["regime"] == "ranging"
                expect = [
                    word
                    for word, hit in (
                        ("adx", view["adx"] < 20),
                        ("atr%", view["atr_pct"] < 0.5),
                        ("hurst", view["hurst"] < 0.55),
                        ("mean reversion", (view["mean_reversion"] or 0) > 0.6),
                    )
                    if hit
                ]
                causes = m["ranging_because"]
                if not expect:
                    assert causes == ["EMAs not stacked with close beyond EMA fast"]
                assert [c.split(" ")[0] for c in causes[: len(expect)]] == [
                    w.split(" ")[0] for w in expect
                ]
            warming.add(m["regime"] == "warming_up")
    assert warming == {True}


async def test_bus_publishes_signals_and_ignores_other_timeframes(replayed, recorded_store):
    _, _, decisions = replayed
    first = next(d for d in decisions if d.signal is not None)
    cfg = parse_config(RELAXED, env={})
    bus = EventBus()
    engine = StrategyEngine.from_config(recorded_store, cfg, bus=bus)
    engine.warm_up(as_of=first.candle_time)
    got: list[SignalGenerated] = []
    bus.subscribe(SignalGenerated, got.append, name="collector")
    engine.subscribe()
    await bus.start()
    close_ = first.signal.entry_price
    await bus.publish(
        CandleClosed(key=XRPETH, timeframe="15m", open_time=first.candle_time, close=close_)
    )
    await bus.publish(
        CandleClosed(key=XRPETH, timeframe="1m", open_time=first.candle_time, close=close_)
    )
    for _ in range(200):
        if got:
            break
        await asyncio.sleep(0.05)
    await bus.stop()
    engine.close()  # stops the background decision-log writer, writes what is queued
    assert [e.signal.signal_id for e in got] == [first.signal.signal_id]
    assert engine.stats()[str(XRPETH)]["evaluations"] == 1
    with recorded_store.connection(XRPETH) as con:
        (logged,) = read_decisions(con, last=5)
    assert logged["signal_id"] == first.signal.signal_id


def test_invalidate_recomputes_the_same_features(recorded_store):
    cfg = parse_config(RELAXED, env={})
    engine = StrategyEngine.from_config(recorded_store, cfg)
    t = datetime(2019, 10, 13, 9, 23, tzinfo=UTC)
    engine.warm_up(as_of=START)
    before = engine.evaluate(XRPETH, t)
    engine.invalidate(XRPETH)
    assert engine.runtime(XRPETH).features.last_open_time is None
    after = engine.evaluate(XRPETH, t)
    # rebuilt from the last 600 stored 15m candles (here: all since the recording's start)
    m0, m1 = before.levels[0].metrics, after.levels[0].metrics
    assert m0.keys() == m1.keys()
    assert all(close(m0[k], m1[k]) if isinstance(m0[k], float) else m0[k] == m1[k] for k in m0)
    assert after.context["last_candle"] == before.context["last_candle"]
    assert after.level_reached == before.level_reached


def test_default_confluence_scores_by_the_seeds_rules(replayed):
    """With no ``confluence.rules`` configured the engine scores by seed 001 §5.6: the
    autocorrelation and mean-reversion points of every scored candidate equal the seed's
    rules applied to the indicator view's values for the same 15m candle, and the score is
    the sum of the filters."""
    store, sym, _ = replayed
    s = sym.strategy.confluence
    assert s.rules == "seed"
    p = sym.strategy.indicators
    ref = Analytics.from_store(store).indicators(
        XRPETH,
        "15m",
        ema=(p.ema_fast, p.ema_mid, p.ema_slow),
        atr=p.atr_period,
        adx=p.adx_period,
        hurst_window=p.hurst_window,
        autocorr_window=p.autocorrelation_window,
        mr_ema=p.mean_reversion_ema,
        mr_window=p.mean_reversion_window,
    )
    by_time = {r["open_time"]: r for r in ref.iter_rows(named=True)}
    with store.connection(XRPETH) as con:
        rows = [r for r in read_decisions(con, last=10_000) if "confluence" in r["levels"]]
    seen = {"autocorrelation": set(), "mean_reversion_distance": set()}
    for r in rows:
        m = r["levels"]["confluence"]["metrics"]
        f = m["filters"]
        candle_time = r["candle_time"].replace(tzinfo=UTC)
        v = by_time[floor_time(candle_time + MINUTE, timedelta(minutes=15)) - timedelta(minutes=15)]
        ac = v["autocorrelation"]
        want_ac = 0.0 if ac is None else 1.0 if abs(ac) > 0.6 or abs(ac) < 0.3 else 0.5
        assert f["autocorrelation"]["points"] == want_ac, (r["candle_time"], ac)
        entry = float(r["levels"]["zone"]["metrics"]["close"])
        d = (entry - v["mean_reversion_ema"]) / v["mean_reversion_sigma"]
        toward = -d if r["direction"] == "long" else d
        want_mr = 1.5 if toward >= 2 else 0.75 if toward >= 1 else 0.0
        assert f["mean_reversion_distance"]["points"] == want_mr, (r["candle_time"], d)
        if r["direction"] == "short":  # the seed scores demand zones for longs only
            assert f["zone_quality"]["points"] == 0.0
        assert close(m["score"], sum(x["points"] for x in f.values()))
        for name in seen:
            seen[name].add(f[name]["points"])
    assert len(rows) >= 5
    # partial credits exist only under the seed's rules (tapeflow's filters are all or none)
    assert 0.5 in seen["autocorrelation"]
