"""Candles against an independent Decimal computation from the raw recordings."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from tapeflow.analytics.candles import CANDLE_COLUMNS
from tapeflow.model.timeframes import TIMEFRAMES, timeframe_delta
from tests.analytics.conftest import SPOT_BTC, SPOT_XRP, TRADES, USDM_BTC, USDM_ETH
from tests.support.reference import counted, reference_candles

BAR_FIELDS = [c for c in CANDLE_COLUMNS if c not in ("open_time", "close_time", "closed")]


def assert_same_candles(frame: pl.DataFrame, expected: list[dict]) -> None:
    rows = frame.to_dicts()
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        assert got["open_time"] == want["open_time"]
        assert got["close_time"] == want["close_time"]
        assert got["closed"] == want["closed"], got["open_time"]
        for field in BAR_FIELDS:
            assert got[field] == want[field], (got["open_time"], field, got[field], want[field])


@pytest.mark.parametrize("key", [USDM_BTC, SPOT_BTC, SPOT_XRP, USDM_ETH], ids=str)
@pytest.mark.parametrize("tf", TIMEFRAMES)
def test_candles_equal_the_raw_trades(ta, key, tf):
    """Every field of every sparse candle equals the Decimal computation from the files
    (for 5m..4h: computed directly from trades, while the API rolls up cached 1m rows)."""
    expected = reference_candles(TRADES[key](), timeframe_delta(tf))
    assert_same_candles(ta.candles(key, tf), expected)


def test_candle_frame_dtypes(ta):
    frame = ta.candles(USDM_BTC, "1m")
    utc = pl.Datetime("us", "UTC")
    assert frame.schema == pl.Schema(
        {
            "symbol": pl.String,
            "open_time": utc,
            "close_time": utc,
            **dict.fromkeys(["open", "high", "low", "close"], pl.Decimal(18, 8)),
            "volume": pl.Decimal(38, 8),
            "quote_volume": pl.Decimal(38, 16),
            "trades": pl.Int64,
            "buy_volume": pl.Decimal(38, 8),
            "buy_quote_volume": pl.Decimal(38, 16),
            "sell_volume": pl.Decimal(38, 8),
            "sell_quote_volume": pl.Decimal(38, 16),
            "buy_trades": pl.Int64,
            "sell_trades": pl.Int64,
            "vwap": pl.Decimal(18, 8),
            "first_trade_id": pl.Int64,
            "last_trade_id": pl.Int64,
            "closed": pl.Boolean,
        }
    )
    assert frame["symbol"].unique().to_list() == ["binance/usdm/BTCUSDT"]


def test_quote_volume_keeps_every_decimal(ta):
    """XRPETH prices have 8 decimals and quantities too: price * quantity needs 16."""
    frame = ta.candles(SPOT_XRP, "4h")
    exact = sum((t.price * t.quantity for t in TRADES[SPOT_XRP]()), Decimal(0))
    assert sum(frame["quote_volume"].to_list(), Decimal(0)) == exact
    assert exact.as_tuple().exponent == -16  # the data really uses all 16 places


@pytest.mark.parametrize("tf", ["5m", "15m", "1h", "4h"])
@pytest.mark.parametrize("key", [USDM_BTC, SPOT_XRP, USDM_ETH], ids=str)
def test_rollup_equals_the_direct_definition(ta, key, tf):
    """The cached higher timeframes (rolled up from 1m) equal the view over ticks."""
    rolled = ta.candles(key, tf).drop("symbol")
    direct = ta.sql(key, f"SELECT * FROM candles_{tf}_ticks ORDER BY open_time")
    assert rolled.height > 0
    assert rolled.equals(direct)
    cached = ta.sql(key, f"SELECT count(*) AS n FROM candles_{tf}")["n"][0]
    assert cached == rolled.filter(pl.col("closed")).height  # served from the cache


def test_other_trade_types_are_excluded_but_prove_closure(ta):
    trades = TRADES[USDM_ETH]()
    others = [t for t in trades if not counted(t)]
    assert len(others) > 100 and others[-1] is trades[-1]
    frame = ta.candles(USDM_ETH, "1m")
    assert frame["trades"].sum() == len(trades) - len(others)
    stored = ta.sql(USDM_ETH, "SELECT count(*) AS n FROM ticks")["n"][0]
    assert stored == len(trades)  # kept in the store
    # the last counted trade and the ADL trade after it: same minute? then open; the ADL
    # tick is the latest tick, so every candle closing at or before it is closed
    last = trades[-1].ts
    for row in frame.iter_rows(named=True):
        assert row["closed"] == (row["close_time"] <= last)


def test_four_hour_candles_align_to_the_epoch(ta):
    frame = ta.candles(USDM_BTC, "4h")
    assert frame["open_time"].to_list() == [
        datetime(2024, 7, 18, 20, tzinfo=UTC),
        datetime(2024, 7, 19, 0, tzinfo=UTC),
    ]


def test_range_selects_by_open_time(ta):
    everything = ta.candles(USDM_BTC, "1m")
    start, end = datetime(2024, 7, 18, 23, 58, 30), datetime(2024, 7, 19, 0, 2)
    part = ta.candles(USDM_BTC, "1m", start, end)
    assert part["open_time"].to_list() == [
        datetime(2024, 7, 18, 23, 59, tzinfo=UTC),
        datetime(2024, 7, 19, 0, 0, tzinfo=UTC),
        datetime(2024, 7, 19, 0, 1, tzinfo=UTC),
    ]
    assert part.equals(everything.join(part.select("open_time"), on="open_time", how="semi"))
    aware = ta.candles(USDM_BTC, "1m", start.replace(tzinfo=UTC), "2024-07-19T02:02:00+02:00")
    assert aware.equals(part)


def test_closed_flag_and_closed_only(ta):
    frame = ta.candles(USDM_BTC, "1m")
    assert frame["closed"].to_list() == [True] * (frame.height - 1) + [False]
    # the last tick is at 00:05:02.282; the 00:05 candle is still forming
    assert frame["open_time"][-1] == datetime(2024, 7, 19, 0, 5, tzinfo=UTC)
    closed = ta.candles(USDM_BTC, "1m", closed_only=True)
    assert closed.equals(frame.head(frame.height - 1))


def test_last_n(ta):
    frame = ta.candles(USDM_BTC, "1m", closed_only=True)
    assert ta.candles(USDM_BTC, "1m", closed_only=True, last=3).equals(frame.tail(3))
    assert ta.candles(USDM_BTC, "1m", last=2)["closed"].to_list() == [True, False]
    cont = ta.candles(SPOT_XRP, "1m", continuous=True, closed_only=True)
    assert ta.candles(SPOT_XRP, "1m", continuous=True, closed_only=True, last=200).equals(
        cont.tail(200)
    )
    end = datetime(2019, 10, 12, 8, tzinfo=UTC)
    before = cont.filter(pl.col("open_time") < end).tail(50)
    got = ta.candles(SPOT_XRP, "1m", end=end, continuous=True, closed_only=True, last=50)
    assert got.equals(before)
    assert ta.candles(SPOT_XRP, "1h", last=500).equals(ta.candles(SPOT_XRP, "1h"))


@pytest.mark.parametrize("tf", ["1m", "5m"])
def test_continuous_series_fills_quiet_intervals(ta, tf):
    sparse = ta.candles(SPOT_XRP, tf)
    cont = ta.candles(SPOT_XRP, tf, continuous=True)
    width = timeframe_delta(tf)
    times = cont["open_time"].to_list()
    assert times[0] == sparse["open_time"][0] and times[-1] == sparse["open_time"][-1]
    assert all(b - a == width for a, b in itertools.pairwise(times))
    assert cont.height > sparse.height  # XRPETH really has quiet intervals
    assert cont["segment"].unique().to_list() == [0]  # quiet for minutes, never for an hour
    traded = cont.join(sparse.select("open_time"), on="open_time", how="semi")
    assert traded.drop("segment").equals(sparse)
    previous_close = None
    for row in cont.iter_rows(named=True):
        if row["trades"] == 0:
            assert row["open"] == row["high"] == row["low"] == row["close"] == previous_close
            assert row["volume"] == row["quote_volume"] == row["buy_volume"] == 0
            assert row["sell_volume"] == row["buy_trades"] == row["sell_trades"] == 0
            assert row["vwap"] is None and row["first_trade_id"] is None
            assert row["close_time"] - row["open_time"] == width
        previous_close = row["close"]


def test_continuous_range_starts_from_the_prior_close(ta):
    sparse = ta.candles(SPOT_XRP, "1m")
    # a start inside a quiet stretch: the series starts there, flat at the prior close
    gaps = sparse.with_columns(gap=pl.col("open_time").diff()).filter(
        pl.col("gap") > timedelta(minutes=6)
    )
    quiet_end = gaps["open_time"][0]
    start = quiet_end - timedelta(minutes=5)
    prior = sparse.filter(pl.col("open_time") < start)["close"][-1]
    cont = ta.candles(SPOT_XRP, "1m", start, quiet_end + timedelta(minutes=1), continuous=True)
    assert cont["open_time"].to_list() == [start + timedelta(minutes=i) for i in range(6)]
    assert cont["close"].to_list()[:5] == [prior] * 5
    assert cont["trades"].to_list()[:5] == [0] * 5 and cont["trades"][5] > 0
