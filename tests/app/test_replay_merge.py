"""The replay merges files as streams: time order across files, one batch per file held."""

from tapeflow.app.replay import merge_by_time
from tapeflow.model.symbols import SymbolKey
from tapeflow.sources.model import SourceBatch
from tests.store.conftest import read_capture_trades, trades_to_table
from tests.support.paths import HFT_DIR

BATCH = 500


def stream(key: SymbolKey, path, pulled: dict):
    table = trades_to_table(read_capture_trades(path))
    for offset in range(0, table.num_rows, BATCH):
        pulled[key] = pulled.get(key, 0) + 1
        yield SourceBatch(key=key, id_space="trade", table=table.slice(offset, BATCH))


def test_files_merge_by_time_reading_one_batch_per_file_at_a_time():
    btc = SymbolKey("binance", "usdm", "BTCUSDT")
    eth = SymbolKey("binance", "usdm", "ETHUSDT")
    pulled: dict[SymbolKey, int] = {}
    streams = [
        stream(btc, HFT_DIR / "usdm" / "btcusdt_20240808.gz", pulled),
        stream(eth, HFT_DIR / "usdm" / "ethusdt_20240808.gz", pulled),
    ]
    rows = merge_by_time(streams)
    first = next(rows)
    assert pulled == {btc: 1, eth: 1}  # nothing read ahead beyond one batch per file
    out = [first, *rows]
    times = [r[3]["ts"] for r in out]
    assert times == sorted(times)
    for key, path in ((btc, "btcusdt_20240808.gz"), (eth, "ethusdt_20240808.gz")):
        expected = [t["t"] for t in read_capture_trades(HFT_DIR / "usdm" / path)]
        got = [r[3]["trade_id"] for r in out if r[0] == key]
        assert sorted(got) == sorted(expected)
        assert pulled[key] == -(-len(expected) // BATCH)
