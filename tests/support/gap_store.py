"""A store like the demo's where data gaps matter: Binance USD-M BTCUSDT from February 2020
(Tardis CSV) and July/August 2024 (hftbacktest captures), spot BTCUSDT from January 2021
(nautilus Parquet) and August 2024 — years of missing trade ids between the recordings, as
``scripts/demo`` stores them (``tapeflow.sources.import_paths``, candle caches refreshed as
the live writer does)."""

from __future__ import annotations

from pathlib import Path

from tapeflow.analytics.candles import refresh_candles
from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import import_paths
from tapeflow.store import TickStore
from tests.support.paths import HFT_DIR, NAUTILUS_PARQUET, TARDIS_CSV

USDM_BTC = SymbolKey("binance", "usdm", "BTCUSDT")
SPOT_BTC = SymbolKey("binance", "spot", "BTCUSDT")

USDM_FILES = (
    TARDIS_CSV,
    HFT_DIR / "usdm" / "btcusdt_20240718.gz",
    HFT_DIR / "usdm" / "btcusdt_20240719.gz",
    HFT_DIR / "usdm" / "btcusdt_20240808.gz",
)
SPOT_FILES = (
    NAUTILUS_PARQUET,
    HFT_DIR / "spot" / "btcusdt_20240808.gz",
    HFT_DIR / "spot" / "btcusdt_20240809.gz",
)


def build_gap_store(root: Path) -> Path:
    """Import the files above into a new store at ``root``; return ``root`` (closed)."""
    with TickStore(root) as store:
        import_paths(store, USDM_FILES, progress=False)
        # the Parquet file does not say its exchange and market (the demo passes them too)
        import_paths(store, SPOT_FILES, exchange="binance", market="spot", progress=False)
        for key in (USDM_BTC, SPOT_BTC):
            with store.connection(key) as con:
                refresh_candles(con)
    return root
