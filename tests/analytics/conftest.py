"""Fixtures for the analytics tests: a tick store holding real recordings, imported through
:class:`~tapeflow.store.TickStore` in several batches (so the candle cache is refreshed
incrementally), then reopened read-only through :func:`tapeflow.open`.

Symbols (all real Binance trades; see ``shared/data/market/SOURCES.md``):

* ``binance/usdm/BTCUSDT`` — 2024-07-18 23:57 .. 07-19 00:05 (crosses a UTC day), tick 0.1
* ``binance/spot/BTCUSDT`` — 2024-08-08 23:54 .. 08-09 00:05, tick 0.01
* ``binance/spot/XRPETH`` — aggregate trades 2019-10-11 .. 10-13 (sparse: many empty
  minutes), tick 0.00000001
* ``binance/usdm/ETHUSDT`` — 2024-07-18/19 with a *constructed* twist: the recordings hold no
  INSURANCE_FUND trades, so every 40th trade is relabelled ``INSURANCE_FUND`` and the very
  last one ``ADL``; those must be left out of candles but still prove closure.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import tapeflow
from tapeflow.analytics.candles import refresh_candles
from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import import_paths
from tapeflow.store import TickStore
from tests.analytics.rawdata import aggtrade_json_trades, capture_trades, trades_table
from tests.support.paths import FREQTRADE_JSON_GZ, HFT_DIR, MARKET_DIR
from tests.support.reference import Trade

USDM_BTC = SymbolKey("binance", "usdm", "BTCUSDT")
SPOT_BTC = SymbolKey("binance", "spot", "BTCUSDT")
SPOT_XRP = SymbolKey("binance", "spot", "XRPETH")
USDM_ETH = SymbolKey("binance", "usdm", "ETHUSDT")

TICK_SIZES = {USDM_BTC: "0.1", SPOT_BTC: "0.01", SPOT_XRP: "0.00000001", USDM_ETH: "0.01"}


def usdm_btc_trades() -> tuple[Trade, ...]:
    return capture_trades(HFT_DIR / "usdm" / "btcusdt_20240718.gz") + capture_trades(
        HFT_DIR / "usdm" / "btcusdt_20240719.gz"
    )


def spot_btc_trades() -> tuple[Trade, ...]:
    return capture_trades(HFT_DIR / "spot" / "btcusdt_20240808.gz") + capture_trades(
        HFT_DIR / "spot" / "btcusdt_20240809.gz"
    )


def xrp_trades() -> tuple[Trade, ...]:
    return aggtrade_json_trades(FREQTRADE_JSON_GZ)


def eth_trades_with_other_types() -> tuple[Trade, ...]:
    """Real USD-M ETHUSDT trades; every 40th relabelled INSURANCE_FUND, the last ADL."""
    real = capture_trades(HFT_DIR / "usdm" / "ethusdt_20240718.gz") + capture_trades(
        HFT_DIR / "usdm" / "ethusdt_20240719.gz"
    )
    out = [
        replace(t, trade_type="INSURANCE_FUND") if i % 40 == 7 else t for i, t in enumerate(real)
    ]
    out[-1] = replace(out[-1], trade_type="ADL")
    return tuple(out)


TRADES = {
    USDM_BTC: usdm_btc_trades,
    SPOT_BTC: spot_btc_trades,
    SPOT_XRP: xrp_trades,
    USDM_ETH: eth_trades_with_other_types,
}


def import_symbol(
    store: TickStore, key: SymbolKey, trades: tuple[Trade, ...], *, batches: int
) -> None:
    """Append ``trades`` in ``batches`` pieces, refreshing the candle cache after each."""
    id_space = "agg_trade" if key == SPOT_XRP else "trade"
    store.set_tick_size(key, TICK_SIZES[key])
    size = -(-len(trades) // batches)
    for i in range(0, len(trades), size):
        res = store.append(
            key, trades_table(trades[i : i + size]), id_space=id_space, source="test"
        )
        assert res.inserted == len(trades[i : i + size])
        with store.connection(key) as con:
            refresh_candles(con)


@pytest.fixture(scope="session")
def store_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Store root with the four symbols, imported read-write, cache refreshed, closed."""
    root = tmp_path_factory.mktemp("analytics") / "data"
    with TickStore(root, pool_limit=8, memory_limit="512MB") as store:
        for key, trades in TRADES.items():
            import_symbol(store, key, trades(), batches=5)
    return root


@pytest.fixture(scope="session")
def ta(store_root: Path):
    """The analytics API over the store, opened read-only."""
    analytics = tapeflow.open(store_root, memory_limit="512MB")
    yield analytics
    analytics.close()


@pytest.fixture(scope="session")
def recordings_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Store root holding every shared recording (``tests/support/paths.MARKET_DIR``),
    imported the way ``tapeflow import`` does, closed."""
    root = tmp_path_factory.mktemp("recordings") / "data"
    with TickStore(root, pool_limit=8, memory_limit="512MB") as store:
        import_paths(store, [MARKET_DIR], exchange="binance", market="spot", progress=False)
    return root


@pytest.fixture(scope="session")
def recordings(recordings_root: Path):
    """The analytics API over :func:`recordings_root`, opened read-only."""
    analytics = tapeflow.open(recordings_root, memory_limit="512MB")
    yield analytics
    analytics.close()
