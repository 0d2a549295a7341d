"""Order flow, CVD anchoring and the trailing flow window against the raw recordings."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from tests.analytics.conftest import SPOT_BTC, SPOT_XRP, TRADES, USDM_BTC, USDM_ETH
from tests.support.reference import counted, reference_bar, reference_candles

MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize("key", [USDM_BTC, SPOT_BTC, USDM_ETH], ids=str)
def test_per_candle_flow_equals_the_raw_trades(ta, key):
    expected = reference_candles(TRADES[key](), MINUTE)
    frame = ta.order_flow(key, "1m")
    assert frame.height == len(expected)
    cvd = Decimal(0)
    for got, want in zip(frame.iter_rows(named=True), expected, strict=True):
        assert got["open_time"] == want["open_time"]
        for field in ("trades", "buy_trades", "sell_trades", "volume", "buy_volume"):
            assert got[field] == want[field]
        assert got["sell_volume"] == want["sell_volume"]
        assert got["delta"] == want["buy_volume"] - want["sell_volume"]
        cvd += got["delta"]
        assert got["cvd"] == cvd  # anchor 'none': from the first candle of the range
        assert got["avg_buy_size"] == want["avg_buy_size"]
        assert got["avg_sell_size"] == want["avg_sell_size"]
        assert got["imbalance"] == pytest.approx(
            float(want["buy_volume"]) / float(want["sell_volume"]), rel=1e-12
        )
        total = want["buy_volume"] + want["sell_volume"]
        assert got["delta_ratio"] == pytest.approx(float(want["delta"] / total), rel=1e-12)


def test_cvd_day_anchor_restarts_at_midnight_utc(ta):
    frame = ta.cvd(USDM_BTC, "1m", anchor="day")
    assert frame.columns == ["symbol", "open_time", "close_time", "closed", "delta", "cvd"]
    for day, part in frame.group_by(pl.col("open_time").dt.date(), maintain_order=True):
        assert part["cvd"].to_list() == part["delta"].cum_sum().to_list(), day
    assert frame["open_time"].dt.date().n_unique() == 2  # the data crosses 00:00 UTC
    # a range starting mid-day still counts the day's earlier candles
    start = datetime(2024, 7, 19, 0, 3, tzinfo=UTC)
    part = ta.cvd(USDM_BTC, "1m", start, anchor="day")
    assert part["cvd"].to_list() == frame.filter(pl.col("open_time") >= start)["cvd"].to_list()
    none = ta.cvd(USDM_BTC, "1m", start, anchor="none")
    assert none["cvd"].to_list() == none["delta"].cum_sum().to_list()
    assert none["cvd"].to_list() != part["cvd"].to_list()


def test_cvd_timestamp_anchor(ta):
    frame = ta.cvd(USDM_BTC, "1m")  # default anchor: day
    anchor = datetime(2024, 7, 19, 0, 1, 30, tzinfo=UTC)  # mid-candle: counts from 00:02
    got = ta.cvd(USDM_BTC, "1m", anchor=anchor)
    before = got.filter(pl.col("open_time") < anchor)
    after = got.filter(pl.col("open_time") >= anchor)
    assert before.height == 5 and before["cvd"].null_count() == 5
    assert after["open_time"][0] == datetime(2024, 7, 19, 0, 2, tzinfo=UTC)
    assert after["cvd"].to_list() == after["delta"].cum_sum().to_list()
    # an anchor before the range start: candles between it and the start count
    start = datetime(2024, 7, 19, 0, 4, tzinfo=UTC)
    late = ta.cvd(USDM_BTC, "1m", start, anchor=anchor.isoformat())
    assert late["cvd"].to_list() == after.filter(pl.col("open_time") >= start)["cvd"].to_list()
    assert frame.height == got.height


@pytest.mark.parametrize("anchor", ["day", "none", datetime(2019, 10, 12, 3, 0, 30, tzinfo=UTC)])
def test_continuous_flow_carries_the_cvd_over_quiet_minutes(ta, anchor):
    start = datetime(2019, 10, 12, 2, tzinfo=UTC)
    flow = ta.order_flow(SPOT_XRP, "1m", start, anchor=anchor, continuous=True)
    sparse = ta.order_flow(SPOT_XRP, "1m", start, anchor=anchor)
    candles = ta.candles(SPOT_XRP, "1m", start, continuous=True)
    assert flow["open_time"].to_list() == candles["open_time"].to_list()
    assert flow["closed"].to_list() == candles["closed"].to_list()
    assert flow.join(sparse.select("open_time"), on="open_time", how="semi").equals(sparse)
    quiet = flow.filter(pl.col("trades") == 0)
    assert quiet.height > 100
    assert set(quiet["delta"].to_list()) == {0} and set(quiet["volume"].to_list()) == {0}
    assert quiet["imbalance"].null_count() == quiet.height
    assert quiet["avg_buy_size"].null_count() == quiet.height
    # the CVD of a quiet minute is the CVD after the last traded minute of its anchor group
    previous = {}
    for row in flow.iter_rows(named=True):
        group = (
            row["open_time"].date()
            if anchor == "day"
            else (row["open_time"] >= anchor if isinstance(anchor, datetime) else 0)
        )
        if isinstance(anchor, datetime) and row["open_time"] < anchor:
            assert row["cvd"] is None
            continue
        if row["trades"] == 0:
            assert row["cvd"] == previous.get(group, 0)
        previous[group] = row["cvd"]
    # 'day': the quiet minutes at the start carry the CVD of the day's earlier trades
    if anchor == "day":
        day = ta.cvd(SPOT_XRP, "1m", "2019-10-12", anchor="day")
        before = day.filter(pl.col("open_time") < start)["cvd"][-1]
        first = flow.row(0, named=True)
        assert first["cvd"] == (before if first["trades"] == 0 else before + first["delta"])


def test_one_sided_candles_have_safe_imbalance(ta):
    flow = ta.order_flow(SPOT_XRP, "1m")
    only_buys = flow.filter((pl.col("sell_trades") == 0) & (pl.col("buy_trades") > 0))
    only_sells = flow.filter((pl.col("buy_trades") == 0) & (pl.col("sell_trades") > 0))
    assert only_buys.height > 0 and only_sells.height > 0  # real XRPETH minutes
    assert all(math.isinf(v) and v > 0 for v in only_buys["imbalance"])
    assert only_sells["imbalance"].to_list() == [0.0] * only_sells.height
    assert only_buys["delta_ratio"].to_list() == [1.0] * only_buys.height
    assert only_sells["avg_buy_size"].null_count() == only_sells.height
    # comparisons a strategy makes stay meaningful
    assert only_buys.filter(pl.col("imbalance") > 3).height == only_buys.height
    assert only_sells.filter(pl.col("imbalance") > 3).height == 0


@pytest.mark.parametrize(
    ("end", "seconds"),
    [
        (datetime(2024, 7, 19, 0, 2, 17, 500000, tzinfo=UTC), 45),
        (datetime(2024, 7, 18, 23, 59, 59, tzinfo=UTC), 0.5),
        (datetime(2024, 7, 19, 0, 5, 0, tzinfo=UTC), 400),
        (datetime(2024, 7, 19, 0, 1, 0, 1000, tzinfo=UTC), timedelta(milliseconds=1001)),
    ],
)
def test_flow_window_equals_the_raw_trades(ta, end, seconds):
    width = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
    inside = [t for t in TRADES[USDM_BTC]() if end - width <= t.ts < end and counted(t)]
    assert inside
    want = reference_bar(inside)
    got = ta.flow_window(USDM_BTC, end, seconds).row(0, named=True)
    assert got["window_start"] == end - width and got["window_end"] == end
    for field in (
        "trades", "buy_trades", "sell_trades", "volume", "quote_volume", "buy_volume",
        "sell_volume", "delta", "avg_buy_size", "avg_sell_size", "vwap", "open", "high", "low",
        "close", "first_trade_id", "last_trade_id",
    ):  # fmt: skip
        assert got[field] == want[field], field


def test_flow_window_at_a_close_time_equals_that_candle(ta):
    candles = ta.order_flow(USDM_BTC, "1m")
    row = candles.row(3, named=True)
    win = ta.flow_window(USDM_BTC, row["close_time"], 60).row(0, named=True)
    for field in ("trades", "buy_volume", "sell_volume", "delta", "imbalance", "avg_buy_size"):
        assert win[field] == row[field]


def test_empty_flow_window(ta):
    got = ta.flow_window(USDM_BTC, datetime(2024, 7, 19, 6, tzinfo=UTC), 60).row(0, named=True)
    assert got["trades"] == 0 and got["volume"] == 0 and got["delta"] == 0
    assert got["imbalance"] is None and got["vwap"] is None and got["open"] is None
