"""Where the shared, read-only market recordings live (beside the repo, never copied in)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
MARKET_DIR = (REPO_ROOT.parent / "shared" / "data" / "market").resolve()
HFT_DIR = MARKET_DIR / "nkaz001_hftbacktest" / "examples"
TARDIS_CSV = MARKET_DIR / "nautechsystems_nautilus_trader/tests/test_data/tardis/trades.csv"
NAUTILUS_PARQUET = (
    MARKET_DIR / "nautechsystems_nautilus_trader/tests/test_data/binance/btcusdt-trades.parquet"
)
FREQTRADE_PARQUET = MARKET_DIR / "freqtrade_freqtrade/tests/testdata/XRP_ETH-trades.parquet"
FREQTRADE_JSON_GZ = MARKET_DIR / "freqtrade_freqtrade/tests/testdata/XRP_OLD-trades.json.gz"
