"""Tardis CSV, ccxt JSON, nautilus and freqtrade Parquet on the real files."""

import csv
import gzip
import json
import shutil
from decimal import Decimal

import pyarrow.parquet as pq
import pytest

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import (
    ImportOptions,
    SymbolResolutionError,
    ccxt_json,
    import_paths,
    parquet_trades,
    tardis,
)
from tapeflow.sources.decimals import float_to_decimal_str
from tests.sources.conftest import count
from tests.support.paths import FREQTRADE_JSON_GZ, FREQTRADE_PARQUET, NAUTILUS_PARQUET, TARDIS_CSV

XRPETH = SymbolKey("binance", "spot", "XRPETH")


def test_tardis_csv_plain_and_gzip(tmp_path, store):
    with open(TARDIS_CSV, newline="") as fh:
        rows = list(csv.DictReader(fh))
    gz = tmp_path / "trades.csv.gz"
    with open(TARDIS_CSV, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    key = SymbolKey("binance", "usdm", "BTCUSDT")  # binance-futures
    assert tardis.probe(gz, ImportOptions()) == [key]
    summary = import_paths(store, [TARDIS_CSV, gz], progress=False)
    c = summary.symbols[key]
    assert (c.received, c.inserted, c.duplicates) == (2 * len(rows), len(rows), len(rows))
    assert len(rows) == 9999
    with store.connection(key) as con:
        got = con.execute(
            "SELECT min(trade_id), max(trade_id), count(*) FILTER (side = 'buy'), sum(quantity),"
            " epoch_us(min(ts)), epoch_us(min(local_ts)) FROM ticks"
        ).fetchall()[0]
    assert got == (
        42377944,
        42387942,
        sum(r["side"] == "buy" for r in rows),
        sum(Decimal(r["amount"]) for r in rows),
        int(rows[0]["timestamp"]),
        min(int(r["local_timestamp"]) for r in rows),
    )
    assert store.gaps(key) == []


def test_tardis_exchange_mapping():
    assert tardis.market_of("binance-futures", "BTCUSDT") == ("binance", "usdm")
    assert tardis.market_of("binance", "BTCUSDT") == ("binance", "spot")
    assert tardis.market_of("binance-delivery", "BTCUSD_PERP") == ("binance", "coinm")
    assert tardis.market_of("bybit", "BTCUSDT") == ("bybit", "linear")
    with pytest.raises(ValueError, match="unknown Tardis exchange"):
        tardis.market_of("deribit", "BTC-PERPETUAL")


def test_ccxt_symbols():
    assert ccxt_json.native_symbol("XRP/ETH", "binance") == ("XRPETH", "spot")
    assert ccxt_json.native_symbol("BTC/USDT:USDT", "binance") == ("BTCUSDT", "usdm")
    assert ccxt_json.native_symbol("BTC/USD:BTC", "binance") == ("BTCUSD_PERP", "coinm")
    assert ccxt_json.native_symbol("BTC/USDT:USDT-240927", "binance") == ("BTCUSDT_240927", "usdm")


def test_ccxt_json_uses_binance_agg_info(store):
    with gzip.open(FREQTRADE_JSON_GZ, "rt") as fh:
        trades = json.load(fh)
    summary = import_paths(store, [FREQTRADE_JSON_GZ], progress=False)
    assert list(summary.symbols) == [XRPETH]
    assert summary.symbols[XRPETH].inserted == len(trades) == 12477
    with store.connection(XRPETH) as con:
        got = con.execute(
            "SELECT trade_id, price::VARCHAR, quantity::VARCHAR, side, first_trade_id, "
            "last_trade_id, epoch_ms(ts) FROM ticks ORDER BY trade_id LIMIT 1"
        ).fetchall()[0]
    i = trades[0]["info"]
    assert got == (i["a"], "0.00141342", "23.00000000", "sell", i["f"], i["l"], i["T"])
    assert store.gaps(XRPETH) == []


def test_freqtrade_parquet_and_json_store_each_trade_once(store):
    """Same aggregate trades in two formats: the second import is all duplicates."""
    table = pq.read_table(FREQTRADE_PARQUET)
    with pytest.raises(SymbolResolutionError, match="--exchange --market"):
        import_paths(store, [FREQTRADE_PARQUET], progress=False)
    first = import_paths(
        store, [FREQTRADE_PARQUET], exchange="binance", market="spot", progress=False
    )
    assert first.symbols[XRPETH].inserted == table.num_rows == 12477
    second = import_paths(store, [FREQTRADE_JSON_GZ], progress=False)
    c = second.symbols[XRPETH]
    assert (c.inserted, c.duplicates, c.conflicts) == (0, 12477, 0)
    assert count(store, XRPETH) == 12477
    assert count(store, XRPETH, "SELECT count(*) FROM tick_conflicts") == 0
    # prices from doubles are the exchange's decimals
    assert count(store, XRPETH, "SELECT sum(quantity) FROM ticks") == sum(
        Decimal(repr(x)) for x in table["amount"].to_pylist()
    )


def test_nautilus_parquet_doubles_become_exact_decimals(store):
    table = pq.read_table(NAUTILUS_PARQUET)
    key = SymbolKey("binance", "spot", "BTCUSDT")
    assert parquet_trades.probe(NAUTILUS_PARQUET, ImportOptions("binance", "spot")) == [key]
    summary = import_paths(
        store, [NAUTILUS_PARQUET], exchange="binance", market="spot", progress=False
    )
    assert summary.symbols[key].inserted == table.num_rows == 2001
    with store.connection(key) as con:
        stored = dict(con.execute("SELECT trade_id, quantity::VARCHAR FROM ticks").fetchall())
        sells = con.execute("SELECT count(*) FROM ticks WHERE side = 'sell'").fetchall()[0][0]
    assert sells == table["buyer_maker"].to_pylist().count("True")
    # 0.00031099999999999997 in the file is float noise around the real 0.000311
    assert stored[553287561] == "0.00031100"
    for tid, q in zip(table["trade_id"].to_pylist(), table["quantity"].to_pylist(), strict=True):
        value = Decimal(stored[tid])
        assert abs(value - Decimal(q)) < Decimal("1e-12")  # same number as the double
        assert value == value.quantize(Decimal("1e-8"))


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.1 + 0.2, "0.3"),
        (0.00031099999999999997, "0.000311"),
        (39432.48, "39432.48"),
        (23.0, "23"),
        (1e-05, "0.00001"),
        (1.5e-08, "0.000000015"),  # more digits than the store keeps: left for quarantine
        (float("nan"), None),
    ],
)
def test_float_to_decimal_rule(x, text):
    assert float_to_decimal_str(x) == text
