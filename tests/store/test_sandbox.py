"""User queries run where writing is impossible: the sandbox, whatever the query says.

These run the hostile-query table *without* the friendly parser check in front, to show
that the protection is where the query runs, not what the text looks like.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from tapeflow.analytics.endpoint import SnapshotSandboxes
from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore
from tapeflow.store.sandbox import ReadOnlyQueryError
from tests.store.conftest import trades_to_table
from tests.support.hostile import HOSTILE_QUERIES, SANDBOX_NO_OPS, hostile

KEY = SymbolKey("binance", "usdm", "BTCUSDT")
OTHER = SymbolKey("binance", "spot", "ETHUSDT")
CHECK = "SELECT count(*) AS n, sum(hash(trade_id, ts, price, quantity, side)) AS h FROM ticks"


def fingerprint(root: Path) -> dict[str, str]:
    """sha256 of every file under the root, except the endpoint's own folder."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".tapeflow" not in p.parts
    }


@pytest.fixture
def root(tmp_path: Path, usdm_btc_trades) -> Path:
    root = tmp_path / "data"
    with TickStore(root) as store:
        store.append(KEY, trades_to_table(usdm_btc_trades), id_space="trade")
        store.set_tick_size(OTHER, "0.01")  # a second symbol file, empty
    return root


def run_all(query, root: Path) -> None:
    """Every hostile query fails (or, for the sandbox's own no-ops, does nothing)."""
    for template, sql in zip(HOSTILE_QUERIES, hostile(root, OTHER.path(root)), strict=True):
        if template in SANDBOX_NO_OPS:
            query(sql)
            continue
        with pytest.raises((ReadOnlyQueryError, duckdb.Error)):
            query(sql)
            pytest.fail(f"ran: {sql}")


def test_hostile_queries_on_a_file_change_nothing(root: Path) -> None:
    before = fingerprint(root)
    with TickStore(root, read_only=True) as store:
        truth = store.read_only_query(KEY, CHECK).to_pylist()
        assert truth[0]["n"] == 21_313
        with store.connection(KEY) as con:  # the pool lends the file to each sandbox
            assert con.execute("SELECT count(*) FROM ticks").fetchall() == [(21_313,)]
        run_all(lambda sql: store.read_only_query(KEY, sql), root)
        assert store.read_only_query(KEY, CHECK).to_pylist() == truth
        with store.connection(KEY) as con:  # and gets it back
            assert con.execute("SELECT count(*) FROM ticks").fetchall() == [(21_313,)]
    assert fingerprint(root) == before
    assert not (root / "ticks.csv").exists() and not (root / "export").exists()


def test_hostile_queries_on_live_snapshots_change_nothing(root: Path) -> None:
    with TickStore(root) as store:  # the live process: files held read-write
        with store.connection(KEY) as con:
            truth = con.execute(CHECK).fetchall()
        before = fingerprint(root)
        snapshots = SnapshotSandboxes(store)
        run_all(lambda sql: snapshots.query(KEY, sql, []), root)
        # a query after the table still answers, from an intact sandbox
        assert snapshots.query(KEY, CHECK, []).to_pylist()[0]["n"] == 21_313
        assert snapshots.query(KEY, "SELECT count(*) AS n FROM candles_1m_ticks", [])[
            "n"
        ].to_pylist() == [6]
        with store.connection(KEY) as con:
            assert con.execute(CHECK).fetchall() == truth
        assert fingerprint(root) == before
        snapshots.close()
    assert not list((root / ".tapeflow" / "snapshots").iterdir())


def test_snapshot_is_reused_within_its_age_then_refreshed(root: Path) -> None:
    with TickStore(root) as store:
        snapshots = SnapshotSandboxes(store, max_age_s=3600)
        count = "SELECT count(*) AS n FROM ticks"
        assert snapshots.query(KEY, count, [])["n"].to_pylist() == [21_313]
        with store.connection(KEY) as con:
            con.execute("DELETE FROM ticks WHERE trade_id % 2 = 0")
        assert snapshots.query(KEY, count, [])["n"].to_pylist() == [21_313]  # same snapshot
        snapshots.max_age_s = 0
        assert snapshots.query(KEY, count, [])["n"].to_pylist() == [10_657]
        snapshots.close()
