"""Binance public-data archives built from the real captures: layouts, units, markets."""

import gzip
import json
import zipfile
from decimal import Decimal

import pytest

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import (
    CorruptArchiveError,
    ImportOptions,
    SourceError,
    binance_archive,
    import_paths,
)
from tests.sources.archives import FUTURES_HEADER, archive_rows, capture_trades, write_archive
from tests.sources.conftest import count
from tests.support.paths import FREQTRADE_JSON_GZ, HFT_DIR


@pytest.fixture(scope="module")
def spot_btc():
    return capture_trades(HFT_DIR / "spot/btcusdt_20240808.gz")


@pytest.fixture(scope="module")
def usdm_eth():
    return capture_trades(HFT_DIR / "usdm/ethusdt_20240718.gz")


@pytest.mark.parametrize("unit", ["ms", "us"])
@pytest.mark.parametrize("as_zip", [False, True])
def test_spot_trades_csv_and_zip_in_ms_and_us(tmp_path, store, spot_btc, unit, as_zip):
    path = write_archive(
        tmp_path,
        "BTCUSDT",
        "2024-08-08",
        archive_rows(spot_btc, "spot", time_unit=unit),
        as_zip=as_zip,
    )
    summary = import_paths(store, [path], progress=False)
    key = SymbolKey("binance", "spot", "BTCUSDT")  # 7 columns: spot
    assert summary.symbols[key].inserted == len(spot_btc) == 9757
    with store.connection(key) as con:
        first = con.execute(
            "SELECT trade_id, epoch_ms(ts), price::VARCHAR, quantity::VARCHAR, side "
            "FROM ticks ORDER BY trade_id LIMIT 1"
        ).fetchall()[0]
        total_qty = con.execute("SELECT sum(quantity) FROM ticks").fetchall()[0][0]
    t0 = spot_btc[0]
    assert first == (t0["t"], t0["T"], "61837.63000000", "0.02000000", "sell")
    assert total_qty == sum(Decimal(t["q"]) for t in spot_btc)
    assert store.gaps(key) == []


@pytest.mark.parametrize("header", [FUTURES_HEADER, None])
def test_futures_trades_with_and_without_header(tmp_path, store, usdm_eth, header):
    path = write_archive(
        tmp_path, "ETHUSDT", "2024-07-18", archive_rows(usdm_eth, "usdm"), header=header
    )
    summary = import_paths(store, [path], progress=False)
    key = SymbolKey("binance", "usdm", "ETHUSDT")  # 6 columns + no suffix: USD-M
    assert summary.symbols[key].inserted == len(usdm_eth) == 1640
    sells = sum(t["m"] for t in usdm_eth)
    assert count(store, key, "SELECT count(*) FROM ticks WHERE side = 'sell'") == sells


def test_coinm_told_by_symbol(tmp_path):
    trades = capture_trades(HFT_DIR / "cm/ethusd_perp_20240808.gz")
    path = write_archive(tmp_path, "ETHUSD_PERP", "2024-08-08", archive_rows(trades, "coinm"))
    keys = binance_archive.probe(path, ImportOptions())
    assert keys == [SymbolKey("binance", "coinm", "ETHUSD_PERP")]
    rows = sum(b.table.num_rows for b in binance_archive.read(path, ImportOptions()))
    assert rows == 1732


def test_market_option_contradicting_the_columns_fails_before_writing(tmp_path, store, spot_btc):
    path = write_archive(tmp_path, "BTCUSDT", "2024-08-08", archive_rows(spot_btc, "spot"))
    with pytest.raises(SourceError, match="--market usdm contradicts the file"):
        import_paths(store, [path], market="usdm", progress=False)
    assert store.symbols() == []


def test_agg_trades_archive_from_freqtrade_info(tmp_path, store):
    """Spot aggTrades (8 columns, no header) rebuilt from the freqtrade ccxt list's `info`."""
    with gzip.open(FREQTRADE_JSON_GZ, "rt") as fh:
        infos = [t["info"] for t in json.load(fh)]
    rows = [
        f"{i['a']},{i['p']},{i['q']},{i['f']},{i['l']},{i['T']},{i['m']},{i['M']}" for i in infos
    ]
    path = write_archive(tmp_path, "XRPETH", "2019-10-11", rows, kind="aggTrades")
    summary = import_paths(store, [path], progress=False)
    key = SymbolKey("binance", "spot", "XRPETH")
    assert summary.symbols[key].inserted == len(infos) == 12477
    raw_trades = count(store, key, "SELECT sum(last_trade_id - first_trade_id + 1) FROM ticks")
    assert raw_trades == sum(i["l"] - i["f"] + 1 for i in infos) == 14672
    assert count(store, key, "SELECT id_space FROM symbol_meta") == "agg_trade"


def test_damaged_zip_imports_nothing(tmp_path, store, spot_btc):
    path = write_archive(tmp_path, "BTCUSDT", "2024-08-08", archive_rows(spot_btc, "spot"))
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        start = zf.infolist()[0].header_offset + 30 + len(zf.infolist()[0].filename)
    middle = start + (len(data) - start) // 2
    data[middle : middle + 64] = bytes(64)  # zero a run inside the deflate stream
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArchiveError, match=path.name):
        import_paths(store, [path], progress=False)
    key = SymbolKey("binance", "spot", "BTCUSDT")
    assert not key.path(store.root).exists() or count(store, key) == 0


def test_inexact_value_falls_back_to_strings_and_is_quarantined(
    tmp_path, store, usdm_eth, monkeypatch
):
    """One price with 9 decimals far into the file: the rows before it are not handed out
    twice, the rest still imports, and the store quarantines just that row."""
    monkeypatch.setattr(binance_archive, "BLOCK_SIZE", 16 << 10)  # many small batches
    rows = archive_rows(usdm_eth, "usdm")
    bad_at = 1500
    cells = rows[bad_at].split(",")
    cells[1] = cells[1] + "000000001"  # 3400.10 -> 3400.10000000001: cannot be kept exactly
    rows[bad_at] = ",".join(cells)
    path = write_archive(tmp_path, "ETHUSDT", "2024-07-18", rows, as_zip=False)
    batches = list(binance_archive.read(path, ImportOptions()))
    assert len(batches) > 5
    assert sum(b.table.num_rows for b in batches) == len(rows)
    summary = import_paths(store, [path], progress=False)
    key = SymbolKey("binance", "usdm", "ETHUSDT")
    c = summary.symbols[key]
    assert (c.inserted, c.quarantined, c.duplicates) == (len(rows) - 1, 1, 0)
    with store.connection(key) as con:
        reason = con.execute("SELECT reason FROM quarantine").fetchall()[0][0]
    assert "decimals" in reason
    assert store.gaps(key) == [(usdm_eth[bad_at]["t"], usdm_eth[bad_at]["t"])]
