"""Incremental features == full recomputation, on the real XRPETH recording.

The engine computes each symbol's longest-timeframe features once from history and then
feeds closed candles one at a time. For any split point, "history up to k, then candles one
by one" must give the same indicators, zones, FVGs and order blocks as one pass over all of
them, and as the analytics' batch functions.
"""

import math
from dataclasses import astuple

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapeflow.analytics.closed_candles import iter_candles
from tapeflow.analytics.fvg import fvgs
from tapeflow.analytics.indicators import indicators
from tapeflow.analytics.structure import order_blocks
from tapeflow.analytics.zones import zones
from tapeflow.config import StrategySettings
from tapeflow.store import TickStore
from tapeflow.strategy import reads
from tapeflow.strategy.features import FeatureParams, LongestFeatures
from tests.strategy.recordings import XRPETH

PARAMS = FeatureParams.from_settings(StrategySettings())


@pytest.fixture(scope="module")
def frames(recordings_template) -> dict[str, pl.DataFrame]:
    """Closed continuous XRPETH candles per timeframe, read through the engine's reader."""
    store = TickStore(recordings_template, read_only=True)
    try:
        with store.connection(XRPETH) as con:
            last = reads.last_tick_time(con)
            first = reads.first_tick_time(con)
            out = {}
            for tf, width in (("15m", 15), ("5m", 5)):
                start = first.replace(minute=first.minute // width * width, second=0, microsecond=0)
                end = last.replace(minute=last.minute // width * width, second=0, microsecond=0)
                out[tf] = reads.closed_candles_frame(con, tf, start, end)
    finally:
        store.close()
    return out


def _same_float(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def _same_items(xs, ys) -> bool:
    """Frozen dataclass snapshots equal field by field (floats to 1e-9 relative)."""
    if len(xs) != len(ys):
        return False
    for x, y in zip(xs, ys, strict=True):
        for a, b in zip(astuple(x), astuple(y), strict=True):
            if isinstance(a, float) or isinstance(b, float):
                if not _same_float(a, b):
                    return False
            elif a != b:
                return False
    return True


def assert_same(inc: LongestFeatures, full: LongestFeatures) -> None:
    assert inc.last_open_time == full.last_open_time
    assert inc.candles_seen == full.candles_seen
    for a, b in zip(astuple(inc.indicator_row()), astuple(full.indicator_row()), strict=True):
        assert _same_float(a, b) if isinstance(a, float) else a == b
    assert _same_items(inc.zones.zones(), full.zones.zones())
    assert _same_items(inc.fvgs.gaps(), full.fvgs.gaps())
    assert _same_items(inc.structure.order_blocks(), full.structure.order_blocks())


def test_recording_is_long_enough_to_warm_up(frames):
    assert frames["15m"].height > PARAMS.indicators.warmup  # EMA(200) defined at the end
    assert frames["5m"].height > 600


@settings(max_examples=12, deadline=None)
@given(data=st.data())
def test_incremental_equals_full_recomputation(frames, data):
    tf = data.draw(st.sampled_from(["15m", "5m"]))
    frame = frames[tf]
    split = data.draw(st.integers(min_value=0, max_value=frame.height - 1))
    inc = LongestFeatures.from_history(frame.head(split), PARAMS)
    for candle in iter_candles(frame.slice(split)):
        inc.update(candle)
    full = LongestFeatures.from_history(frame, PARAMS)
    assert_same(inc, full)


def test_one_by_one_from_nothing_equals_the_analytics_batch_functions(frames):
    frame = frames["15m"]
    inc = LongestFeatures(PARAMS)
    for candle in iter_candles(frame):
        inc.update(candle)

    p = PARAMS.indicators
    batch = indicators(
        frame,
        ema=p.ema,
        atr=p.atr,
        adx=p.adx,
        hurst_window=p.hurst_window,
        autocorr_window=p.autocorr_window,
        mr_ema=p.mr_ema,
        mr_window=p.mr_window,
        mr_sigma=p.mr_sigma,
        mr_horizon=p.mr_horizon,
    )
    last = batch.row(-1, named=True)
    row = inc.indicator_row()
    assert row.ema_slow is not None  # warmed up: the comparison is on real values
    assert _same_float(row.ema_fast, last["ema_20"])
    assert _same_float(row.ema_slow, last["ema_200"])
    assert _same_float(row.adx, last["adx"])
    assert _same_float(row.atr, last["atr"])
    assert _same_float(row.hurst, last["hurst"])
    assert _same_float(row.autocorrelation, last["autocorrelation"])

    z = zones(frame)
    assert z.height == len(inc.zones.zones()) > 0
    assert z["price_low"].to_list() == [x.price_low for x in inc.zones.zones()]
    assert z["status"].to_list() == [x.status for x in inc.zones.zones()]
    g = fvgs(frame)
    assert g.height == len(inc.fvgs.gaps()) > 0
    assert g["bottom"].to_list() == [x.bottom for x in inc.fvgs.gaps()]
    assert g["status"].to_list() == [x.status for x in inc.fvgs.gaps()]
    ob = order_blocks(frame)
    assert ob.height == len(inc.structure.order_blocks())
    assert ob["price_low"].to_list() == [x.price_low for x in inc.structure.order_blocks()]
