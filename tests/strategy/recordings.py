"""A tick store holding the real recordings of ``../shared/data/market``, for strategy tests
and the strategy benchmark: imported with ``tapeflow.sources.import_paths`` and with the
candle cache brought up to date (as the live writer does after each batch)."""

from __future__ import annotations

from pathlib import Path

from tapeflow.analytics.candles import refresh_candles
from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import import_paths
from tapeflow.store import TickStore
from tests.support.paths import FREQTRADE_JSON_GZ, HFT_DIR

#: The recordings the strategy tests run on: Binance USD-M and spot BTCUSDT/ETHUSDT
#: (hftbacktest captures, ~11 minutes each) and spot XRPETH (freqtrade, ~2.5 days — the only
#: one long enough to warm up EMA(200) on 15m candles).
RECORDINGS: tuple[Path, ...] = (HFT_DIR / "usdm", HFT_DIR / "spot", FREQTRADE_JSON_GZ)

SYMBOLS: tuple[SymbolKey, ...] = (
    SymbolKey("binance", "usdm", "BTCUSDT"),
    SymbolKey("binance", "usdm", "ETHUSDT"),
    SymbolKey("binance", "spot", "BTCUSDT"),
    SymbolKey("binance", "spot", "ETHUSDT"),
    SymbolKey("binance", "spot", "XRPETH"),
)
XRPETH = SymbolKey("binance", "spot", "XRPETH")


def refresh_all(store: TickStore) -> None:
    """Bring every symbol's candle cache up to date."""
    for key in store.symbols():
        with store.connection(key) as con:
            refresh_candles(con)


def build_store(root: Path, paths: tuple[Path, ...] = RECORDINGS) -> TickStore:
    """Import ``paths`` into a new store at ``root`` and refresh its candle caches."""
    store = TickStore(root)
    import_paths(store, paths, progress=False)
    refresh_all(store)
    return store
