"""Symbol validation happens before any path is built."""

from pathlib import Path

import pytest

from tapeflow.model.symbols import InvalidSymbolError, SymbolKey


@pytest.mark.parametrize(
    "symbol", ["BTCUSDT", "ETHUSD_PERP", "BTCUSDT_240927", "1000PEPEUSDT", "XRPETH"]
)
def test_valid_symbols_map_to_their_path(symbol: str, tmp_path: Path) -> None:
    key = SymbolKey("binance", "usdm", symbol)
    assert key.path(tmp_path) == tmp_path / "binance" / "usdm" / symbol / "trading.duckdb"
    assert key.path(tmp_path).resolve().is_relative_to(tmp_path.resolve())


@pytest.mark.parametrize(
    "symbol",
    [
        "",
        "../BTC",
        "BTC/USDT",
        "btcusdt",
        "BTC USDT",
        "..",
        "A",
        "X" * 41,
        "BTC\\USDT",
        "BTC.USDT",
        "BTCUSDT\n",
        "_PERP",
        "BTC__PERP",
    ],
)
def test_bad_symbols_refused(symbol: str) -> None:
    with pytest.raises(InvalidSymbolError, match="invalid symbol"):
        SymbolKey("binance", "spot", symbol)


def test_unknown_exchange_and_market_refused() -> None:
    with pytest.raises(InvalidSymbolError, match="unknown exchange 'kraken'"):
        SymbolKey("kraken", "spot", "BTCUSD")
    with pytest.raises(InvalidSymbolError, match="unknown market 'linear' for binance"):
        SymbolKey("binance", "linear", "BTCUSDT")
    with pytest.raises(InvalidSymbolError, match="unknown exchange '..'"):
        SymbolKey("..", "spot", "BTCUSDT")


def test_parse() -> None:
    assert SymbolKey.parse("binance/usdm/BTCUSDT") == SymbolKey("binance", "usdm", "BTCUSDT")
    assert SymbolKey.parse("bybit:linear:BTCUSDT").market == "linear"
    with pytest.raises(InvalidSymbolError, match="expected 'exchange/market/SYMBOL'"):
        SymbolKey.parse("BTCUSDT")
    with pytest.raises(InvalidSymbolError):
        SymbolKey.parse("binance/usdm/../../etc")
