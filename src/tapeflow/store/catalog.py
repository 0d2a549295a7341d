"""The analytics catalog: every view and macro of ``sql/analytics/``, defined once per process.

Views and macros are code, not data. They are created once in the pool's hub, in its own
in-memory database ``memory``, instead of inside each symbol's file: 200 attached files then
share one catalog (each file's copy cost ~0.7 MB resident, most of the pool's memory), and a
corrected definition takes effect on the next start without touching any file. A symbol's
file holds only its tables (``sql/schema/``).

Name resolution: a lease's search path is its file, then ``memory.main``
(:class:`~tapeflow.store.pool.ConnectionPool`). ``ticks``, ``candles_1m`` … resolve to the
leased file; ``candles(...)``, ``gaps`` … to the hub. Inside a view or macro body, an
unqualified table name resolves at query time against the querying lease's file, because
the hub's own database has no such table. The files run in number order, as each may use
the ones before it.

DuckDB binds a view or macro when it is created, so the tables must exist then: the
definitions are created while an empty in-memory copy of the schema (``sql/schema/``) is on
the search path, and that template is detached afterwards.
"""

from __future__ import annotations

from functools import cache
from importlib.resources.abc import Traversable
from pathlib import Path

import duckdb

from tapeflow.resources import sql_folder
from tapeflow.store.migrations import (
    Migration,
    SchemaError,
    load_migrations,
    load_sql_files,
    migrate,
)
from tapeflow.store.pool import HUB_DATABASE

_TEMPLATE = "tapeflow_schema_template"


@cache
def load_definitions(folder: Traversable | None = None) -> tuple[Migration, ...]:
    """The analytics files (default ``sql/analytics/``), in number order.

    Raises:
        SchemaError: on a file name not of the form ``NNN_name.sql`` or a repeated number.
        FileNotFoundError: the installation has no ``sql/analytics/``.
    """
    return load_sql_files(folder or sql_folder("analytics"))


def define_analytics(
    hub: duckdb.DuckDBPyConnection, definitions: tuple[Migration, ...] | None = None
) -> None:
    """Create every view and macro of ``definitions`` (default :func:`load_definitions`) in
    the hub's database ``memory``, bound against an empty template of the schema.

    Raises:
        SchemaError: naming the analytics file that failed and DuckDB's reason.
    """
    definitions = definitions if definitions is not None else load_definitions()
    hub.execute(f"ATTACH ':memory:' AS {_TEMPLATE}")
    cur = hub.cursor()
    try:
        cur.execute(f"USE {_TEMPLATE}")
        migrate(cur, load_migrations())
        cur.execute(f"USE {HUB_DATABASE}")
        cur.execute(f"SET search_path = '{HUB_DATABASE}.main,{_TEMPLATE}.main'")
        for d in definitions:
            try:
                cur.execute(d.sql)
            except duckdb.Error as exc:
                raise SchemaError(f"sql/analytics/{d.version:03d}_{d.name}.sql: {exc}") from exc
    finally:
        cur.close()
        hub.execute(f"DETACH {_TEMPLATE}")


def connect_with_catalog(path: Path | str, alias: str = "symbol") -> duckdb.DuckDBPyConnection:
    """A plain DuckDB connection on one symbol's file with every view and macro of
    ``sql/analytics/`` — the way to query them without tapeflow's pool, e.g. ::

        con = connect_with_catalog("data/binance/spot/XRPETH/trading.duckdb")
        con.sql("SELECT * FROM fvgs('15m') WHERE status <> 'filled'").pl()

    The file is attached read-only as ``alias`` and made the default database, the catalog
    is defined in the connection's in-memory database (as :func:`define_analytics` does for
    the pool's hub) and searched after the file. No other process may hold the file
    read-write (DuckDB's lock); while ``tapeflow run`` holds it, use ``tapeflow.open`` or
    ``tapeflow sql``, which go through the query endpoint. Close the connection when done.

    Raises:
        duckdb.IOException: the file is missing or locked by another process.
        SchemaError: an analytics file fails to define.
    """
    con = duckdb.connect()
    try:
        define_analytics(con)
        quoted = str(path).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS \"{alias}\" (READ_ONLY)")
        con.execute(f'USE "{alias}"')
        con.execute(f"SET search_path = '\"{alias}\".main,{HUB_DATABASE}.main'")
    except BaseException:
        con.close()
        raise
    return con
