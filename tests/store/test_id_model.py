"""The id model of stored trade ids is the venue's, and gap detection uses contiguity only
where the venue says its ids have it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore
from tapeflow.venues import IdModel, VenueCapabilityError
from tests.store.conftest import trades_to_table

BINANCE = SymbolKey("binance", "usdm", "BTCUSDT")
OPAQUE = SymbolKey("hyperliquid", "perp", "BTC")


def sparse(trades: list[dict]) -> list[dict]:
    """Real trades with every third one left out: holes in the ids."""
    return [t for i, t in enumerate(trades[:3000]) if i % 3 != 1]


def missing_between(store: TickStore, key: SymbolKey, lo: int, hi: int) -> int:
    with store.connection(key) as con:
        return con.execute("SELECT ids_missing_between(?, ?)", [lo, hi]).fetchall()[0][0]


def test_opaque_ids_get_no_false_gaps(store: TickStore, usdm_btc_trades: list[dict]) -> None:
    trades = sparse(usdm_btc_trades)
    table = trades_to_table(trades)
    first, last = trades[0]["t"], trades[-1]["t"]
    store.append(BINANCE, table, id_space="trade")
    store.append(OPAQUE, table, id_space="trade")

    assert store.id_model(BINANCE) is IdModel.CONTIGUOUS
    assert store.id_model(OPAQUE) is IdModel.OPAQUE
    # the same ids: a loss on Binance, where ids are contiguous ...
    assert len(store.gaps(BINANCE)) == 1000
    assert store.gaps(BINANCE)[0] == (first + 1, first + 1)
    assert missing_between(store, BINANCE, first, last) == 1000
    # ... and nothing to tell on a venue whose ids are opaque
    assert store.gaps(OPAQUE) == []
    assert missing_between(store, OPAQUE, first, last) == 0
    assert store.summary(OPAQUE)["gaps"] == 0
    assert store.summary(BINANCE)["missing_ids"] == 1000


def test_aggregate_ids_keep_gap_detection(store: TickStore, usdm_btc_trades: list[dict]) -> None:
    store.append(BINANCE, trades_to_table(sparse(usdm_btc_trades)), id_space="agg_trade")
    assert store.id_model(BINANCE) is IdModel.AGGREGATE_RANGES
    assert len(store.gaps(BINANCE)) == 1000


def test_an_id_space_the_venue_does_not_have_is_refused(
    store: TickStore, usdm_btc_trades: list[dict]
) -> None:
    with pytest.raises(VenueCapabilityError, match="hyperliquid trades have no 'agg_trade' ids"):
        store.append(OPAQUE, trades_to_table(usdm_btc_trades[:10]), id_space="agg_trade")
    assert not OPAQUE.path(store.root).exists()  # refused before any file is made


def test_a_file_written_before_the_id_model_gets_it_on_read_write_open(
    tmp_path: Path, usdm_btc_trades: list[dict]
) -> None:
    with TickStore(tmp_path) as store:
        store.append(OPAQUE, trades_to_table(sparse(usdm_btc_trades)), id_space="trade")
    con = duckdb.connect(str(OPAQUE.path(tmp_path)))
    con.execute("ALTER TABLE symbol_meta DROP COLUMN id_model")
    con.execute("DELETE FROM schema_version WHERE version = 2")
    con.close()
    with TickStore(tmp_path) as store:
        assert store.id_model(OPAQUE) is IdModel.OPAQUE
        assert store.gaps(OPAQUE) == []
    with TickStore(tmp_path, read_only=True) as reader:
        assert reader.id_model(OPAQUE) is IdModel.OPAQUE
