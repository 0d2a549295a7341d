"""The per-symbol tick store: schema migration from ``sql/``, the
connection pool, Arrow appends, gap ledger and quarantine."""

from tapeflow.store.migrations import SchemaError
from tapeflow.store.pool import ConnectionPool, PoolExhaustedError, PoolStats, UnknownSymbolError
from tapeflow.store.ticks import RAW_TICK_SCHEMA, AppendResult, TickSchemaError
from tapeflow.store.tickstore import IdSpaceMismatchError, TickStore

__all__ = [
    "RAW_TICK_SCHEMA",
    "AppendResult",
    "ConnectionPool",
    "IdSpaceMismatchError",
    "PoolExhaustedError",
    "PoolStats",
    "SchemaError",
    "TickSchemaError",
    "TickStore",
    "UnknownSymbolError",
]
