"""Import every shared recording twice: counts equal the sources', gaps only where the
sources themselves are apart (SOURCES.md)."""

import csv
import gzip
import json
from itertools import pairwise

import pyarrow.parquet as pq
import pytest

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import import_paths
from tests.sources.archives import capture_trades
from tests.support.paths import (
    FREQTRADE_JSON_GZ,
    FREQTRADE_PARQUET,
    HFT_DIR,
    NAUTILUS_PARQUET,
    TARDIS_CSV,
)

MARKETS = {"spot": "spot", "usdm": "usdm", "cm": "coinm"}


def expected_ids() -> dict[SymbolKey, set[int]]:
    """Trade ids per symbol, read without tapeflow (json, csv, pyarrow)."""
    ids: dict[SymbolKey, set[int]] = {}
    for path in sorted(HFT_DIR.glob("*/*.gz")):
        for t in capture_trades(path):
            key = SymbolKey("binance", MARKETS[path.parent.name], t["s"])
            ids.setdefault(key, set()).add(t["t"])
    with open(TARDIS_CSV, newline="") as fh:
        ids[SymbolKey("binance", "usdm", "BTCUSDT")] |= {int(r["id"]) for r in csv.DictReader(fh)}
    ids[SymbolKey("binance", "spot", "BTCUSDT")] |= set(
        pq.read_table(NAUTILUS_PARQUET)["trade_id"].to_pylist()
    )
    xrp = {int(i) for i in pq.read_table(FREQTRADE_PARQUET)["id"].to_pylist()}
    with gzip.open(FREQTRADE_JSON_GZ, "rt") as fh:
        assert {t["info"]["a"] for t in json.load(fh)} == xrp
    ids[SymbolKey("binance", "spot", "XRPETH")] = xrp
    return ids


def id_runs(ids: set[int]) -> list[tuple[int, int]]:
    """Missing ranges between the contiguous runs of ``ids``."""
    s = sorted(ids)
    return [(a + 1, b - 1) for a, b in pairwise(s) if b > a + 1]


@pytest.mark.slow
def test_import_everything_twice(store, market_dir):
    expected = expected_ids()
    first = import_paths(store, [market_dir], exchange="binance", market="spot", progress=False)
    second = import_paths(store, [market_dir], exchange="binance", market="spot", progress=False)

    assert set(first.symbols) == set(expected) == set(store.symbols())
    assert [p.name for p, _ in first.skipped_files] == ["SOURCES.md"]
    for key, ids in expected.items():
        a, b = first.symbols[key], second.symbols[key]
        assert a.inserted == len(ids), key
        assert (a.conflicts, a.quarantined, b.inserted, b.conflicts) == (0, 0, 0, 0), key
        assert b.duplicates == b.received == a.received, key
        with store.connection(key) as con:
            stored = {r[0] for r in con.execute("SELECT trade_id FROM ticks").fetchall()}
        assert stored == ids, key
        assert store.gaps(key) == id_runs(ids), key

    # where SOURCES.md says the recordings are contiguous, nothing is missing
    for key in (
        "binance/coinm/BTCUSD_PERP",
        "binance/coinm/ETHUSD_PERP",
        "binance/spot/ETHUSDT",
        "binance/spot/XRPETH",
    ):
        assert store.gaps(SymbolKey.parse(key)) == []
    # USD-M BTCUSDT: Tardis 2020 | July 18-19 2024 | Aug 8 2024 -> exactly two holes
    assert store.gaps(SymbolKey.parse("binance/usdm/BTCUSDT")) == [
        (42387943, 5182005736),
        (5182016438, 5266583934),
    ]
    # the day pairs join: no hole between 2024-07-18 and -19 nor 2024-08-08 and -09
    assert store.gaps(SymbolKey.parse("binance/usdm/ETHUSDT")) == [(4217910239, 4308068522)]
