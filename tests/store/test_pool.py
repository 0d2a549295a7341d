"""The bounded LRU pool under concurrent writers, eviction and exhaustion."""

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tapeflow.model.symbols import SymbolKey
from tapeflow.store import PoolExhaustedError, TickStore
from tests.store.conftest import trades_to_table


def symbol_name(i: int) -> str:
    return f"S{i:03d}USDT"


def test_300_symbols_through_pool_of_50(tmp_path: Path, usdm_btc_trades: list[dict]) -> None:
    """Concurrent writers on 300 symbols with only 50 attached at once lose nothing."""
    store = TickStore(tmp_path, pool_limit=50, memory_limit="512MB")
    keys = [SymbolKey("binance", "usdm", symbol_name(i)) for i in range(300)]
    batches = [trades_to_table(usdm_btc_trades[j : j + 100]) for j in range(0, 500, 100)]
    errors: list[BaseException] = []

    def write(key: SymbolKey) -> int:
        try:
            return sum(store.append(key, b, id_space="trade").inserted for b in batches)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
            raise

    # each symbol is written in several rounds, interleaved with the others
    with ThreadPoolExecutor(max_workers=8) as ex:
        inserted = list(ex.map(write, keys + keys[::-1]))
    assert not errors
    assert sum(inserted) == 300 * 500
    stats = store.stats()
    assert stats.attached <= 50
    assert stats.evictions >= 250
    assert stats.hits + stats.misses >= 600 * len(batches)
    for key in keys[::37]:
        with store.connection(key) as con:
            rows = con.execute("SELECT count(*), count(DISTINCT trade_id) FROM ticks").fetchall()
        assert rows == [(500, 500)]
    store.close()
    # every file was closed cleanly and reopens with all its ticks
    with TickStore(tmp_path, read_only=True) as reader:
        assert len(reader.symbols()) == 300
        assert sum(reader.summary(k)["rows"] for k in reader.symbols()) == 300 * 500


def test_leased_database_is_never_evicted(tmp_path: Path, usdm_btc_trades: list[dict]) -> None:
    store = TickStore(tmp_path, pool_limit=2)
    table = trades_to_table(usdm_btc_trades[:10])
    held = SymbolKey("binance", "spot", "HELDUSDT")
    store.append(held, table, id_space="trade")
    with store.connection(held) as con:
        for i in range(5):  # churn the other slot
            store.append(SymbolKey("binance", "spot", symbol_name(i)), table, id_space="trade")
        assert con.execute("SELECT count(*) FROM ticks").fetchall() == [(10,)]
    assert store.stats().evictions >= 4
    store.close()


def test_exhausted_pool_raises_after_waiting(tmp_path: Path, usdm_btc_trades: list[dict]) -> None:
    store = TickStore(tmp_path, pool_limit=1)
    store.pool._wait_timeout_s = 0.2
    a, b = SymbolKey("binance", "spot", "AAAUSDT"), SymbolKey("binance", "spot", "BBBUSDT")
    table = trades_to_table(usdm_btc_trades[:5])
    store.append(a, table, id_space="trade")
    with store.connection(a), pytest.raises(PoolExhaustedError, match="all 1 pooled"):
        store.append(b, table, id_space="trade")
    # once released, the waiting side proceeds
    released = threading.Event()

    def hold_then_release() -> None:
        with store.connection(a):
            released.wait(0.1)

    t = threading.Thread(target=hold_then_release)
    store.pool._wait_timeout_s = 5
    t.start()
    assert store.append(b, table, id_space="trade").inserted == 5
    t.join()
    store.close()


def test_close_refuses_while_leased(tmp_path: Path, usdm_btc_trades: list[dict]) -> None:
    store = TickStore(tmp_path)
    key = SymbolKey("binance", "spot", "BTCUSDT")
    store.append(key, trades_to_table(usdm_btc_trades[:5]), id_space="trade")
    with store.connection(key), pytest.raises(RuntimeError, match="still in use"):
        store.close()
    store.close()
    store.close()  # idempotent
