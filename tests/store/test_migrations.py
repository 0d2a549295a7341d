"""Schema migrations: applied once, in order; older databases migrate forward."""

from pathlib import Path

import duckdb
import pytest

from tapeflow.model.symbols import SymbolKey
from tapeflow.store import SchemaError, TickStore
from tapeflow.store.migrations import (
    current_version,
    latest_version,
    load_migrations,
    migrate,
)


def write_migrations(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        (folder / name).write_text(body)
    return folder


def test_apply_twice_is_noop_and_newer_file_migrates(tmp_path: Path) -> None:
    v1 = write_migrations(tmp_path / "v1", {"001_a.sql": "CREATE TABLE a (x INT);"})
    v2 = write_migrations(
        tmp_path / "v2",
        {
            "001_a.sql": "CREATE TABLE a (x INT);",
            "002_b.sql": "ALTER TABLE a ADD COLUMN y INT; CREATE VIEW b AS SELECT x + y s FROM a;",
        },
    )
    con = duckdb.connect(str(tmp_path / "db.duckdb"))
    assert migrate(con, load_migrations(v1)) == [1]
    assert migrate(con, load_migrations(v1)) == []
    con.execute("INSERT INTO a VALUES (1)")
    assert migrate(con, load_migrations(v2)) == [2]
    assert migrate(con, load_migrations(v2)) == []
    assert current_version(con) == 2
    con.execute("UPDATE a SET y = 2")
    assert con.execute("SELECT s FROM b").fetchall() == [(3,)]
    with pytest.raises(SchemaError, match="newer than this tapeflow"):
        migrate(con, load_migrations(v1))


def test_failed_migration_leaves_last_complete_version(tmp_path: Path) -> None:
    folder = write_migrations(
        tmp_path / "m",
        {"001_a.sql": "CREATE TABLE a (x INT);", "002_bad.sql": "CREATE TABLE b (; "},
    )
    con = duckdb.connect()
    with pytest.raises(SchemaError, match="002_bad.sql failed"):
        migrate(con, load_migrations(folder))
    assert current_version(con) == 1


def test_bad_file_names_refused(tmp_path: Path) -> None:
    folder = write_migrations(tmp_path / "m", {"1_a.sql": "SELECT 1;"})
    with pytest.raises(SchemaError, match="NNN_name.sql"):
        load_migrations(folder)


def test_store_migrates_an_old_database_forward(tmp_path: Path) -> None:
    key = SymbolKey("binance", "spot", "BTCUSDT")
    path = key.path(tmp_path)
    path.parent.mkdir(parents=True)
    only_first = load_migrations()[:1]
    con = duckdb.connect(str(path))
    migrate(con, only_first)
    con.close()
    if latest_version() > 1:  # a read-only open of an old file says how to fix it
        with (
            TickStore(tmp_path, read_only=True) as reader,
            pytest.raises(SchemaError, match="older than this tapeflow"),
        ):
            reader.summary(key)
    with TickStore(tmp_path) as store, store.connection(key) as con:
        assert current_version(con) == latest_version()
        assert con.execute("SELECT symbol FROM symbol_meta").fetchall() == [("BTCUSDT",)]


def test_a_lower_numbered_file_added_later_is_applied(tmp_path: Path) -> None:
    """Areas own number ranges: a new 1xx file after 2xx was applied must still run."""
    first = write_migrations(
        tmp_path / "a",
        {"001_a.sql": "CREATE TABLE a (x INT);", "200_s.sql": "CREATE TABLE s (y INT);"},
    )
    later = write_migrations(
        tmp_path / "b",
        {
            "001_a.sql": "CREATE TABLE a (x INT);",
            "100_v.sql": "CREATE VIEW v AS SELECT x FROM a;",
            "200_s.sql": "CREATE TABLE s (y INT);",
        },
    )
    con = duckdb.connect()
    assert migrate(con, load_migrations(first)) == [1, 200]
    assert migrate(con, load_migrations(later)) == [100]
    assert con.execute("SELECT count(*) FROM v").fetchall() == [(0,)]
