"""The per-symbol tick store: one DuckDB file per symbol under a root folder."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from tapeflow.model.errors import TapeflowError
from tapeflow.model.symbols import DB_FILENAME, MARKETS, InvalidSymbolError, SymbolKey
from tapeflow.store.catalog import define_analytics
from tapeflow.store.migrations import check_readable, migrate
from tapeflow.store.pool import ConnectionPool, PoolStats
from tapeflow.store.sandbox import open_sandbox, run_statement
from tapeflow.store.ticks import AppendResult, append_ticks, conform
from tapeflow.venues import IdModel, get_venue

log = logging.getLogger(__name__)

IdSpace = Literal["trade", "agg_trade"]

#: One symbol's figures (see :meth:`TickStore.summary`), as one query of its database.
SUMMARY_SQL = (
    "SELECT t.rows, t.first_ts, t.last_ts, t.first_id, t.last_id,"
    " (SELECT id_space FROM symbol_meta) AS id_space,"
    " g.gaps, g.missing_ids,"
    " (SELECT count(*) FROM quarantine) AS quarantined,"
    " (SELECT count(*) FROM tick_conflicts) AS conflicts "
    "FROM (SELECT count(*) AS rows, min(ts) AS first_ts, max(ts) AS last_ts,"
    "  min(trade_id) AS first_id, max(trade_id) AS last_id FROM ticks) t,"
    " (SELECT count(*) AS gaps, coalesce(sum(missing), 0)::BIGINT AS missing_ids FROM gaps) g"
)

#: Missing trade-id ranges ``(first_missing_id, last_missing_id)``, ascending.
GAPS_SQL = "SELECT first_missing_id, last_missing_id FROM gaps ORDER BY 1"
GapStatus = Literal["detected", "filled", "unfillable"]


class IdSpaceMismatchError(TapeflowError, ValueError):
    """Ticks of one id space (raw trade ids vs aggregate ids) sent to a symbol whose stored
    ticks use the other: their ids are not comparable, so they must not be mixed."""


class TickStore:
    """Exact, idempotent store of trade ticks, one DuckDB file per symbol.

    Files live at ``{root}/{exchange}/{market}/{symbol}/trading.duckdb`` and are reached
    through a bounded :class:`~tapeflow.store.pool.ConnectionPool`. Opening a file
    read-write applies the schema migrations from ``sql/schema/``; the views and macros of
    ``sql/analytics/`` are defined once in the pool's hub and visible from every connection
    (:mod:`tapeflow.store.catalog`).

    Args:
        root: the store root folder (created if missing, unless read-only).
        pool_limit: maximum number of symbol files attached at once (LRU beyond).
        memory_limit: DuckDB memory limit for all attached files together.
        threads: DuckDB worker threads.
        read_only: open files read-only; nothing is created or migrated.

    Only one process may open a file read-write; another process (even read-only) then
    fails with DuckDB's lock error.
    """

    def __init__(
        self,
        root: str | Path = "data",
        *,
        pool_limit: int = 200,
        memory_limit: str = "192MB",
        threads: int = 2,
        read_only: bool = False,
    ) -> None:
        self.root = Path(root)
        self.read_only = read_only
        self.memory_limit, self.threads = memory_limit, threads
        if not read_only:
            self.root.mkdir(parents=True, exist_ok=True)
        self.pool = ConnectionPool(
            self.root,
            limit=pool_limit,
            memory_limit=memory_limit,
            threads=threads,
            read_only=read_only,
            on_attach=self._on_attach,
            on_hub=define_analytics,
        )

    # -- lifecycle -----------------------------------------------------------------------

    def _on_attach(self, con: duckdb.DuckDBPyConnection, key: SymbolKey, created: bool) -> None:
        if self.read_only:
            check_readable(con)
            return
        applied = migrate(con)
        if applied:
            log.debug("%s: applied migrations %s", key, applied)
        if not con.execute("SELECT count(*) FROM symbol_meta").fetchall()[0][0]:
            con.execute(
                "INSERT INTO symbol_meta (exchange, market, symbol) VALUES (?, ?, ?)",
                [key.exchange, key.market, key.symbol],
            )
        id_space, id_model = con.execute("SELECT id_space, id_model FROM symbol_meta").fetchall()[0]
        if id_space is not None and id_model is None:  # written before the id model was kept
            con.execute("UPDATE symbol_meta SET id_model = ?", [_id_model(key, id_space).value])

    def close(self) -> None:
        """Checkpoint and detach every file. Idempotent."""
        self.pool.close()

    def __enter__(self) -> TickStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- access --------------------------------------------------------------------------

    @contextmanager
    def connection(
        self, key: SymbolKey, *, create: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A DuckDB cursor whose default database is ``key``'s file.

        Raises:
            UnknownSymbolError: no file for ``key`` (and ``create`` is false).
        """
        with self.pool.lease(key, create=create and not self.read_only) as con:
            yield con

    def read_only_query(self, key: SymbolKey, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        """Run a user's query (one statement) on ``key``'s file where writing is impossible:
        a sandbox instance that attaches the file ``READ_ONLY`` (borrowed from this store's
        pool meanwhile), with external access off and its configuration locked
        (:mod:`tapeflow.store.sandbox`). The analytics views and macros are available.

        Raises:
            ReadOnlyQueryError: not one statement, or it tried to write, change a setting
                or reach a file.
            UnknownSymbolError: no file for ``key``.
            SchemaError: the file's schema is not this tapeflow's.
            duckdb.Error: any other failure of the query.
        """
        with self.pool.lend(key) as path:
            con = open_sandbox(path, key, memory_limit=self.memory_limit, threads=self.threads)
            try:
                return run_statement(con, key, sql, params)
            finally:
                con.close()

    def symbols(self) -> list[SymbolKey]:
        """Every symbol with a database under the root, sorted."""
        keys = []
        for path in sorted(self.root.glob(f"*/*/*/{DB_FILENAME}")):
            exchange, market, symbol = path.parts[-4:-1]
            if exchange in MARKETS:
                try:
                    keys.append(SymbolKey(exchange, market, symbol))
                except InvalidSymbolError:
                    log.warning("ignoring %s: not a valid symbol folder", path.parent)
        return keys

    def stats(self) -> PoolStats:
        """Connection pool counters."""
        return self.pool.stats()

    # -- writing -------------------------------------------------------------------------

    def append(
        self,
        key: SymbolKey,
        table: pa.Table | pa.RecordBatch,
        *,
        id_space: IdSpace,
        source: str | None = None,
        log_import: bool = False,
    ) -> AppendResult:
        """Validate and append a batch of raw ticks (:data:`~tapeflow.store.RAW_TICK_SCHEMA`).

        Idempotent by trade id; see :mod:`tapeflow.store.ticks` for the rules on
        duplicates, conflicts and quarantine. ``log_import`` adds a row to ``import_log``.

        Raises:
            TickSchemaError: the table lacks required columns.
            IdSpaceMismatchError: ``id_space`` differs from the one the symbol uses.
            VenueCapabilityError: the venue's trades have no such id space
                (:attr:`tapeflow.venues.venue.Venue.id_models`).
            PermissionError: the store is read-only.
        """
        if self.read_only:
            raise PermissionError("the store is open read-only")
        if id_space not in ("trade", "agg_trade"):
            raise ValueError(f"id_space must be 'trade' or 'agg_trade', got {id_space!r}")
        id_model = _id_model(key, id_space)
        batch = conform(table)
        with self.pool.lease_entry(key, create=True) as (con, entry), entry.write_lock:
            self._check_id_space(con, key, entry.cache, id_space, id_model)
            if "max_id" not in entry.cache:
                entry.cache["max_id"] = con.execute("SELECT max(trade_id) FROM ticks").fetchall()[
                    0
                ][0]
            result, entry.cache["max_id"] = append_ticks(
                con, batch, source=source, max_stored_id=entry.cache["max_id"]
            )
            if log_import:
                con.execute(
                    "INSERT INTO import_log (source, received, inserted, duplicates, conflicts,"
                    " quarantined) VALUES (?, ?, ?, ?, ?, ?)",
                    [
                        source or "",
                        result.received,
                        result.inserted,
                        result.duplicates,
                        result.conflicts,
                        result.quarantined,
                    ],
                )
        return result

    @staticmethod
    def _check_id_space(
        con: duckdb.DuckDBPyConnection,
        key: SymbolKey,
        cache: dict[str, Any],
        id_space: str,
        id_model: IdModel,
    ) -> None:
        stored = cache.get("id_space")
        if stored is None:
            stored = con.execute("SELECT id_space FROM symbol_meta").fetchall()[0][0]
            if stored is None:
                con.execute(
                    "UPDATE symbol_meta SET id_space = ?, id_model = ?", [id_space, id_model.value]
                )
                stored = id_space
            cache["id_space"] = stored
        if stored != id_space:
            raise IdSpaceMismatchError(
                f"{key} stores {stored!r} ids; refusing {id_space!r} ids (they are not "
                "comparable; import them under a separate store root)"
            )

    def quarantine_records(
        self, key: SymbolKey, records: Iterable[tuple[str, str]], *, source: str | None = None
    ) -> int:
        """Keep records that could not even be parsed into a tick: ``(raw_text, reason)``.

        Returns the number of records kept.
        """
        rows = list(records)
        if not rows:
            return 0
        table = pa.table(
            {
                "raw": pa.array([r for r, _ in rows], pa.string()),
                "reason": pa.array([why for _, why in rows], pa.string()),
            }
        )
        with self.pool.lease(key, create=True) as con:
            con.register("_q", table)
            con.execute(
                "INSERT INTO quarantine (raw, reason, source) "
                "SELECT DISTINCT raw, reason, ? FROM _q "
                "WHERE NOT EXISTS (SELECT 1 FROM quarantine k "
                "  WHERE k.raw = _q.raw AND k.reason = _q.reason)",
                [source],
            )
            con.unregister("_q")
        return len(rows)

    def set_tick_size(self, key: SymbolKey, tick_size: str) -> None:
        """Record the exchange's price increment for ``key`` (used for profile buckets)."""
        with self.pool.lease(key, create=True) as con:
            con.execute("UPDATE symbol_meta SET tick_size = CAST(? AS DECIMAL(18,8))", [tick_size])

    # -- gaps ----------------------------------------------------------------------------

    def last_trade_id(self, key: SymbolKey) -> int | None:
        """Highest stored trade id, or None if the symbol has no ticks (or no file)."""
        if not key.path(self.root).exists():
            return None
        with self.connection(key) as con:
            last: int | None = con.execute("SELECT max(trade_id) FROM ticks").fetchall()[0][0]
        return last

    def id_model(self, key: SymbolKey) -> IdModel | None:
        """The id model of the symbol's stored trade ids (``symbol_meta.id_model``: the
        venue's model of its id space), or None before its first tick."""
        with self.connection(key) as con:
            value = con.execute("SELECT id_model FROM symbol_meta").fetchall()[0][0]
        return IdModel(value) if value is not None else None

    def gaps(self, key: SymbolKey) -> list[tuple[int, int]]:
        """Missing trade-id ranges ``(first_missing, last_missing)``, inclusive, ascending.

        Computed from the ids only where they are contiguous (:meth:`id_model` not
        ``opaque``); a symbol with opaque ids has none (nothing can be told from a jump).
        """
        with self.connection(key) as con:
            return [(a, b) for a, b in con.execute(GAPS_SQL).fetchall()]

    def record_gap(
        self,
        key: SymbolKey,
        first_missing_id: int,
        last_missing_id: int,
        status: GapStatus,
        reason: str | None = None,
    ) -> None:
        """Add or update a gap-ledger entry for the range (status detected/filled/unfillable)."""
        if first_missing_id > last_missing_id:
            raise ValueError(f"empty gap range {first_missing_id}..{last_missing_id}")
        with self.pool.lease(key, create=True) as con:
            updated = con.execute(
                "UPDATE gap_ledger SET status = ?, reason = coalesce(?, reason), "
                " resolved_at = CASE WHEN ? = 'detected' THEN NULL "
                "  ELSE now() AT TIME ZONE 'UTC' END "
                "WHERE first_missing_id = ? AND last_missing_id = ?",
                [status, reason, status, first_missing_id, last_missing_id],
            ).fetchall()[0][0]
            if not updated:
                con.execute(
                    "INSERT INTO gap_ledger (first_missing_id, last_missing_id, status, reason,"
                    " resolved_at) VALUES (?, ?, ?, ?, CASE WHEN ? = 'detected' THEN NULL"
                    " ELSE now() AT TIME ZONE 'UTC' END)",
                    [first_missing_id, last_missing_id, status, reason, status],
                )

    # -- summaries -----------------------------------------------------------------------

    def summary(self, key: SymbolKey) -> dict[str, Any]:
        """One symbol's figures: rows, first/last time (UTC), id range, id space, missing ids
        and gap count, quarantined rows, conflicts, file size in bytes."""
        with self.connection(key) as con:
            result = con.execute(SUMMARY_SQL)
            names = [d[0] for d in result.description]
            row = dict(zip(names, result.fetchall()[0], strict=True))
        return {"symbol": str(key), **row, "file_bytes": key.path(self.root).stat().st_size}


def _id_model(key: SymbolKey, id_space: str) -> IdModel:
    """The venue's id model of ``id_space`` for ``key``'s exchange.

    Raises:
        VenueCapabilityError: the venue's trades have no such id space.
    """
    return get_venue(key.exchange).id_model(id_space)
