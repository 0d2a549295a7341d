"""Versioned schema migrations from the ``sql/schema/`` folder (:mod:`tapeflow.resources`).

Every file ``sql/schema/NNN_name.sql`` is one migration, identified by its number ``NNN``,
and holds tables only (views and macros are analytics: ``sql/analytics/``, defined once per
process by :mod:`tapeflow.store.catalog`, never stored in a symbol's file). On opening a
symbol database read-write, each migration not yet in the database's ``schema_version`` is
applied in order, inside one transaction per file, and recorded. Applying twice is a no-op;
a database created by an older tapeflow is migrated forward. Migration files are never
edited once released; changes go in a new file.

Files written before analytics moved out of them (schema versions 100, 101, 110 and 201 were
analytics-only migrations then) still carry their own copies of the views and macros; the
first read-write open drops them and those version rows (:func:`migrate`).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from functools import cache
from importlib.resources.abc import Traversable

import duckdb

from tapeflow.model.errors import TapeflowError
from tapeflow.resources import sql_files, sql_folder

_MIGRATION_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


class SchemaError(TapeflowError, RuntimeError):
    """A database's schema cannot be used as it is (too old to read, or newer than this code)."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered ``NNN_name.sql`` file (a schema migration or an analytics file)."""

    version: int
    name: str
    sql: str


def load_sql_files(folder: Traversable) -> tuple[Migration, ...]:
    """Every ``NNN_name.sql`` file of ``folder`` (a :class:`~pathlib.Path` or a
    :func:`tapeflow.resources.sql_folder`), ordered by number.

    Raises:
        SchemaError: on a file name not of the form ``NNN_name.sql`` or a repeated number.
    """
    found: dict[int, Migration] = {}
    for path in sql_files(folder):
        m = _MIGRATION_NAME.match(path.name)
        if not m:
            raise SchemaError(f"{path}: sql files must be named NNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise SchemaError(f"{path}: number {version} used twice")
        found[version] = Migration(version, m.group(2), path.read_text(encoding="utf-8"))
    return tuple(found[v] for v in sorted(found))


@cache
def load_migrations(folder: Traversable | None = None) -> tuple[Migration, ...]:
    """All migrations in ``folder`` (default ``sql/schema/``), ordered by version.

    Raises:
        SchemaError: see :func:`load_sql_files`.
        FileNotFoundError: the installation has no ``sql/schema/``.
    """
    return load_sql_files(folder or sql_folder("schema"))


def latest_version(migrations: tuple[Migration, ...] | None = None) -> int:
    """The highest migration number known to this code."""
    migrations = migrations if migrations is not None else load_migrations()
    return migrations[-1].version if migrations else 0


def applied_versions(con: duckdb.DuckDBPyConnection) -> set[int]:
    """The migration numbers recorded in the database ``con`` is using (empty if none)."""
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() "
        "WHERE database_name = current_database() AND table_name = 'schema_version'"
    ).fetchall()[0][0]
    if not exists:
        return set()
    return {v for (v,) in con.execute("SELECT version FROM schema_version").fetchall()}


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """The schema version of the database ``con`` is using (0 if never migrated)."""
    return max(applied_versions(con), default=0)


def migrate(
    con: duckdb.DuckDBPyConnection, migrations: tuple[Migration, ...] | None = None
) -> list[int]:
    """Apply every migration newer than the database's version; return the versions applied.

    ``con`` must have the symbol database as its default (``USE``). Each file runs in its
    own transaction together with its ``schema_version`` row, so a failure leaves the
    database at the last complete version.

    Raises:
        SchemaError: if the database is newer than this code, or a migration fails.
    """
    upgrade_legacy = migrations is None  # only tapeflow's own sql/ knows the retired versions
    migrations = migrations if migrations is not None else load_migrations()
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER NOT NULL, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'))"
    )
    have = {v for (v,) in con.execute("SELECT version FROM schema_version").fetchall()}
    if upgrade_legacy and have & RETIRED_VERSIONS:
        drop_embedded_analytics(con)
        have -= RETIRED_VERSIONS
    unknown = have - {m.version for m in migrations}
    if unknown:
        raise SchemaError(
            f"database has schema migrations {sorted(unknown)} newer than this tapeflow "
            f"(it knows up to {latest_version(migrations)}); upgrade tapeflow"
        )
    applied = []
    # each file is tracked by its own number: a file added later in a lower range (e.g. a
    # new analytics view after a strategy table) is still applied
    for mig in migrations:
        if mig.version in have:
            continue
        try:
            con.execute("BEGIN TRANSACTION")
            con.execute(mig.sql)
            con.execute(
                "INSERT INTO schema_version (version, name) VALUES (?, ?)",
                [mig.version, mig.name],
            )
            con.execute("COMMIT")
        except duckdb.Error as exc:
            with contextlib.suppress(duckdb.TransactionException):  # COMMIT itself failed
                con.execute("ROLLBACK")
            raise SchemaError(f"migration {mig.version:03d}_{mig.name}.sql failed: {exc}") from exc
        applied.append(mig.version)
    return applied


#: Versions that were analytics-only migrations (views and macros stored in every file)
#: before analytics moved to ``sql/analytics/``. Never reused for schema files.
RETIRED_VERSIONS = frozenset({100, 101, 110, 201})


def drop_embedded_analytics(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the views and macros an older tapeflow stored in the database ``con`` uses, and
    the retired version rows: they would shadow the process's current definitions (and each
    costs memory in every attached file). Runs in one transaction; tables are untouched."""
    views = con.execute(
        "SELECT view_name FROM duckdb_views() "
        "WHERE database_name = current_database() AND NOT internal"
    ).fetchall()
    macros = con.execute(
        "SELECT DISTINCT function_name, function_type FROM duckdb_functions() "
        "WHERE database_name = current_database() AND function_type IN ('macro', 'table_macro')"
    ).fetchall()
    con.execute("BEGIN TRANSACTION")
    try:
        for (name,) in views:
            con.execute(f'DROP VIEW "{name}"')
        for name, kind in macros:
            con.execute(f'DROP MACRO {"TABLE " if kind == "table_macro" else ""}"{name}"')
        retired = ", ".join(str(v) for v in sorted(RETIRED_VERSIONS))
        con.execute(f"DELETE FROM schema_version WHERE version IN ({retired})")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def check_readable(con: duckdb.DuckDBPyConnection) -> None:
    """For a read-only database: refuse one older or newer than this code's schema.

    Raises:
        SchemaError: naming both versions and what to do.
    """
    want = latest_version()
    versions = applied_versions(con)
    have = max(versions, default=0)
    if versions & RETIRED_VERSIONS:
        raise SchemaError(
            "database was written by an older tapeflow that kept analytics views in each "
            "file; run `tapeflow migrate` once (with no `tapeflow run` holding the files)"
        )
    missing = {m.version for m in load_migrations()} - versions
    if missing and have <= want:
        raise SchemaError(
            f"database schema is older than this tapeflow's (missing migrations "
            f"{sorted(missing)}); run `tapeflow migrate` once (with no `tapeflow run` holding "
            "the files)"
        )
    if have > want:
        raise SchemaError(f"database schema version {have} is newer than this tapeflow ({want})")
