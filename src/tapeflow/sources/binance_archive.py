"""Binance public-data archives (data.binance.vision): trades and aggTrades, CSV or zip.

File names: ``{SYMBOL}-trades-{YYYY-MM-DD}.csv|.zip`` and ``{SYMBOL}-aggTrades-...``
(monthly files ``-{YYYY-MM}`` too). Each zip holds one CSV of the same stem. Columns,
with or without a header row (futures files have one since 2022, spot files none):

=================  ===========================================================================
spot trades        id, price, qty, quoteQty, time, isBuyerMaker, isBestMatch       (7 columns)
futures trades     id, price, qty, quote_qty, time, is_buyer_maker                 (6 columns)
spot aggTrades     agg_trade_id, price, quantity, first_trade_id, last_trade_id,
                   transact_time, is_buyer_maker, is_best_match                    (8 columns)
futures aggTrades  the same without is_best_match                                  (7 columns)
=================  ===========================================================================

``time`` is ms, except in spot archives from 2025-01-01 on, which use µs: the unit is told
per value by magnitude (:mod:`tapeflow.sources.epoch`). ``isBuyerMaker`` true → the aggressor
sold. Price and quantity are parsed as exact decimals (:mod:`tapeflow.sources.csv_exact`).
Trades go to id space ``trade``, aggTrades to ``agg_trade`` with ``first_trade_id`` and
``last_trade_id``.

Symbol: from the file name (or ``--symbol``). Market: the archive does not name it, so
``--market`` is used when given; otherwise the column count tells spot from futures and the
symbol tells USD-M from COIN-M (:func:`tapeflow.sources.identity.binance_futures_market`).
A ``--market`` that contradicts the column count (spot columns into a futures store, or the
reverse) is an error. A zip is tested (every member's CRC) before any row is read, so a
damaged archive imports nothing.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources.csv_exact import exact_csv_batches
from tapeflow.sources.epoch import epoch_array_to_ts
from tapeflow.sources.identity import binance_futures_market, resolve_key
from tapeflow.sources.model import (
    CorruptArchiveError,
    ImportOptions,
    SourceBatch,
    SourceError,
    source_error,
)

NAME_PATTERN = re.compile(
    r"^(?P<symbol>[A-Z0-9]+(?:_[A-Z0-9]+)?)-(?P<kind>trades|aggTrades)-"
    r"(?P<date>\d{4}-\d{2}(?:-\d{2})?)\.(?P<ext>csv|zip)$"
)

#: Canonical column names per (kind, column count).
_LAYOUTS: dict[tuple[str, int], tuple[str, ...]] = {
    ("trades", 7): ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker", "best"),
    ("trades", 6): ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker"),
    ("aggTrades", 8): ("id", "price", "qty", "first", "last", "time", "is_buyer_maker", "best"),
    ("aggTrades", 7): ("id", "price", "qty", "first", "last", "time", "is_buyer_maker"),
}
_SPOT_COUNTS = {"trades": 7, "aggTrades": 8}
_HEADER_KIND = {"agg_trade_id": "aggTrades", "a": "aggTrades", "id": "trades"}

#: CSV block size: ~600k rows of a trades file per batch.
BLOCK_SIZE = 32 << 20


@dataclass(frozen=True, slots=True)
class ArchiveLayout:
    """What the first line of an archive says."""

    kind: str  # "trades" | "aggTrades"
    columns: tuple[str, ...]
    header: bool
    market: str | None  # "spot" if the column count says so, "futures" otherwise


def looks_like(path: Path, head: bytes) -> bool:
    """Binance archive by name, or a CSV whose first line is an archive header/row."""
    if NAME_PATTERN.match(path.name):
        return True
    first = head.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
    cells = first.split(",")
    if cells[0] in ("id", "agg_trade_id") and len(cells) in (6, 7, 8):
        return True
    return len(cells) in (6, 7, 8) and all(
        re.fullmatch(r"[0-9.]+|true|false|True|False", c) for c in cells
    )


def verify_zip(path: Path) -> zipfile.ZipInfo:
    """Check that ``path`` is an intact zip holding exactly one file; return its entry.

    Every member's CRC is tested (one full decompression pass).

    Raises:
        CorruptArchiveError: not a zip, more than one member, or a damaged member.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            if len(members) != 1:
                raise source_error(
                    path,
                    f"expected one CSV in the archive, found {len(members)}",
                    CorruptArchiveError,
                )
            bad = zf.testzip()
            if bad is not None:
                raise source_error(
                    path, f"archive member {bad} is damaged (CRC)", CorruptArchiveError
                )
            return members[0]
    except (zipfile.BadZipFile, EOFError, OSError, zipfile.LargeZipFile, zlib.error) as exc:
        raise source_error(path, f"damaged zip archive: {exc}", CorruptArchiveError) from exc


def _open_member(path: Path, *, verify: bool = True) -> tuple[IO[bytes], int, int]:
    """(binary stream of the CSV, its size, the file's size on disk); a zip is CRC-tested
    first unless ``verify`` is false."""
    disk = path.stat().st_size
    if path.suffix.lower() != ".zip":
        return open(path, "rb"), disk, disk
    member = verify_zip(path) if verify else None
    try:
        zf = zipfile.ZipFile(path)
        member = member or next(i for i in zf.infolist() if not i.is_dir())
        return zf.open(member.filename), member.file_size, disk
    except (zipfile.BadZipFile, EOFError, OSError, StopIteration, zlib.error) as exc:
        raise source_error(path, f"damaged zip archive: {exc}", CorruptArchiveError) from exc


def _layout(path: Path, first_line: str, opts: ImportOptions) -> ArchiveLayout:
    cells = [c.strip() for c in first_line.strip().split(",")]
    header = not cells[0].isdigit()
    m = NAME_PATTERN.match(path.name)
    kind = m.group("kind") if m else None
    if header:
        head_kind = _HEADER_KIND.get(cells[0])
        if head_kind is None:
            raise source_error(path, f"unknown Binance archive header {first_line.strip()!r}")
        kind = kind or head_kind
    if kind is None:
        if opts.id_space is None:
            raise source_error(
                path,
                "cannot tell trades from aggTrades: name the file SYMBOL-trades-DATE.csv / "
                "SYMBOL-aggTrades-DATE.csv or pass id_space",
            )
        kind = "aggTrades" if opts.id_space == "agg_trade" else "trades"
    columns = _LAYOUTS.get((kind, len(cells)))
    if columns is None:
        raise source_error(path, f"{kind} archive with {len(cells)} columns is not a known layout")
    market = "spot" if len(cells) == _SPOT_COUNTS[kind] else "futures"
    return ArchiveLayout(kind=kind, columns=columns, header=header, market=market)


def _first_line(path: Path, *, verify: bool = True) -> str:
    stream, _, _ = _open_member(path, verify=verify)
    with stream:
        line = stream.readline(1 << 16)
    if not line.strip():
        raise source_error(path, "empty archive")
    return line.decode("utf-8", "replace")


def _key(path: Path, layout: ArchiveLayout, opts: ImportOptions) -> SymbolKey:
    m = NAME_PATTERN.match(path.name)
    symbol = opts.symbol or (m.group("symbol") if m else None)
    market = opts.market
    if market is not None:
        if (market == "spot") != (layout.market == "spot"):
            raise source_error(
                path,
                f"--market {market} contradicts the file: its columns are those of a "
                f"{layout.market} {layout.kind} archive",
            )
    elif symbol is not None:
        market = "spot" if layout.market == "spot" else binance_futures_market(symbol)
    return resolve_key(
        path, opts, exchange=opts.exchange or "binance", market=market, symbol=symbol
    )


def probe(path: Path, opts: ImportOptions) -> list[SymbolKey]:
    """The file's key, checked before anything is written (from the first line only; the
    full CRC test of a zip runs in :func:`read`, before its first batch).

    Raises:
        SourceError: unknown layout, unreadable zip, or a key that cannot be resolved.
    """
    layout = _layout(path, _first_line(path, verify=False), opts)
    return [_key(path, layout, opts)]


def read(path: Path, opts: ImportOptions) -> Iterator[SourceBatch]:
    """Stream an archive as batches of at most ``opts.batch_rows`` rows.

    Raises:
        CorruptArchiveError: the zip is damaged (before any batch is produced).
        SourceError: the CSV cannot be read at all (names the file and Arrow's reason).
        Rows with the wrong number of cells, or an id/time/side that does not parse, are
        not errors: they travel in ``SourceBatch.quarantined`` with their raw line.
    """
    layout = _layout(path, _first_line(path, verify=False), opts)
    key = _key(path, layout, opts)
    id_space = "agg_trade" if layout.kind == "aggTrades" else "trade"
    wanted = ["id", "price", "qty", "time", "is_buyer_maker"]
    types = {
        "id": pa.int64(),
        "price": pa.string(),
        "qty": pa.string(),
        "time": pa.int64(),
        "is_buyer_maker": pa.bool_(),
    }
    if id_space == "agg_trade":
        wanted += ["first", "last"]
        types |= {"first": pa.int64(), "last": pa.int64()}
    disk = path.stat().st_size

    def open_stream():
        stream, size, _ = _open_member(path, verify=False)
        return stream, lambda: min(int(stream.tell() * disk / size), disk) if size else disk

    if path.suffix.lower() == ".zip":
        verify_zip(path)  # every CRC, before the first batch
    read_opts = pacsv.ReadOptions(
        column_names=list(layout.columns),
        skip_rows=1 if layout.header else 0,
        block_size=BLOCK_SIZE,
        use_threads=True,
    )
    try:
        for batch, position, rejected in exact_csv_batches(
            open_stream, read_opts, types, wanted, price="price", quantity="qty"
        ):
            table = _to_ticks(batch, id_space)
            for offset in range(0, max(table.num_rows, 1), opts.batch_rows):
                yield SourceBatch(
                    key=key,
                    id_space=id_space,
                    table=table.slice(offset, opts.batch_rows),
                    quarantined=rejected if offset == 0 else [],
                    position=position,
                )
    except (pa.ArrowInvalid, zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise source_error(path, f"cannot parse archive: {exc}", SourceError) from exc


def _to_ticks(batch: pa.RecordBatch, id_space: str) -> pa.Table:
    side = pc.if_else(batch.column("is_buyer_maker"), "sell", "buy")
    cols = {
        "trade_id": batch.column("id"),
        "ts": epoch_array_to_ts(batch.column("time")),
        "price": batch.column("price"),
        "quantity": batch.column("qty"),
        "side": side,
    }
    if id_space == "agg_trade":
        cols["first_trade_id"] = batch.column("first")
        cols["last_trade_id"] = batch.column("last")
    return pa.table(cols)
