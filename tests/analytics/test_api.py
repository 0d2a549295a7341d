"""The public API: opening read-only, symbol resolution, several symbols, ad-hoc SQL, bad
arguments, and the pattern detectors (indicators, FVGs, zones, structure) fed with the
continuous closed candle frame."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

import tapeflow
from tapeflow.analytics.errors import (
    AmbiguousSymbolError,
    InvalidRangeError,
    ReadOnlyQueryError,
    SymbolNotFoundError,
    UnknownTimeframeError,
)
from tapeflow.analytics.fvg import fvgs
from tapeflow.analytics.structure import order_blocks
from tapeflow.analytics.zones import zones
from tests.analytics.conftest import SPOT_BTC, SPOT_XRP, USDM_BTC, USDM_ETH


def test_open_is_read_only(ta, store_root: Path):
    assert ta.store is not None and ta.store.read_only
    assert set(ta.symbols()) == {USDM_BTC, SPOT_BTC, SPOT_XRP, USDM_ETH}
    with ta.store.connection(USDM_BTC) as con, pytest.raises(duckdb.Error, match="read-only"):
        con.execute("DELETE FROM ticks")
    with pytest.raises(PermissionError):
        ta.refresh_candles()
    with pytest.raises(FileNotFoundError):
        tapeflow.open(store_root / "missing")


def test_symbol_forms(ta):
    by_key = ta.candles(USDM_ETH, "5m")
    assert ta.candles("binance/usdm/ETHUSDT", "5m").equals(by_key)
    assert ta.candles("ETHUSDT", "5m").equals(by_key)  # unique bare symbol
    assert ta.candles("XRPETH", "1h")["symbol"][0] == "binance/spot/XRPETH"
    with pytest.raises(AmbiguousSymbolError, match=r"binance/spot/BTCUSDT.*binance/usdm/BTCUSDT"):
        ta.candles("BTCUSDT")
    with pytest.raises(SymbolNotFoundError, match="no symbol 'DOGEUSDT'") as err:
        ta.candles("DOGEUSDT")
    assert isinstance(err.value, KeyError)
    with pytest.raises(SymbolNotFoundError):
        ta.candles("binance/usdm/DOGEUSDT")
    with pytest.raises(SymbolNotFoundError):
        ta.candles("nasdaq/usdm/BTCUSDT")


def test_several_symbols_in_one_frame(ta):
    frame = ta.candles([USDM_BTC, "binance/spot/BTCUSDT"], "1m")
    assert frame["symbol"].unique(maintain_order=True).to_list() == [
        "binance/usdm/BTCUSDT",
        "binance/spot/BTCUSDT",
    ]
    assert frame.filter(pl.col("symbol") == "binance/spot/BTCUSDT").equals(
        ta.candles(SPOT_BTC, "1m")
    )
    flow = ta.order_flow([USDM_BTC, USDM_ETH], "5m", anchor="day")
    assert (
        flow.height == ta.order_flow(USDM_BTC, "5m").height + ta.order_flow(USDM_ETH, "5m").height
    )


def test_sql_runs_one_select(ta):
    got = ta.sql(USDM_BTC, "SELECT count(*) AS n, max(ts) AS last FROM ticks WHERE price > ?", [0])
    assert got["n"][0] == 10701
    assert got["last"][0] == datetime(2024, 7, 19, 0, 5, 2, 282000, tzinfo=UTC)
    for bad in (
        "DELETE FROM ticks",
        "SELECT 1; SELECT 2",
        "CREATE TABLE x AS SELECT 1",
        "ATTACH 'x.duckdb'",
        "COPY ticks TO 'x.csv'",
        "SELEC 1",
    ):
        with pytest.raises(ReadOnlyQueryError):
            ta.sql(USDM_BTC, bad)


def test_bad_arguments(ta):
    with pytest.raises(UnknownTimeframeError, match="'2m'"):
        ta.candles(USDM_BTC, "2m")
    with pytest.raises(UnknownTimeframeError):
        ta.order_flow(USDM_BTC, "1d")  # a profile period, not a candle timeframe
    with pytest.raises(InvalidRangeError, match="inverted range"):
        ta.candles(USDM_BTC, "1m", "2024-07-19", "2024-07-18")
    with pytest.raises(InvalidRangeError, match="not an ISO-8601"):
        ta.candles(USDM_BTC, "1m", "yesterday")
    with pytest.raises(InvalidRangeError, match="anchor"):
        ta.cvd(USDM_BTC, anchor="week")
    with pytest.raises(InvalidRangeError, match="positive"):
        ta.flow_window(USDM_BTC, "2024-07-19", 0)
    with pytest.raises(InvalidRangeError, match="number"):
        ta.flow_window(USDM_BTC, "2024-07-19", "60")
    with pytest.raises(ValueError, match="last"):
        ta.candles(USDM_BTC, last=0)
    with pytest.raises(InvalidRangeError, match="start and end"):
        ta.market_profile(USDM_BTC, None, "2024-07-19")
    assert issubclass(UnknownTimeframeError, ValueError)
    assert ta.candles(USDM_BTC, "1m", "2024-07-19", "2024-07-19").height == 0


def test_detectors_get_the_continuous_closed_frame(ta):
    closed = ta.candles(SPOT_XRP, "5m", continuous=True, closed_only=True)
    ind = ta.indicators(SPOT_XRP, "5m", ema=(20,))
    assert ind.height == closed.height
    assert ind["open_time"].to_list() == closed["open_time"].to_list()
    frame = closed.drop("symbol")
    assert ta.fvgs(SPOT_XRP, "5m").equals(fvgs(frame))
    assert ta.zones(SPOT_XRP, "5m", max_base=4).equals(zones(frame, max_base=4))
    assert ta.order_blocks(SPOT_XRP, "5m").equals(order_blocks(frame))
    assert ta.fvgs(SPOT_XRP, "5m").height > 0
