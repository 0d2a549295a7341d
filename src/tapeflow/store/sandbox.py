"""Where users' queries run: a DuckDB instance in which writing is impossible.

A user's SQL (``tapeflow sql``, ``Analytics.sql``, the live process's query endpoint) never
runs on the connection pool's hub, which holds the symbol files read-write and may read and
write any file. It runs in a *sandbox*: a separate in-memory DuckDB instance that

* attaches exactly one symbol database, ``READ_ONLY`` (the file itself when no process holds
  it, or a snapshot of it taken by the process that does);
* defines the analytics views and macros of ``sql/analytics/`` in its own in-memory
  database, as the pool's hub does (:func:`tapeflow.store.catalog.define_analytics`);
* then turns external access off (``enable_external_access = false``: no ``COPY … TO``,
  ``EXPORT DATABASE``, ``ATTACH`` of a file, ``INSTALL``/``LOAD`` of an extension,
  ``read_csv``/``read_text``/``read_parquet``/``glob`` of any path) and locks its
  configuration (``lock_configuration = true``: no ``SET``/``PRAGMA`` of a setting,
  ``RESET``), autoloading and community extensions off;
* runs each query as exactly one statement (:func:`run_statement` executes the one parsed
  statement, never the text) inside a ``READ ONLY`` transaction: data-modifying CTEs and
  writes to the in-memory catalog fail too.

DuckDB's options are documented in "Securing DuckDB" (duckdb.org, operations manual). A
DuckDB file can be attached by one instance of a process at a time, so a sandbox over a
file that a pool of the same process has attached must borrow it first
(:meth:`tapeflow.store.pool.ConnectionPool.lend`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tapeflow.model.errors import TapeflowError
from tapeflow.model.symbols import SymbolKey
from tapeflow.store.catalog import define_analytics
from tapeflow.store.migrations import check_readable
from tapeflow.store.pool import HUB_DATABASE

#: DuckDB options of a sandbox instance, set before anything is attached.
SANDBOX_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
}


class ReadOnlyQueryError(TapeflowError, ValueError):
    """A query that is not one read-only statement, or that tried to write, change a
    setting or reach a file: refused, nothing changed."""


def open_sandbox(
    path: str | Path, key: SymbolKey, *, memory_limit: str = "512MB", threads: int = 2
) -> duckdb.DuckDBPyConnection:
    """A locked DuckDB instance with the database at ``path`` attached ``READ_ONLY`` as
    ``key``'s alias and the analytics catalog defined; see the module docstring. Close it
    when done (the file stays attached until then).

    Args:
        path: a symbol database file (``trading.duckdb``) or a snapshot of one.
        key: the symbol (names the attachment, as in the pool).
        memory_limit: DuckDB memory limit of the sandbox (e.g. ``"512MB"``).
        threads: DuckDB worker threads of the sandbox.

    Raises:
        SchemaError: the file's schema is older or newer than this tapeflow's.
        duckdb.Error: the file cannot be attached (missing, damaged, held by a writer).
    """
    con = duckdb.connect(
        ":memory:", config={**SANDBOX_CONFIG, "memory_limit": memory_limit, "threads": threads}
    )
    try:
        con.execute("SET TimeZone = 'UTC'")
        define_analytics(con)
        escaped = str(path).replace("'", "''")
        con.execute(f"ATTACH '{escaped}' AS \"{key.alias}\" (READ_ONLY)")
        cur = _use(con, key)
        try:
            check_readable(cur)
        finally:
            cur.close()
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def databases(con: duckdb.DuckDBPyConnection) -> frozenset[str]:
    """The databases a sandbox has attached. A query may detach the in-memory catalog or
    attach an in-memory database (neither writes anything); a sandbox shared by several
    queries whose set changed is retired, so one query cannot break the next."""
    cur = con.cursor()
    try:
        rows = cur.execute("SELECT database_name FROM duckdb_databases()").fetchall()
    finally:
        cur.close()
    return frozenset(name for (name,) in rows)


def _use(con: duckdb.DuckDBPyConnection, key: SymbolKey) -> duckdb.DuckDBPyConnection:
    """A cursor of the sandbox whose default database is ``key``'s, then the catalog (the
    same name resolution as a pool lease)."""
    cur = con.cursor()
    cur.execute(f'USE "{key.alias}"; SET search_path = \'"{key.alias}".main,{HUB_DATABASE}.main\'')
    return cur


def run_statement(
    con: duckdb.DuckDBPyConnection, key: SymbolKey, sql: str, params: Sequence[Any] = ()
) -> pa.Table:
    """Run ``sql`` — exactly one statement — on a sandbox from :func:`open_sandbox`, in a
    ``READ ONLY`` transaction on a fresh cursor; the result as an Arrow table.

    Thread-safe: concurrent calls use their own cursors.

    Raises:
        ReadOnlyQueryError: not exactly one statement, or the statement tried to write a
            database, reach a file, load an extension or change a setting (DuckDB's reason
            is in the message).
        duckdb.Error: any other failure of the query (syntax, unknown table, ...).
    """
    statements = con.extract_statements(sql)
    if len(statements) != 1:
        raise ReadOnlyQueryError(
            f"one statement per query is accepted, got {len(statements)}"
            if statements
            else "empty query"
        )
    cur = _use(con, key)
    try:
        cur.execute("BEGIN TRANSACTION READ ONLY")
        result = cur.sql(statements[0], params=list(params))
        return result.to_arrow_table() if result is not None else pa.table({})
    except duckdb.Error as exc:
        why = _refusal(exc)
        if why is None:
            raise
        raise ReadOnlyQueryError(f"refused ({why}): {exc}") from None
    finally:
        with contextlib.suppress(duckdb.Error):  # the statement may have ended it (COMMIT)
            cur.execute("ROLLBACK")
        cur.close()


def _refusal(exc: duckdb.Error) -> str | None:
    """Which sandbox rule ``exc`` reports, or None for an ordinary query error."""
    text = str(exc)
    if isinstance(exc, duckdb.PermissionException):
        return "queries cannot reach files or extensions"
    if isinstance(exc, duckdb.TransactionException) or "read-only mode" in text:
        return "queries cannot write"
    if "configuration has been locked" in text:
        return "queries cannot change settings"
    return None
