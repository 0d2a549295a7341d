"""What every reader hands to the importer: batches of raw ticks for one symbol.

A reader turns one file into a stream of :class:`SourceBatch` objects. Each batch belongs to
one :class:`~tapeflow.model.symbols.SymbolKey` and one id space, and carries

* ``table`` — a pyarrow table in the store's ``RAW_TICK_SCHEMA`` (``trade_id`` int64, ``ts``
  timestamp[us, UTC], ``price``/``quantity`` exact decimal strings, ``side`` aggressor side
  ``"buy"``/``"sell"``, optional ``trade_type``, ``first_trade_id``, ``last_trade_id``,
  ``local_ts``, ``raw``), at most :data:`DEFAULT_BATCH_ROWS` rows;
* ``quarantined`` — records the reader could not turn into a row, with the reason;
* ``skipped`` — records that are not trades (order book messages in a WebSocket capture);
* ``position`` — bytes of the file consumed so far (for progress bars).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from tapeflow.model.errors import TapeflowError
from tapeflow.model.symbols import SymbolKey

#: Upper bound of rows per batch handed to the store.
DEFAULT_BATCH_ROWS = 1_000_000

#: Id spaces of the store (``symbol_meta.id_space``).
ID_SPACES = ("trade", "agg_trade")


class SourceError(TapeflowError, ValueError):
    """A file cannot be imported; the message names the file and the reason."""


class UnknownFormatError(SourceError):
    """The file's content and name match no known trade format."""


class SymbolResolutionError(SourceError):
    """Exchange, market or symbol of a file can be told neither from the data nor options."""


class CorruptArchiveError(SourceError):
    """An archive is damaged (bad zip, CRC mismatch, truncated)."""


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """What the caller knows about files whose data does not say it.

    Data wins: these fill in only what a file does not carry itself (a Binance archive's
    market, a Parquet file's exchange, ...). ``id_space`` is needed only for generic tables
    that carry neither Binance aggregate fields nor a known layout.
    """

    exchange: str | None = None
    market: str | None = None
    symbol: str | None = None
    id_space: str | None = None
    batch_rows: int = DEFAULT_BATCH_ROWS

    def __post_init__(self) -> None:
        if self.id_space is not None and self.id_space not in ID_SPACES:
            raise SourceError(f"id_space must be one of {ID_SPACES}, got {self.id_space!r}")
        if self.batch_rows < 1:
            raise SourceError(f"batch_rows must be >= 1, got {self.batch_rows}")


@dataclass(slots=True)
class SourceBatch:
    """One batch of raw ticks of one symbol, plus what the reader refused or skipped."""

    key: SymbolKey
    id_space: str
    table: pa.Table
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0
    position: int = 0


def source_error(path: Path | str, message: str, cls: type[SourceError] = SourceError):
    """Build an error of ``cls`` whose message starts with the file name."""
    return cls(f"{path}: {message}")
