"""Tardis.dev ``trades`` CSV (optionally gzip): individual trades with the aggressor side.

Header: ``exchange,symbol,timestamp,local_timestamp,id,side,price,amount``. ``timestamp``
(exchange time) and ``local_timestamp`` (Tardis receive time) are µs since the epoch;
``side`` is the aggressor (``buy`` = taker bought; ``unknown`` is quarantined by the store);
``id`` is the exchange's trade id (Binance raw trade ids → id space ``trade``). Price and
amount are parsed as exact decimals (:mod:`tapeflow.sources.csv_exact`).

Exchange names map to tapeflow keys: ``binance`` → binance/spot, ``binance-futures`` →
binance/usdm, ``binance-delivery`` → binance/coinm, ``bybit`` → bybit/linear (``inverse`` for
USD-quoted symbols such as ``BTCUSD``), ``bybit-spot`` → bybit/spot. A file may mix symbols;
each batch is split per symbol. Rows whose id is not an integer (Bybit's UUID ids) cannot
be stored in the id-keyed store and are quarantined.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources.csv_exact import exact_csv_batches
from tapeflow.sources.epoch import epoch_unit_array_to_ts
from tapeflow.sources.identity import resolve_key
from tapeflow.sources.model import ImportOptions, SourceBatch, SourceError, source_error

HEADER = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount"
BLOCK_SIZE = 32 << 20
_INTEGER = re.compile(r"^\d{1,18}$")


def looks_like(head: bytes) -> bool:
    """Whether the first decompressed bytes start with the Tardis trades header."""
    return head.lstrip(b"\xef\xbb\xbf").startswith(HEADER.encode())


def market_of(exchange: str, symbol: str) -> tuple[str, str]:
    """(tapeflow exchange, market) of a Tardis exchange id and symbol.

    Raises:
        ValueError: an exchange id tapeflow does not map.
    """
    if exchange == "binance":
        return "binance", "spot"
    if exchange == "binance-futures":
        return "binance", "usdm"
    if exchange == "binance-delivery":
        return "binance", "coinm"
    if exchange == "bybit-spot":
        return "bybit", "spot"
    if exchange == "bybit":
        return "bybit", ("inverse" if re.search(r"USD([A-Z]\d{2})?$", symbol) else "linear")
    raise ValueError(f"unknown Tardis exchange {exchange!r}")


def _open(path: Path) -> tuple[pa.NativeFile, pa.NativeFile]:
    """(stream to parse, raw file for progress); gzip told by its magic bytes."""
    raw = pa.OSFile(str(path))
    gzipped = raw.read(2) == b"\x1f\x8b"
    raw.seek(0)
    return (pa.CompressedInputStream(raw, "gzip") if gzipped else raw), raw


_TYPES = {
    "exchange": pa.string(),
    "symbol": pa.string(),
    "timestamp": pa.int64(),
    "local_timestamp": pa.int64(),
    "id": pa.string(),
    "side": pa.string(),
    "price": pa.string(),
    "amount": pa.string(),
}
_READ_OPTIONS = pacsv.ReadOptions(block_size=BLOCK_SIZE)


def _key(path: Path, exchange: str, symbol: str, opts: ImportOptions) -> SymbolKey:
    try:
        ex, market = market_of(exchange, symbol)
    except ValueError as exc:
        raise source_error(path, str(exc)) from exc
    return resolve_key(path, opts, exchange=ex, market=market, symbol=symbol.upper())


def probe(path: Path, opts: ImportOptions) -> list[SymbolKey]:
    """Keys of the first block of rows."""
    stream, raw = _open(path)
    with raw, stream:
        try:
            batch = pacsv.open_csv(  # only the symbol columns; unparseable rows are skipped
                stream,
                read_options=_READ_OPTIONS,
                parse_options=pacsv.ParseOptions(invalid_row_handler=lambda row: "skip"),
                convert_options=pacsv.ConvertOptions(
                    column_types={"exchange": pa.string(), "symbol": pa.string()},
                    include_columns=["exchange", "symbol"],
                ),
            ).read_next_batch()
        except StopIteration:
            raise source_error(path, "no rows") from None
        except (pa.ArrowInvalid, KeyError) as exc:
            raise source_error(path, f"not a Tardis trades CSV: {exc}") from exc
    pairs = pa.table(batch).group_by(["exchange", "symbol"]).aggregate([]).to_pylist()
    return [_key(path, p["exchange"], p["symbol"], opts) for p in pairs]


def read(path: Path, opts: ImportOptions) -> Iterator[SourceBatch]:
    """Stream the file as batches per symbol.

    Raises:
        SourceError: the CSV cannot be read at all (names the file). Ragged rows and rows
            whose times do not parse travel in ``SourceBatch.quarantined`` (raw line and
            reason), with the first symbol's batch.
    """

    def open_stream():
        stream, raw = _open(path)  # closing a gzip stream closes the raw file too
        return stream, raw.tell

    try:
        for batch, position, unparsed in exact_csv_batches(
            open_stream, _READ_OPTIONS, _TYPES, list(_TYPES), price="price", quantity="amount"
        ):
            table = pa.table(batch)
            if not table.num_rows:
                if unparsed:  # only refused rows left: they go to the first symbol's file
                    key = probe(path, opts)[0]
                    yield SourceBatch(key, "trade", _to_ticks(table)[0], unparsed, 0, position)
                continue
            pairs = table.group_by(["exchange", "symbol"]).aggregate([]).to_pylist()
            for pair in pairs:
                part = table
                if len(pairs) > 1:
                    mask = pc.and_(
                        pc.equal(table["exchange"], pair["exchange"]),
                        pc.equal(table["symbol"], pair["symbol"]),
                    )
                    part = table.filter(mask)
                key = _key(path, pair["exchange"], pair["symbol"], opts)
                ticks, rejected = _to_ticks(part)
                if unparsed:  # rows that did not parse belong to no symbol: the first one's
                    rejected, unparsed = unparsed + rejected, []
                for offset in range(0, max(ticks.num_rows, 1), opts.batch_rows):
                    yield SourceBatch(
                        key=key,
                        id_space="trade",
                        table=ticks.slice(offset, opts.batch_rows),
                        quarantined=rejected if offset == 0 else [],
                        position=position,
                    )
    except pa.ArrowInvalid as exc:
        raise source_error(path, f"cannot parse Tardis CSV: {exc}", SourceError) from exc


def _to_ticks(table: pa.Table) -> tuple[pa.Table, list[tuple[str, str]]]:
    ids = table["id"]
    numeric = pc.match_substring_regex(ids, _INTEGER.pattern)
    rejected: list[tuple[str, str]] = []
    if not pc.all(numeric).as_py():
        bad = table.filter(pc.invert(numeric))
        rejected = [
            (json.dumps(row), f"trade id {row['id']!r} is not an integer")
            for row in bad.to_pylist()
        ]
        table = table.filter(numeric)
    ticks = pa.table(
        {
            "trade_id": table["id"].cast(pa.int64()),
            "ts": epoch_unit_array_to_ts(table["timestamp"], "us"),
            "price": table["price"],
            "quantity": table["amount"],
            "side": table["side"],
            "local_ts": epoch_unit_array_to_ts(table["local_timestamp"], "us"),
        }
    )
    return ticks, rejected
