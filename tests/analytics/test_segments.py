"""Gaps are gaps: continuous candles never bridge a data gap.

On a store like the demo's (USD-M BTCUSDT from 2020 and 2024, spot BTCUSDT from 2021 and
2024: years of missing trade ids between the recordings) the continuous series holds only
the intervals around real trades, its segments equal a count made here straight from the
ticks, and no indicator or pattern joins candles across a break. The time rule (no trades
for longer than ``max_quiet``) is checked on the thin XRPETH market of the analytics store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import tapeflow
from tapeflow.analytics.api import Analytics
from tapeflow.analytics.charts import load_chart_data
from tapeflow.analytics.segments import DEFAULT_MAX_QUIET
from tapeflow.model.timeframes import TIMEFRAMES, timeframe_delta
from tests.analytics.conftest import SPOT_XRP
from tests.support.gap_store import SPOT_BTC, USDM_BTC, build_gap_store


@pytest.fixture(scope="module")
def gap_ta(tmp_path_factory: pytest.TempPathFactory, market_dir):
    root = build_gap_store(tmp_path_factory.mktemp("gaps") / "data")
    with tapeflow.open(root, memory_limit="512MB") as ta:
        yield ta


def expected_segments(
    ta: Analytics, key, tf: str, max_quiet: timedelta
) -> list[tuple[datetime, datetime]]:
    """(first, last) open time of each segment of the continuous ``tf`` series, computed
    from the stored ticks alone: traded intervals (MARKET or untyped trades), a break between
    two consecutive ones when an id between them is not stored or more than
    ``max_quiet // tf`` intervals lie empty between them."""
    ticks = ta.sql(key, "SELECT trade_id, ts, trade_type FROM ticks ORDER BY trade_id")
    ids = ticks["trade_id"].to_numpy()
    width = timeframe_delta(tf)
    traded = (
        ticks.filter(pl.col("trade_type").is_null() | (pl.col("trade_type") == "MARKET"))
        .group_by(pl.col("ts").dt.truncate(width).alias("open_time"))
        .agg(lo=pl.col("trade_id").min(), hi=pl.col("trade_id").max())
        .sort("open_time")
    )
    limit = max_quiet // width
    segments: list[list[datetime]] = []
    prev = None
    for t, lo, hi in traded.iter_rows():
        if prev is not None:
            p_t, p_hi = prev
            empty = (t - p_t) // width - 1
            stored = np.searchsorted(ids, lo) - np.searchsorted(ids, p_hi, side="right")
            if empty <= limit and stored == lo - p_hi - 1:
                segments[-1][1] = t
                prev = (t, hi)
                continue
        segments.append([t, t])
        prev = (t, hi)
    return [(a, b) for a, b in segments]


def actual_segments(frame: pl.DataFrame) -> list[tuple[datetime, datetime, int]]:
    return [
        (a, b, n)
        for _, a, b, n in frame.group_by("segment", maintain_order=True)
        .agg(
            pl.col("open_time").min().alias("first"),
            pl.col("open_time").max().alias("last"),
            pl.len(),
        )
        .iter_rows()
    ]


@pytest.mark.parametrize("key", [USDM_BTC, SPOT_BTC], ids=str)
@pytest.mark.parametrize("tf", TIMEFRAMES)
def test_segments_equal_an_independent_count(gap_ta, key, tf):
    frame = gap_ta.candles(key, tf, continuous=True)
    want = expected_segments(gap_ta, key, tf, DEFAULT_MAX_QUIET)
    width = timeframe_delta(tf)
    assert actual_segments(frame) == [(a, b, (b - a) // width + 1) for a, b in want]
    assert frame["segment"].to_list() == sorted(frame["segment"].to_list())
    # USD-M: 2020, July 2024, August 2024 (ids missing between each); spot: 2021, 2024
    assert len(want) == (3 if key == USDM_BTC else 2)


def test_no_flat_candles_bridge_the_years(gap_ta):
    """The 1m series of USD-M BTCUSDT is its 141 traded minutes (these recordings have no
    quiet minute), not 2.3 million minutes flat at a 2020 or July price."""
    sparse = gap_ta.candles(USDM_BTC, "1m")
    cont = gap_ta.candles(USDM_BTC, "1m", continuous=True)
    assert sparse.height == 141
    assert cont.drop("segment").equals(sparse)
    july_close = sparse.filter(pl.col("open_time") < datetime(2024, 8, 1, tzinfo=UTC))["close"]
    august = cont.filter(pl.col("open_time") > datetime(2024, 8, 1, tzinfo=UTC))
    assert august["open_time"][0] == datetime(2024, 8, 8, 23, 54, tzinfo=UTC)
    assert july_close[-1] not in august["open"].to_list()  # nothing carried over


def test_a_range_inside_a_gap_is_empty(gap_ta):
    frame = gap_ta.candles(USDM_BTC, "15m", "2022-01-01", "2022-01-02", continuous=True)
    assert frame.height == 0 and "segment" in frame.columns
    flow = gap_ta.order_flow(USDM_BTC, "1h", "2023-01-01", "2023-02-01", continuous=True)
    assert flow.height == 0


@pytest.mark.parametrize("tf", ["1m", "15m", "4h"])
def test_no_fvg_spans_a_data_gap(gap_ta, tf):
    frame = gap_ta.candles(USDM_BTC, tf, continuous=True, closed_only=True)
    segment = dict(zip(frame["open_time"], frame["segment"], strict=True))
    width = timeframe_delta(tf)
    gaps = gap_ta.fvgs(USDM_BTC, tf)
    for row in gaps.iter_rows(named=True):
        first = row["anchor_at"] - width
        assert segment[first] == segment[row["anchor_at"]] == segment[row["created_at"]]
        assert row["size_pct"] < 1  # real one-minute imbalances, not a 2020 → 2024 jump
    assert gaps.filter((pl.col("bottom") < 20_000) & (pl.col("top") > 50_000)).height == 0
    if tf == "4h":  # at most two 4h candles per segment: no three-candle pattern at all
        assert gaps.height == 0


def test_indicators_restart_in_every_segment(gap_ta):
    ind = gap_ta.indicators(USDM_BTC, "1m")
    frame = gap_ta.candles(USDM_BTC, "1m", continuous=True, closed_only=True)
    assert ind["open_time"].equals(frame["open_time"])
    for _, part in ind.with_columns(frame["segment"]).group_by("segment", maintain_order=True):
        atr = part["atr"].to_list()
        assert all(a is None for a in atr[:14])  # ATR(14) needs 14 candles of the segment
        assert all(a is not None for a in atr[14:])
    # 2020: 126 minutes (ATR from the 15th); July and August 2024: fewer than 15 each
    assert ind.filter(pl.col("atr").is_not_null()).height == 126 - 14


def test_zones_and_structure_stay_inside_segments(gap_ta):
    frame = gap_ta.candles(USDM_BTC, "1m", continuous=True, closed_only=True)
    segment = dict(zip(frame["open_time"], frame["segment"], strict=True))
    for row in gap_ta.zones(USDM_BTC, "1m").iter_rows(named=True):
        assert segment[row["base_start"]] == segment[row["first_seen"]]
        if row["broken_at"] is not None:
            assert segment[row["broken_at"]] == segment[row["first_seen"]]
    for row in gap_ta.order_blocks(USDM_BTC, "1m").iter_rows(named=True):
        assert segment[row["candle_at"]] == segment[row["bos_at"]]
        for at in (row["first_mitigated_at"], row["broken_at"]):
            assert at is None or segment[at] == segment[row["bos_at"]]


def test_the_chart_starts_where_the_data_is(gap_ta):
    data = load_chart_data(gap_ta, str(USDM_BTC), "1m")  # the last 180 intervals
    assert data.candles["open_time"][0] == datetime(2024, 8, 8, 23, 54, tzinfo=UTC)
    assert data.candles.height == 6
    whole = load_chart_data(gap_ta, str(USDM_BTC), "4h", "2020-01-01", "2024-08-09")
    assert whole.candles.height == 4  # one per 4h interval with trades
    assert whole.fvgs.height == 0


def test_a_long_quiet_stretch_breaks_the_series(store_root: Path):
    """XRPETH (October 2019) has quiet runs of up to 8 minutes: filled with the default
    limit (60 minutes), broken with a 5-minute one — where a count from the ticks says."""
    with tapeflow.open(store_root, memory_limit="512MB") as default:
        assert default.candles(SPOT_XRP, "1m", continuous=True)["segment"].max() == 0
    with tapeflow.open(store_root, memory_limit="512MB", max_quiet=timedelta(minutes=5)) as ta:
        frame = ta.candles(SPOT_XRP, "1m", continuous=True)
        want = expected_segments(ta, SPOT_XRP, "1m", timedelta(minutes=5))
        assert len(want) > 1
        assert actual_segments(frame) == [
            (a, b, (b - a) // timedelta(minutes=1) + 1) for a, b in want
        ]
        # every quiet interval still inside a segment is filled flat at the previous close
        quiet = frame.filter(pl.col("trades") == 0)
        assert quiet.height > 0
        assert (quiet["open"] == quiet["close"]).all()


def test_max_quiet_must_be_positive(store_root: Path):
    with pytest.raises(ValueError, match="max_quiet must be a positive timedelta"):
        tapeflow.open(store_root, max_quiet=timedelta(0))
