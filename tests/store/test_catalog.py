"""The analytics catalog: views and macros defined once in the hub, resolved per lease."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest

from tapeflow.model.symbols import SymbolKey
from tapeflow.store import SchemaError, TickStore
from tapeflow.store.catalog import define_analytics, load_definitions
from tapeflow.store.migrations import RETIRED_VERSIONS, load_migrations
from tests.store.conftest import read_capture_trades, trades_to_table
from tests.support.paths import HFT_DIR

BTC = SymbolKey("binance", "usdm", "BTCUSDT")
ETH = SymbolKey("binance", "usdm", "ETHUSDT")


@pytest.fixture(scope="module")
def tables():
    btc = trades_to_table(read_capture_trades(HFT_DIR / "usdm" / "btcusdt_20240808.gz"))
    eth = trades_to_table(read_capture_trades(HFT_DIR / "usdm" / "ethusdt_20240808.gz"))
    return {BTC: btc, ETH: eth}


def user_objects(con: duckdb.DuckDBPyConnection, database: str) -> tuple[int, int]:
    views = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE database_name = ? AND NOT internal",
        [database],
    ).fetchall()[0][0]
    macros = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE database_name = ? "
        "AND function_type IN ('macro', 'table_macro')",
        [database],
    ).fetchall()[0][0]
    return views, macros


def test_files_hold_tables_only_and_views_resolve_to_the_leased_file(tmp_path, tables):
    with TickStore(tmp_path) as store:
        for key, table in tables.items():
            store.append(key, table, id_space="trade")
        for key, table in tables.items():
            with store.connection(key) as con:
                assert user_objects(con, key.alias) == (0, 0)
                # a view and a table macro of the hub, answered from this file's ticks
                one_minute = con.execute(
                    "SELECT sum(trades), min(first_trade_id), max(last_trade_id) "
                    "FROM candles_1m_ticks"
                ).fetchall()[0]
                ids = table.column("trade_id")
                assert one_minute[1:] == (ids[0].as_py(), ids[-1].as_py())
                kline = sum(1 for t in table.column("trade_type").to_pylist() if t == "MARKET")
                assert one_minute[0] == kline
                first = table.column("ts")[0].as_py().replace(tzinfo=None)
                n = con.execute(
                    "SELECT sum(trades) FROM candles('1m', ?::TIMESTAMP - INTERVAL 1 DAY, "
                    "?::TIMESTAMP + INTERVAL 1 DAY)",
                    [first, first],
                ).fetchall()[0][0]
                assert n == kline


def test_concurrent_leases_each_see_their_own_file(tmp_path, tables):
    with TickStore(tmp_path) as store:
        for key, table in tables.items():
            store.append(key, table, id_space="trade")
        expected = {key: table.num_rows for key, table in tables.items()}

        def count(key: SymbolKey) -> int:
            with store.connection(key) as con:
                return (
                    con.execute("SELECT count(*) FROM kline_ticks").fetchall()[0][0]
                    + (
                        con.execute(
                            "SELECT count(*) FROM ticks WHERE trade_type <> 'MARKET'"
                        ).fetchall()[0][0]
                    )
                )

        keys = [BTC, ETH] * 50
        with ThreadPoolExecutor(8) as ex:
            got = list(ex.map(count, keys))
        assert got == [expected[k] for k in keys]


def legacy_file(path: Path) -> None:
    """A file as tapeflow wrote it before analytics moved to the hub: every schema and
    analytics file applied inside it (tables first, then views and macros in number order,
    as today's views read columns of later schema files), all recorded as schema versions."""
    path.parent.mkdir(parents=True)
    con = duckdb.connect(str(path))
    schema = load_migrations()
    # the analytics files that existed then: the retired numbers and those shared with schema
    # files (analytics files added since were never stored in a file)
    then = RETIRED_VERSIONS | {m.version for m in schema}
    files = sorted(
        [(m.version, 0, m) for m in schema]
        + [(d.version, 1, d) for d in load_definitions() if d.version in then],
        key=lambda t: (t[1], t[0]),
    )
    con.execute(
        "CREATE TABLE schema_version (version INTEGER NOT NULL, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'))"
    )
    for _, _, f in files:
        con.execute(f.sql)
    versions = sorted({f.version for _, _, f in files})
    con.executemany(
        "INSERT INTO schema_version (version, name) VALUES (?, 'old')", [[v] for v in versions]
    )
    con.execute(
        "INSERT INTO symbol_meta (exchange, market, symbol) VALUES ('binance', 'usdm', 'BTCUSDT')"
    )
    con.close()


def test_a_file_with_embedded_analytics_is_upgraded_on_read_write_open(tmp_path, tables):
    legacy_file(BTC.path(tmp_path))
    with (
        TickStore(tmp_path, read_only=True) as reader,
        pytest.raises(SchemaError, match="older tapeflow that kept analytics"),
    ):
        reader.summary(BTC)
    with TickStore(tmp_path) as store:
        store.append(BTC, tables[BTC], id_space="trade")
        with store.connection(BTC) as con:
            assert user_objects(con, BTC.alias) == (0, 0)
            versions = {v for (v,) in con.execute("SELECT version FROM schema_version").fetchall()}
            assert versions == {m.version for m in load_migrations()}
            assert not versions & RETIRED_VERSIONS
            assert (
                con.execute("SELECT count(*) FROM ticks").fetchall()[0][0] == tables[BTC].num_rows
            )
            assert con.execute("SELECT count(*) FROM gaps").fetchall()[0][0] == 0
    with TickStore(tmp_path, read_only=True) as reader:
        assert reader.summary(BTC)["rows"] == tables[BTC].num_rows


def test_a_failing_analytics_file_is_named(tmp_path):
    folder = tmp_path / "analytics"
    folder.mkdir()
    (folder / "001_ok.sql").write_text("CREATE MACRO two() AS 2;")
    (folder / "002_bad.sql").write_text("CREATE VIEW v AS SELECT * FROM no_such_table;")
    hub = duckdb.connect()
    with pytest.raises(SchemaError, match=r"sql/analytics/002_bad\.sql: .*no_such_table"):
        define_analytics(hub, load_definitions(folder))
    # the template schema is gone either way; the hub stays usable
    assert (
        hub.execute("SELECT count(*) FROM duckdb_databases() WHERE NOT internal").fetchall()[0][0]
        == 1
    )


def test_cli_reading_commands_point_to_migrate_which_upgrades(tmp_path, tables):
    from tests.sources.test_cli import run

    legacy_file(BTC.path(tmp_path))
    with duckdb.connect(str(BTC.path(tmp_path))) as con:  # ticks written by the old code
        con.register("t", tables[BTC])
        con.execute(
            "INSERT INTO ticks (trade_id, ts, price, quantity, side, trade_type) "
            "SELECT trade_id, ts AT TIME ZONE 'UTC', price::DECIMAL(18,8), "
            "quantity::DECIMAL(28,8), side, trade_type FROM t"
        )
    for args in (("info",), ("gaps",), ("sql", "BTCUSDT", "SELECT count(*) FROM ticks")):
        res = run(*args, "--root", str(tmp_path))
        assert res.exit_code == 2, res.output
        assert "tapeflow migrate" in res.output
    res = run("migrate", "--root", str(tmp_path))
    assert res.exit_code == 0, res.output
    every = ", ".join(str(m.version) for m in load_migrations())  # 1, 2, 102, 120, 200
    assert f"binance/usdm/BTCUSDT: schema migrations {every}" in res.output
    res = run("sql", "BTCUSDT", "SELECT count(*) AS n FROM ticks", "--root", str(tmp_path))
    assert res.exit_code == 0, res.output
    assert f"{tables[BTC].num_rows}" in res.output
    res = run("gaps", "--root", str(tmp_path))  # the gaps view of the hub, on this file
    assert res.exit_code == 0, res.output
    assert "0 gap(s) in 1 symbol(s)" in res.output
