"""Appending raw ticks: validation, quarantine, idempotency and conflicts, in SQL over Arrow.

Producers (importers, the live feed) hand over pyarrow tables in :data:`RAW_TICK_SCHEMA`.
:func:`append_ticks` turns them into rows of ``ticks`` with exact decimals, in batches:

* a row that is not a valid tick (missing id or time, price or quantity not a positive
  number representable as ``DECIMAL(18,8)`` / ``DECIMAL(28,8)`` without rounding, unknown
  side or trade type, time outside 2009..now+1d) goes to ``quarantine`` with the reason and
  the raw record;
* a trade id already stored with the same content is a *duplicate* and skipped; with other
  content it is a *conflict*: the stored tick stays, the incoming one goes to
  ``tick_conflicts``. Content = time, price, quantity, side, and trade type / first and
  last raw ids where both sides carry them;
* the same id twice inside one batch follows the same rules (first occurrence wins).

Fast path: a batch with no nulls in ``trade_id`` whose ids strictly increase and all exceed
the highest stored id (the normal case for imports and live ingest) is inserted by one
``INSERT ... SELECT`` that filters invalid rows inline; only if some rows were filtered is a
second pass run to quarantine them. Everything else takes the general path through a staged
temporary table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tapeflow.model.errors import TapeflowError

#: What producers hand to the store. ``price``/``quantity`` are exact decimal strings (or
#: ``decimal128``); ``side`` is the aggressor (taker) side ``"buy"``/``"sell"``; ``raw`` is
#: the original record, kept only if the row is quarantined. Optional columns may be
#: missing: ``trade_type``, ``first_trade_id``, ``last_trade_id``, ``local_ts``, ``raw``.
RAW_TICK_SCHEMA = pa.schema(
    [
        pa.field("trade_id", pa.int64()),
        pa.field("ts", pa.timestamp("us", tz="UTC")),
        pa.field("price", pa.string()),
        pa.field("quantity", pa.string()),
        pa.field("side", pa.string()),
        pa.field("trade_type", pa.string()),
        pa.field("first_trade_id", pa.int64()),
        pa.field("last_trade_id", pa.int64()),
        pa.field("local_ts", pa.timestamp("us", tz="UTC")),
        pa.field("raw", pa.string()),
    ]
)
REQUIRED_COLUMNS = ("trade_id", "ts", "price", "quantity", "side")
TRADE_TYPES = ("MARKET", "INSURANCE_FUND", "ADL", "NA")
PRICE_TYPE = "DECIMAL(18,8)"
QUANTITY_TYPE = "DECIMAL(28,8)"


class TickSchemaError(TapeflowError, ValueError):
    """A batch handed to the store lacks required columns or has unusable column types."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What one append did, in rows."""

    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    quarantined: int = 0

    def __add__(self, other: AppendResult) -> AppendResult:
        return AppendResult(
            self.received + other.received,
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.conflicts + other.conflicts,
            self.quarantined + other.quarantined,
        )


def conform(table: pa.Table | pa.RecordBatch) -> pa.Table:
    """Check a producer's table and give it every :data:`RAW_TICK_SCHEMA` column.

    Missing optional columns are added as nulls; timestamps are brought to µs UTC; numeric
    price/quantity columns are accepted as-is (decimal128) or as strings.

    Raises:
        TickSchemaError: a required column is missing or has an unusable type.
    """
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise TickSchemaError(f"tick batch lacks required column(s): {', '.join(missing)}")
    n = table.num_rows
    cols = {}
    for field in RAW_TICK_SCHEMA:
        if field.name not in table.column_names:
            cols[field.name] = pa.nulls(n, field.type)
            continue
        col = table.column(field.name)
        if field.name in ("price", "quantity"):
            if not (
                pa.types.is_string(col.type)
                or pa.types.is_large_string(col.type)
                or pa.types.is_decimal(col.type)
            ):
                raise TickSchemaError(
                    f"column {field.name!r} must be exact: decimal strings or decimal128, "
                    f"got {col.type} (convert floats with their shortest repr first)"
                )
            cols[field.name] = col
            continue
        if pa.types.is_timestamp(field.type) and pa.types.is_timestamp(col.type):
            if col.type.tz is None:
                col = pc.assume_timezone(col, "UTC")
            cols[field.name] = col.cast(field.type)
            continue
        try:
            cols[field.name] = col.cast(field.type)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise TickSchemaError(f"column {field.name!r}: cannot use {col.type}: {exc}") from exc
    return pa.table(cols)


def _exact_input(table: pa.Table, column: str) -> bool:
    """True if ``column`` is a decimal with no more fractional digits than the tick type
    keeps (8), so converting it can never round."""
    arrow_type = table.schema.field(column).type
    return bool(pa.types.is_decimal(arrow_type) and arrow_type.scale <= 8)


def _naive_utc(table: pa.Table) -> pa.Table:
    """The batch as DuckDB inserts it fastest: one chunk per column, and ``ts``/``local_ts``
    as zone-less ``timestamp[us]`` holding the same UTC instants.

    Arrow keeps timestamps as UTC epoch values whatever their zone, so this cast only
    relabels the type (no copy); DuckDB then reads the columns as ``TIMESTAMP`` directly
    instead of converting every row through ICU (``AT TIME ZONE``), which cost as much as
    the rest of the insert.
    """
    for name in ("ts", "local_ts"):
        index = table.schema.get_field_index(name)
        table = table.set_column(index, name, table.column(index).cast(pa.timestamp("us")))
    # one contiguous chunk per column: DuckDB then writes full row groups straight to the
    # file during the insert (optimistic writes); a many-chunk table leaves them in memory
    # for the next checkpoint, which costs as much again as the insert
    return table.combine_chunks()


def _typed_sql(table: pa.Table) -> str:
    """A relation over ``_batch b`` (as made by :func:`_naive_utc`) with each column cast
    once to its tick type (NULL where the cast fails), plus what validation and quarantine
    need: the untyped price/quantity, a wide cast that shows digits the tick type would round
    away, and the raw record."""
    parts = ["b.trade_id", "b.ts"]
    for column, sql_type in (("price", PRICE_TYPE), ("quantity", QUANTITY_TYPE)):
        parts.append(f"TRY_CAST(b.{column} AS {sql_type}) AS {column}")
        if not _exact_input(table, column):
            parts.append(f"TRY_CAST(b.{column} AS DECIMAL(38,18)) AS {column}_exact")
        parts.append(f"b.{column} AS {column}_raw")
    parts += [
        "b.side",
        "b.trade_type",
        "b.first_trade_id",
        "b.last_trade_id",
        "b.local_ts",
        "b.raw",
    ]
    return f"(SELECT {', '.join(parts)} FROM _batch b)"


def _rules(table: pa.Table) -> list[tuple[str, str]]:
    """The validity rules over the typed relation ``v``, in the order their reasons are
    reported: ``(condition that holds for a valid tick, reason when it does not)``."""
    types = ", ".join(f"'{t}'" for t in TRADE_TYPES)
    latest = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    rules = [
        ("v.trade_id IS NOT NULL", "missing trade id"),
        ("v.ts IS NOT NULL", "missing or unparseable time"),
        (f"v.ts BETWEEN TIMESTAMP '2009-01-01' AND TIMESTAMP '{latest}'", "time out of range"),
    ]
    for column, sql_type in (("price", PRICE_TYPE), ("quantity", QUANTITY_TYPE)):
        rules += [
            (f"v.{column}_raw IS NOT NULL", f"missing {column}"),
            (f"v.{column} IS NOT NULL", f"{column} is not a number representable as {sql_type}"),
        ]
        if not _exact_input(table, column):
            rules.append(
                (
                    f"v.{column}_exact = v.{column}",
                    f"{column} has more decimals than {sql_type} keeps",
                )
            )
        rules.append((f"v.{column} > 0", f"non-positive {column}"))
    rules += [
        ("v.side IN ('buy', 'sell')", "unknown side"),
        (f"v.trade_type IS NULL OR v.trade_type IN ({types})", "unknown trade type"),
    ]
    return rules


def _valid_sql(rules: list[tuple[str, str]]) -> str:
    """Boolean over ``v``: true exactly for valid ticks (NULL counts as invalid)."""
    return " AND ".join(f"({cond})" for cond, _ in rules)


def _reason_sql(rules: list[tuple[str, str]]) -> str:
    """CASE over ``v``: the first rule a row breaks, or NULL for a valid tick."""
    arms = " ".join(f"WHEN NOT coalesce({cond}, false) THEN '{why}'" for cond, why in rules)
    return f"CASE {arms} ELSE NULL END"


_TICK_COLUMNS = (
    "trade_id, ts, price, quantity, side, trade_type, first_trade_id, last_trade_id, local_ts"
)
_RAW_JSON = (
    "coalesce(v.raw, to_json(struct_pack(trade_id := v.trade_id, ts := v.ts, "
    "price := v.price_raw, quantity := v.quantity_raw, side := v.side, "
    "trade_type := v.trade_type))::VARCHAR)"
)


def _strictly_increasing(ids: pa.ChunkedArray) -> bool:
    if ids.null_count:
        return False
    arr = ids.to_numpy()
    return bool(arr.size < 2 or np.all(arr[1:] > arr[:-1]))


def append_ticks(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    *,
    source: str | None,
    max_stored_id: int | None,
) -> tuple[AppendResult, int | None]:
    """Append a conformed batch (see :func:`conform`) to ``ticks`` of ``con``'s database.

    The caller must hold the symbol's write lock and pass the highest stored trade id
    (``None`` for an empty table). Returns the result and the new highest stored id (an
    upper bound).
    """
    n = table.num_rows
    if n == 0:
        return AppendResult(), max_stored_id
    rules = _rules(table)
    typed, valid, reason = _typed_sql(table), _valid_sql(rules), _reason_sql(rules)
    con.register("_batch", _naive_utc(table))
    try:
        ids = table.column("trade_id")
        if _strictly_increasing(ids) and (
            max_stored_id is None or pc.min(ids).as_py() > max_stored_id
        ):
            result = _append_fast(con, typed, valid, reason, n, source)
        else:
            result = _append_general(con, typed, reason, n, source)
    finally:
        con.unregister("_batch")
    new_max = max_stored_id
    if result.inserted:
        # conservative: the batch maximum may exceed the stored one (if that row was
        # quarantined), which only makes the fast path rarer, never wrong
        batch_max = pc.max(ids).as_py()
        new_max = batch_max if max_stored_id is None else max(max_stored_id, batch_max)
    return result, new_max


def _append_fast(
    con: duckdb.DuckDBPyConnection,
    typed: str,
    valid: str,
    reason: str,
    n: int,
    source: str | None,
) -> AppendResult:
    con.execute("BEGIN TRANSACTION")
    try:
        inserted = con.execute(
            f"INSERT INTO ticks ({_TICK_COLUMNS}) SELECT {_TICK_COLUMNS} FROM {typed} v "
            f"WHERE {valid}"
        ).fetchall()[0][0]
        quarantined = 0
        if inserted < n:
            quarantined = n - inserted
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _bad AS "
                f"SELECT {_RAW_JSON} AS raw_json, {reason} AS reason FROM {typed} v "
                f"WHERE NOT coalesce({valid}, false)"
            )
            _keep_quarantined(con, "_bad", source)
            con.execute("DROP TABLE _bad")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return AppendResult(received=n, inserted=inserted, quarantined=quarantined)


def _keep_quarantined(con: duckdb.DuckDBPyConnection, relation: str, source: str | None) -> None:
    """Insert ``(raw_json, reason)`` rows of ``relation`` into ``quarantine``, once each: the
    same record refused for the same reason again (a re-import) is not kept twice."""
    con.execute(
        "INSERT INTO quarantine (raw, reason, source) "
        f"SELECT DISTINCT r.raw_json, r.reason, ? FROM {relation} r "
        "WHERE NOT EXISTS (SELECT 1 FROM quarantine q "
        "  WHERE q.raw = r.raw_json AND q.reason = r.reason)",
        [source],
    )


_SAME_CONTENT = (
    "s.ts = t.ts AND s.price = t.price AND s.quantity = t.quantity AND s.side = t.side "
    "AND (s.trade_type IS NULL OR t.trade_type IS NULL OR s.trade_type = t.trade_type) "
    "AND (s.first_trade_id IS NULL OR t.first_trade_id IS NULL "
    "     OR s.first_trade_id = t.first_trade_id) "
    "AND (s.last_trade_id IS NULL OR t.last_trade_id IS NULL "
    "     OR s.last_trade_id = t.last_trade_id)"
)


def _append_general(
    con: duckdb.DuckDBPyConnection, typed: str, reason: str, n: int, source: str | None
) -> AppendResult:
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _stage AS "
            f"SELECT {_TICK_COLUMNS}, {reason} AS reason, {_RAW_JSON} AS raw_json, "
            f"row_number() OVER () AS seq FROM {typed} v"
        )
        quarantined = con.execute(
            "SELECT count(*) FROM _stage WHERE reason IS NOT NULL"
        ).fetchall()[0][0]
        if quarantined:
            _keep_quarantined(con, "(SELECT * FROM _stage WHERE reason IS NOT NULL)", source)
        # valid rows, each tagged with the first valid occurrence of its id in this batch
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _valid AS "
            "SELECT *, first_value(seq) OVER (PARTITION BY trade_id ORDER BY seq) AS first_seq "
            "FROM _stage WHERE reason IS NULL"
        )
        lo, hi = con.execute("SELECT min(trade_id), max(trade_id) FROM _valid").fetchall()[0]
        # candidates: first occurrences; compare to what is stored
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _cmp AS "
            "SELECT s.*, t.trade_id IS NOT NULL AS stored, "
            f"  t.trade_id IS NOT NULL AND NOT ({_SAME_CONTENT}) AS conflict, "
            "  to_json(struct_pack(trade_id := t.trade_id, ts := t.ts, price := t.price, "
            "    quantity := t.quantity, side := t.side, trade_type := t.trade_type, "
            "    first_trade_id := t.first_trade_id, last_trade_id := t.last_trade_id"
            "  ))::VARCHAR AS stored_json "
            "FROM _valid s LEFT JOIN (SELECT * FROM ticks WHERE trade_id BETWEEN ? AND ?) t "
            "  USING (trade_id) WHERE s.seq = s.first_seq",
            [lo, hi],
        )
        # repeats inside the batch: compare to the first occurrence
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _repeat AS "
            f"SELECT s.*, NOT ({_SAME_CONTENT}) AS conflict, "
            "  to_json(struct_pack(trade_id := t.trade_id, ts := t.ts, price := t.price, "
            "    quantity := t.quantity, side := t.side, trade_type := t.trade_type"
            "  ))::VARCHAR AS first_json "
            "FROM _valid s JOIN _valid t ON t.seq = s.first_seq WHERE s.seq <> s.first_seq"
        )
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _conflicts AS "
            "SELECT trade_id, stored_json AS stored, raw_json AS incoming FROM _cmp WHERE conflict "
            "UNION ALL SELECT trade_id, first_json, raw_json FROM _repeat WHERE conflict"
        )
        conflicts = con.execute("SELECT count(*) FROM _conflicts").fetchall()[0][0]
        if conflicts:  # a conflict seen again (re-import) is recorded once
            con.execute(
                "INSERT INTO tick_conflicts (trade_id, stored, incoming, source) "
                "SELECT DISTINCT c.trade_id, c.stored, c.incoming, ? FROM _conflicts c "
                "WHERE NOT EXISTS (SELECT 1 FROM tick_conflicts k "
                "  WHERE k.trade_id = c.trade_id AND k.incoming = c.incoming)",
                [source],
            )
        duplicates = con.execute(
            "SELECT (SELECT count(*) FROM _cmp WHERE stored AND NOT conflict) "
            "     + (SELECT count(*) FROM _repeat WHERE NOT conflict)"
        ).fetchall()[0][0]
        inserted = con.execute(
            f"INSERT INTO ticks ({_TICK_COLUMNS}) SELECT {_TICK_COLUMNS} FROM _cmp "
            "WHERE NOT stored ORDER BY trade_id"
        ).fetchall()[0][0]
        con.execute(
            "DROP TABLE _stage; DROP TABLE _valid; DROP TABLE _cmp; DROP TABLE _repeat; "
            "DROP TABLE _conflicts"
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return AppendResult(
        received=n,
        inserted=inserted,
        duplicates=duplicates,
        conflicts=conflicts,
        quarantined=quarantined,
    )
