"""Unknown formats and unresolvable symbols fail clearly and write nothing."""

import pytest

from tapeflow.sources import (
    SourceError,
    SymbolResolutionError,
    UnknownFormatError,
    detect_format,
    import_paths,
)
from tests.sources.archives import archive_rows, capture_trades
from tests.support.paths import HFT_DIR, MARKET_DIR, NAUTILUS_PARQUET, TARDIS_CSV


def test_unknown_format_names_the_file_and_writes_nothing(store):
    readme = MARKET_DIR / "SOURCES.md"
    with pytest.raises(UnknownFormatError, match="SOURCES.md: unknown trade file format"):
        import_paths(store, [HFT_DIR / "cm/btcusd_perp_20240808.gz", readme], progress=False)
    assert store.symbols() == []


def test_missing_symbol_options_fail_before_anything_is_written(store):
    good = HFT_DIR / "usdm/btcusdt_20240718.gz"
    with pytest.raises(SymbolResolutionError) as info:
        import_paths(store, [good, NAUTILUS_PARQUET], progress=False)
    message = str(info.value)
    assert str(NAUTILUS_PARQUET) in message and "--exchange --market" in message
    assert store.symbols() == []


def test_archive_rows_without_a_telling_name_need_symbol(tmp_path, store):
    path = tmp_path / "export.csv"
    path.write_text(
        "\n".join(archive_rows(capture_trades(HFT_DIR / "usdm/btcusdt_20240718.gz"), "usdm")) + "\n"
    )
    with pytest.raises(SourceError, match="trades from aggTrades"):
        import_paths(store, [path], progress=False)
    with pytest.raises(SymbolResolutionError, match="--symbol"):
        import_paths(store, [path], id_space="trade", market="usdm", progress=False)
    assert store.symbols() == []
    summary = import_paths(
        store, [path], id_space="trade", market="usdm", symbol="BTCUSDT", progress=False
    )
    assert summary.total.inserted == 974


def test_detection(tmp_path):
    assert detect_format(TARDIS_CSV).name == "tardis"
    assert detect_format(NAUTILUS_PARQUET).name == "parquet"
    assert detect_format(HFT_DIR / "spot/btcusdt_20240808.gz").name == "binance_ws"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01garbage")
    with pytest.raises(UnknownFormatError, match="junk.bin"):
        detect_format(junk)
