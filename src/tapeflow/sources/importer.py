"""The import driver: files of any known format → :class:`~tapeflow.store.TickStore`.

:func:`import_paths` works in two passes:

1. **plan** — expand folders, detect each file's format and resolve the symbol(s) it will
   write to. Any unknown format (of a file named explicitly), unreadable archive or
   unresolvable exchange/market/symbol raises here, *before anything is written*.
2. **import** — each file's batches are read on a background thread (Arrow's CSV parser
   and DuckDB's insert both release the GIL, so parsing the next batch overlaps inserting
   this one); their decimal strings are parsed there into ``decimal128`` by Arrow when a
   whole column converts exactly (:func:`~tapeflow.sources.decimals.with_decimal_columns`),
   and then appended with ``source=str(path)``; records the reader could not parse go
   to ``store.quarantine_records``. One ``import_log`` row is written per file and symbol.

Appends are idempotent by trade id, so importing the same files again stores nothing new
(the rows are counted as duplicates).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources.decimals import with_decimal_columns
from tapeflow.sources.detect import Format, detect_format
from tapeflow.sources.model import (
    DEFAULT_BATCH_ROWS,
    ImportOptions,
    SourceBatch,
    UnknownFormatError,
)
from tapeflow.store import AppendResult, TickStore


@dataclass(slots=True)
class SymbolCounts:
    """Rows per outcome for one symbol (all files together).

    ``received`` counts rows handed to the store plus records the reader quarantined;
    ``quarantined`` both kinds of refused rows; ``skipped`` non-trade messages (book and
    depth lines of a WebSocket capture).
    """

    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    quarantined: int = 0
    skipped: int = 0

    def add(self, result: AppendResult) -> None:
        self.received += result.received
        self.inserted += result.inserted
        self.duplicates += result.duplicates
        self.conflicts += result.conflicts
        self.quarantined += result.quarantined


@dataclass(slots=True)
class FileResult:
    """What one file contributed."""

    path: Path
    format: str
    counts: dict[SymbolKey, SymbolCounts] = field(default_factory=dict)


@dataclass(slots=True)
class ImportSummary:
    """Outcome of :func:`import_paths`.

    Attributes:
        symbols: counts per symbol key, over all files.
        files: per-file results in import order.
        skipped_files: ``(path, reason)`` of files found in folders that are not trade
            files (e.g. a README); files named explicitly never land here (they raise).
    """

    symbols: dict[SymbolKey, SymbolCounts] = field(default_factory=dict)
    files: list[FileResult] = field(default_factory=list)
    skipped_files: list[tuple[Path, str]] = field(default_factory=list)

    @property
    def total(self) -> SymbolCounts:
        """Counts summed over every symbol."""
        out = SymbolCounts()
        for c in self.symbols.values():
            for name in SymbolCounts.__slots__:
                setattr(out, name, getattr(out, name) + getattr(c, name))
        return out


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """A file, its format and the symbols it writes to (resolved before writing)."""

    path: Path
    format: Format
    keys: tuple[SymbolKey, ...]


def expand_paths(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path]]:
    """(files named explicitly, files found under named folders), each in sorted order.

    Hidden files and folders (``.name``) under folders are ignored.

    Raises:
        FileNotFoundError: a path does not exist.
    """
    explicit: list[Path] = []
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
        elif p.is_file():
            explicit.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder")
    return explicit, found


def plan_import(
    paths: Iterable[str | Path], opts: ImportOptions
) -> tuple[list[PlannedFile], list[tuple[Path, str]]]:
    """Detect formats and resolve keys for every file, writing nothing.

    Returns the planned files and the skipped ``(path, reason)`` of non-trade files found
    in folders.

    Raises:
        UnknownFormatError: a file named explicitly has no known format.
        SymbolResolutionError: a file's exchange/market/symbol cannot be told.
        SourceError: a file is unreadable or damaged.
        FileNotFoundError: a path does not exist.
    """
    explicit, found = expand_paths(paths)
    planned: list[PlannedFile] = []
    skipped: list[tuple[Path, str]] = []
    for path in explicit + found:
        try:
            fmt = detect_format(path)
        except UnknownFormatError as exc:
            if path in explicit:
                raise
            skipped.append((path, str(exc)))
            continue
        keys = fmt.probe(path, opts)
        planned.append(PlannedFile(path, fmt, tuple(keys)))
    return planned, skipped


def import_paths(
    store: TickStore,
    paths: Iterable[str | Path],
    *,
    exchange: str | None = None,
    market: str | None = None,
    symbol: str | None = None,
    id_space: str | None = None,
    progress: bool = True,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> ImportSummary:
    """Import trade files (or folders of them) into ``store``.

    Args:
        store: an open, writable tick store.
        paths: files and/or folders (searched recursively; non-trade files there are
            skipped and listed in the summary).
        exchange, market, symbol: what the files do not say themselves (data wins).
        id_space: ``"trade"``/``"agg_trade"`` for files that cannot tell (generic tables,
            ccxt lists without Binance ``info``).
        progress: show a rich progress bar (bytes of the files read).
        batch_rows: maximum rows per append.

    Returns:
        An :class:`ImportSummary` with per-symbol and per-file counts.

    Raises:
        UnknownFormatError, SymbolResolutionError, SourceError: from planning, before
            anything is written; ``SourceError`` also while reading a file that turns out
            damaged after some of its batches were stored (those stay: they are valid and
            a re-import is idempotent). Zip archives are fully CRC-checked before their
            first batch, so a damaged zip stores nothing.
        IdSpaceMismatchError: a file's id space differs from the symbol's stored one.
    """
    opts = ImportOptions(exchange, market, symbol, id_space, batch_rows)
    planned, skipped = plan_import(paths, opts)
    summary = ImportSummary(skipped_files=skipped)
    total_bytes = sum(p.path.stat().st_size for p in planned)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[rows]:>12,} rows"),
        TimeRemainingColumn(),
        disable=not progress,
        transient=False,
    )
    with bar:
        task = bar.add_task("import", total=total_bytes or 1, rows=0)
        done_bytes = 0
        rows = 0
        for item in planned:
            bar.update(task, description=f"import {item.path.name}")
            result = FileResult(item.path, item.format.name)
            summary.files.append(result)
            for batch in _prefetch(item.format.read(item.path, opts)):
                rows += _store_batch(store, batch, item.path, result, summary)
                bar.update(task, completed=done_bytes + batch.position, rows=rows)
            done_bytes += item.path.stat().st_size
            bar.update(task, completed=done_bytes)
            _log_file(store, item.path, result)
    return summary


def _store_batch(
    store: TickStore,
    batch: SourceBatch,
    path: Path,
    result: FileResult,
    summary: ImportSummary,
) -> int:
    source = str(path)
    counts = result.counts.setdefault(batch.key, SymbolCounts())
    total = summary.symbols.setdefault(batch.key, SymbolCounts())
    if batch.table.num_rows:
        res = store.append(batch.key, batch.table, id_space=batch.id_space, source=source)
        counts.add(res)
        total.add(res)
    if batch.quarantined:
        n = store.quarantine_records(batch.key, batch.quarantined, source=source)
        for c in (counts, total):
            c.received += n
            c.quarantined += n
    for c in (counts, total):
        c.skipped += batch.skipped
    return batch.table.num_rows


def _log_file(store: TickStore, path: Path, result: FileResult) -> None:
    """One ``import_log`` row per (file, symbol)."""
    for key, c in result.counts.items():
        if not c.received:
            continue
        with store.connection(key) as con:
            con.execute(
                "INSERT INTO import_log (source, received, inserted, duplicates, conflicts, "
                "quarantined) VALUES (?, ?, ?, ?, ?, ?)",
                [str(path), c.received, c.inserted, c.duplicates, c.conflicts, c.quarantined],
            )


_DONE = object()


@dataclass(frozen=True, slots=True)
class _Failure:
    error: BaseException


def _prefetch(batches: Iterator[SourceBatch], depth: int = 2) -> Iterator[SourceBatch]:
    """Run ``batches`` on a background thread, ``depth`` batches ahead of the consumer.

    An exception in the reader is re-raised in the consumer; if the consumer stops early
    (an error while storing), the reader is closed.
    """
    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def offer(item: Any) -> bool:
        while not stop.is_set():
            try:
                slots.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                batch.table = with_decimal_columns(batch.table)
                if not offer(batch):
                    return
            offer(_DONE)
        except BaseException as exc:  # handed to the consumer
            offer(_Failure(exc))
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="tapeflow-import-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join()
