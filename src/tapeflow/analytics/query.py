"""The one place analytics SQL is executed: "run this query on this symbol's database".

Every API method builds a :class:`Query` (SQL text over the ``sql/analytics/1NN_*.sql`` macros and
views, plus positional parameters) and hands it to a :class:`QueryRunner`. The runner is the
seam: :class:`StoreRunner` runs it in-process on a :class:`~tapeflow.store.TickStore`; a
remote runner (Arrow Flight to the live process) implements the same methods. A user's own
SQL goes through :meth:`QueryRunner.sql`, which runs it where writing is impossible
(:mod:`tapeflow.store.sandbox`).

Results are polars DataFrames whose ``TIMESTAMP`` columns are ``Datetime("us", "UTC")``
(DuckDB stores UTC without a zone; the zone is attached here) and whose ``DECIMAL`` columns
stay ``Decimal`` with DuckDB's precision and scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import polars as pl

from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore


@dataclass(frozen=True, slots=True)
class Query:
    """SQL text run with the symbol's database as the default, and its ``?`` parameters."""

    sql: str
    params: Sequence[Any] = field(default_factory=tuple)


class QueryRunner(Protocol):
    """Executes analytics queries on one symbol's database."""

    def run(self, key: SymbolKey, query: Query) -> pl.DataFrame:
        """Result of ``query`` on ``key``'s database (see the module docstring for dtypes).

        Raises:
            UnknownSymbolError: no database for ``key``.
        """
        ...

    def sql(self, key: SymbolKey, query: Query) -> pl.DataFrame:
        """Result of a user's ``query`` (one statement) on ``key``'s database, run where
        writing is impossible (same dtypes as :meth:`run`).

        Raises:
            ReadOnlyQueryError: the query tried to write, change a setting or reach a file,
                or is not one statement.
            UnknownSymbolError: no database for ``key``.
        """
        ...

    def symbols(self) -> list[SymbolKey]:
        """Every symbol the runner can query."""
        ...


def utc_frame(frame: pl.DataFrame | pl.Series) -> pl.DataFrame:
    """Attach the UTC zone to every zone-less ``Datetime`` column of ``frame`` (a frame, as
    ``pl.from_arrow`` of a table returns; a series is a caller's error: TypeError)."""
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"expected a DataFrame, got {type(frame).__name__}")
    naive = [
        name
        for name, dtype in frame.schema.items()
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is None
    ]
    if not naive:
        return frame
    return frame.with_columns(pl.col(naive).dt.replace_time_zone("UTC"))


class StoreRunner:
    """:class:`QueryRunner` over a local :class:`~tapeflow.store.TickStore` (pooled, ATTACHed
    files; read-only if the store is)."""

    def __init__(self, store: TickStore) -> None:
        self.store = store

    def run(self, key: SymbolKey, query: Query) -> pl.DataFrame:
        """See :meth:`QueryRunner.run`."""
        with self.store.connection(key) as con:
            table = con.sql(query.sql, params=list(query.params)).to_arrow_table()
        return utc_frame(pl.from_arrow(table))

    def sql(self, key: SymbolKey, query: Query) -> pl.DataFrame:
        """See :meth:`QueryRunner.sql` (:meth:`~tapeflow.store.TickStore.read_only_query`)."""
        table = self.store.read_only_query(key, query.sql, query.params)
        return utc_frame(pl.from_arrow(table))

    def symbols(self) -> list[SymbolKey]:
        """See :meth:`QueryRunner.symbols`."""
        return self.store.symbols()
