"""The embedded position store: one SQLite file, no server (the paper-trading default).

Why SQLite (stdlib ``sqlite3``) rather than DuckDB: the workload is many tiny transactional
read-check-writes of single rows, which is what SQLite's row store and B-tree indexes are
built for; in WAL mode a reader (``tapeflow reconcile --dry-run``, a notebook) can open the
file while the engine writes it, whereas a DuckDB file admits one read-write process and no
concurrent reader. SQLite's write-ahead log with ``synchronous=FULL`` makes every committed
transaction durable and a half-done one invisible, so killing the process at any instant
leaves the last committed state (tested by killing a writer mid-loop).

Atomicity: each checked write runs ``BEGIN IMMEDIATE`` (takes the database write lock before
reading), checks, writes and commits; a second writer, in this process or another, waits
(``busy_timeout_s``) and then reads the first one's result. Within an instance one
connection is shared under a lock.

Layout (see ``docs/state.md``): ``positions`` and ``orders`` (one column per record field;
decimals as exact TEXT, times as ISO-8601 UTC TEXT, ``STRICT`` tables) and ``engine_state``
(name -> JSON value). ``PRAGMA user_version`` holds the schema version.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from tapeflow.model.records import (
    ORDER_STATUSES,
    POSITION_STATUSES,
    Order,
    OrderStatus,
    Position,
    PositionStatus,
    RecordExistsError,
    apply_order_update,
    apply_position_transition,
    check_id,
    status_filter,
    utcnow,
)
from tapeflow.state.codec import decode_state, encode_state_document, iso_utc, record_to_fields

SCHEMA_VERSION = 2

#: Steps from an older schema version to the next (version -> its statements).
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE positions ADD COLUMN target_price TEXT",),
}

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS positions (
    position_id           TEXT PRIMARY KEY,
    symbol                TEXT NOT NULL,
    direction             TEXT NOT NULL CHECK (direction IN ('long', 'short')),
    status                TEXT NOT NULL CHECK (status IN {POSITION_STATUSES!r}),
    quantity              TEXT NOT NULL,
    entry_price           TEXT,
    stop_price            TEXT,
    trailing_distance_pct TEXT,
    target_price          TEXT,
    entry_client_order_id TEXT,
    exit_client_order_id  TEXT,
    exit_price            TEXT,
    realized_pnl          TEXT,
    fees                  TEXT NOT NULL,
    close_reason          TEXT,
    opened_at             TEXT,
    closed_at             TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL,
    revision              INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS positions_by_status ON positions (status, symbol);
CREATE INDEX IF NOT EXISTS positions_by_symbol ON positions (symbol);

CREATE TABLE IF NOT EXISTS orders (
    client_order_id   TEXT PRIMARY KEY,
    symbol            TEXT NOT NULL,
    position_id       TEXT,
    purpose           TEXT NOT NULL,
    side              TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type        TEXT NOT NULL,
    quantity          TEXT NOT NULL,
    price             TEXT,
    stop_price        TEXT,
    status            TEXT NOT NULL CHECK (status IN {ORDER_STATUSES!r}),
    exchange_order_id TEXT,
    filled            TEXT NOT NULL,
    average_price     TEXT,
    fee               TEXT NOT NULL,
    error             TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    revision          INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS orders_by_status ON orders (status, symbol);
CREATE INDEX IF NOT EXISTS orders_by_position ON orders (position_id);
CREATE INDEX IF NOT EXISTS orders_by_symbol ON orders (symbol);

CREATE TABLE IF NOT EXISTS engine_state (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

PRAGMA user_version = {SCHEMA_VERSION};
"""


class EmbeddedStore:
    """:class:`~tapeflow.state.store.PositionStore` in one SQLite file.

    Args:
        path: the database file (created with its parent directories if missing), e.g.
            ``data/state/paper.sqlite3``; ``-wal`` and ``-shm`` files live beside it.
        busy_timeout_s: how long a writer waits for another writer's lock (seconds) before
            ``sqlite3.OperationalError: database is locked``.

    Raises:
        RuntimeError: the file's schema is newer than this code, or a table's columns do not
            match the record fields (a missing migration).
        sqlite3.DatabaseError: the file is not a SQLite database.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._con: sqlite3.Connection | None = sqlite3.connect(
            self.path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
        )
        self._con.row_factory = sqlite3.Row
        self._con.execute("PRAGMA journal_mode = WAL")
        self._con.execute("PRAGMA synchronous = FULL")
        self._migrate()

    # -- plumbing -------------------------------------------------------------------------
    def _migrate(self) -> None:
        con = self._connection()
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:  # only then take the write lock (readers never wait)
            with self._write():
                version = con.execute("PRAGMA user_version").fetchone()[0]
                if 0 < version < SCHEMA_VERSION:
                    for step in range(version, SCHEMA_VERSION):
                        for statement in _MIGRATIONS[step]:
                            con.execute(statement)
                if version < SCHEMA_VERSION:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            con.execute(statement)
                    version = SCHEMA_VERSION
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path}: state schema version {version} is newer than this "
                f"tapeflow understands ({SCHEMA_VERSION})"
            )
        for table, model in (("positions", Position), ("orders", Order)):
            columns = {row["name"] for row in con.execute(f"PRAGMA table_info({table})")}
            if columns != set(model.model_fields):
                raise RuntimeError(
                    f"{self.path}: table {table} has columns {sorted(columns)} but "
                    f"{model.__name__} has fields {sorted(model.model_fields)}; "
                    "a state schema migration is missing"
                )

    def _connection(self) -> sqlite3.Connection:
        if self._con is None:
            raise RuntimeError(f"embedded state store {self.path} is closed")
        return self._con

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction holding the database's write lock from its first read."""
        with self._lock:
            con = self._connection()
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

    def _read(self, sql: str, params: Collection[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._connection().execute(sql, tuple(params)).fetchall()

    @staticmethod
    def _upsert_sql(table: str, fields: dict[str, Any], *, replace: bool) -> str:
        cols = ", ".join(fields)
        marks = ", ".join(f":{c}" for c in fields)
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        return f"{verb} INTO {table} ({cols}) VALUES ({marks})"

    @staticmethod
    def _where(filters: dict[str, Any], statuses: list[str]) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for column, value in filters.items():
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if statuses:
            clauses.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    # -- positions ------------------------------------------------------------------------
    def put_position(self, position: Position) -> None:
        fields = record_to_fields(position, native_datetimes=False)
        with self._write() as con:
            con.execute(self._upsert_sql("positions", fields, replace=True), fields)

    def create_position(self, position: Position) -> Position:
        fields = record_to_fields(position, native_datetimes=False)
        try:
            with self._write() as con:
                con.execute(self._upsert_sql("positions", fields, replace=False), fields)
        except sqlite3.IntegrityError as exc:
            raise RecordExistsError(f"position {position.position_id} already exists") from exc
        return position.model_copy(deep=True)

    def get_position(self, position_id: str) -> Position | None:
        check_id("position id", position_id)
        rows = self._read("SELECT * FROM positions WHERE position_id = ?", (position_id,))
        return Position.model_validate(dict(rows[0])) if rows else None

    def list_positions(
        self,
        *,
        status: PositionStatus | Collection[PositionStatus] | None = None,
        symbol: str | None = None,
    ) -> list[Position]:
        where, params = self._where({"symbol": symbol}, status_filter(status, POSITION_STATUSES))
        sql = f"SELECT * FROM positions{where} ORDER BY created_at, position_id"
        rows = self._read(sql, params)
        return [Position.model_validate(dict(r)) for r in rows]

    def transition(
        self,
        position_id: str,
        to: PositionStatus,
        /,
        *,
        expect: PositionStatus | Collection[PositionStatus] | None = None,
        **changes: Any,
    ) -> Position:
        check_id("position id", position_id)
        with self._write() as con:
            row = con.execute(
                "SELECT * FROM positions WHERE position_id = ?", (position_id,)
            ).fetchone()
            if row is None:
                raise KeyError(position_id)
            new = apply_position_transition(
                Position.model_validate(dict(row)), to, changes, expect=expect
            )
            fields = record_to_fields(new, native_datetimes=False)
            con.execute(self._upsert_sql("positions", fields, replace=True), fields)
        return new

    # -- orders ---------------------------------------------------------------------------
    def put_order(self, order: Order) -> None:
        fields = record_to_fields(order, native_datetimes=False)
        with self._write() as con:
            con.execute(self._upsert_sql("orders", fields, replace=True), fields)

    def create_order(self, order: Order) -> Order:
        fields = record_to_fields(order, native_datetimes=False)
        try:
            with self._write() as con:
                con.execute(self._upsert_sql("orders", fields, replace=False), fields)
        except sqlite3.IntegrityError as exc:
            raise RecordExistsError(f"order {order.client_order_id} already exists") from exc
        return order.model_copy(deep=True)

    def get_order(self, client_order_id: str) -> Order | None:
        check_id("client order id", client_order_id)
        rows = self._read("SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,))
        return Order.model_validate(dict(rows[0])) if rows else None

    def list_orders(
        self,
        *,
        symbol: str | None = None,
        position_id: str | None = None,
        status: OrderStatus | Collection[OrderStatus] | None = None,
    ) -> list[Order]:
        where, params = self._where(
            {"symbol": symbol, "position_id": position_id}, status_filter(status, ORDER_STATUSES)
        )
        sql = f"SELECT * FROM orders{where} ORDER BY created_at, client_order_id"
        rows = self._read(sql, params)
        return [Order.model_validate(dict(r)) for r in rows]

    def update_order(
        self,
        client_order_id: str,
        /,
        *,
        expect: OrderStatus | Collection[OrderStatus] | None = None,
        **changes: Any,
    ) -> Order:
        check_id("client order id", client_order_id)
        with self._write() as con:
            row = con.execute(
                "SELECT * FROM orders WHERE client_order_id = ?", (client_order_id,)
            ).fetchone()
            if row is None:
                raise KeyError(client_order_id)
            new = apply_order_update(Order.model_validate(dict(row)), changes, expect=expect)
            fields = record_to_fields(new, native_datetimes=False)
            con.execute(self._upsert_sql("orders", fields, replace=True), fields)
        return new

    # -- engine state ---------------------------------------------------------------------
    def get_state(self, name: str) -> dict[str, Any] | None:
        check_id("engine state name", name)
        rows = self._read("SELECT value FROM engine_state WHERE name = ?", (name,))
        return decode_state(json.loads(rows[0]["value"])) if rows else None

    def put_state(self, name: str, value: dict[str, Any]) -> None:
        text = json.dumps(
            encode_state_document(name, value, native_datetimes=False), allow_nan=False
        )
        with self._write() as con:
            con.execute(
                "INSERT OR REPLACE INTO engine_state (name, value, updated_at) VALUES (?, ?, ?)",
                (name, text, iso_utc(utcnow())),
            )

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
                self._con = None

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddedStore({str(self.path)!r})"
