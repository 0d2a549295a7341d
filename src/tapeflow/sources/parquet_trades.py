"""Parquet trade tables: nautilus, freqtrade and tick-schema-like layouts.

Layouts, told apart by column names:

nautilus (``btcusdt-trades.parquet``)
    ``timestamp`` timestamp[ms, UTC], ``trade_id`` int64 (raw trade id → id space
    ``trade``), ``price``/``quantity`` double, ``buyer_maker`` string ``"True"``/``"False"``
    (``"True"`` → the aggressor sold). Symbol from the file name (``btcusdt-trades`` →
    ``BTCUSDT``); exchange and market from options.
freqtrade (``XRP_ETH-trades.parquet``)
    ``timestamp`` int64 ms, ``id`` string (Binance **aggregate** trade id → ``agg_trade``),
    ``side`` taker side, ``price``/``amount`` double (``cost``, ``type`` unused). Symbol from
    the file name (``XRP_ETH`` → ``XRPETH``; futures ``BTC_USDT_USDT`` → ``BTCUSDT``);
    exchange and market from options.
tick
    columns named as the store's tick schema: ``trade_id``, ``ts`` (timestamp, or epoch
    integers told by magnitude), ``price``, ``quantity`` (strings, decimals or doubles),
    ``side``, optionally ``trade_type``, ``first_trade_id``, ``last_trade_id``, ``local_ts``,
    and optionally ``exchange``/``market``/``symbol`` columns (one value each). The id space
    is ``agg_trade`` when ``first_trade_id`` is present, else from options (default
    ``trade``).

Doubles become exact decimal strings by :mod:`tapeflow.sources.decimals`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources.decimals import floats_to_decimal_strings
from tapeflow.sources.epoch import TS_TYPE, epoch_array_to_ts, epoch_unit_array_to_ts
from tapeflow.sources.identity import resolve_key
from tapeflow.sources.model import ImportOptions, SourceBatch, SourceError, source_error

NAUTILUS = frozenset({"timestamp", "trade_id", "price", "quantity", "buyer_maker"})
FREQTRADE = frozenset({"timestamp", "id", "side", "price", "amount"})
TICK = frozenset({"trade_id", "ts", "price", "quantity", "side"})
_NAME = re.compile(r"^(?P<sym>[A-Za-z0-9_]+?)-(?:futures-)?trades$")


def looks_like(head: bytes) -> bool:
    """Parquet magic bytes."""
    return head[:4] == b"PAR1"


def layout_of(schema: pa.Schema) -> str | None:
    """``"nautilus"``, ``"freqtrade"``, ``"tick"`` or ``None`` from a file's column names."""
    names = set(schema.names)
    if names >= TICK:
        return "tick"
    if names >= NAUTILUS:
        return "nautilus"
    if names >= FREQTRADE:
        return "freqtrade"
    return None


def _open(path: Path) -> tuple[pq.ParquetFile, str]:
    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise source_error(path, f"cannot read Parquet: {exc}") from exc
    layout = layout_of(pf.schema_arrow)
    if layout is None:
        raise source_error(
            path,
            f"unknown Parquet trade layout (columns: {', '.join(pf.schema_arrow.names)}); "
            "expected nautilus, freqtrade or tick-schema columns",
        )
    return pf, layout


def _symbol_from_name(path: Path, layout: str) -> str | None:
    stem = path.name.split(".", 1)[0]
    m = _NAME.match(stem)
    if not m:
        return None
    parts = m.group("sym").upper().split("_")
    if layout == "freqtrade":
        if len(parts) == 3 and parts[2] == parts[1]:  # BTC_USDT_USDT: linear futures
            parts = parts[:2]
        return "".join(parts)
    return "_".join(parts)


def _single(pf: pq.ParquetFile, column: str) -> str | None:
    if column not in pf.schema_arrow.names:
        return None
    values = pc.unique(pf.read(columns=[column]).column(column)).to_pylist()
    values = [v for v in values if v is not None]
    if len(values) > 1:
        raise SourceError(f"column {column!r} holds several values {values[:5]}: split the file")
    return str(values[0]) if values else None


def _key(path: Path, pf: pq.ParquetFile, layout: str, opts: ImportOptions) -> SymbolKey:
    exchange = market = symbol = None
    if layout == "tick":
        try:
            exchange, market, symbol = (_single(pf, c) for c in ("exchange", "market", "symbol"))
        except SourceError as exc:
            raise source_error(path, str(exc)) from exc
    symbol = symbol or opts.symbol or _symbol_from_name(path, layout)
    return resolve_key(path, opts, exchange=exchange, market=market, symbol=symbol)


def _id_space(pf: pq.ParquetFile, layout: str, opts: ImportOptions) -> str:
    if layout == "freqtrade":
        return "agg_trade"
    if layout == "nautilus":
        return "trade"
    if "first_trade_id" in pf.schema_arrow.names:
        return "agg_trade"
    return opts.id_space or "trade"


def probe(path: Path, opts: ImportOptions) -> list[SymbolKey]:
    """The file's key (fails naming the missing option)."""
    pf, layout = _open(path)
    return [_key(path, pf, layout, opts)]


def read(path: Path, opts: ImportOptions) -> Iterator[SourceBatch]:
    """Batches of at most ``opts.batch_rows`` rows.

    Raises:
        SourceError: unknown layout or unusable column types (names the file).
    """
    pf, layout = _open(path)
    key = _key(path, pf, layout, opts)
    space = _id_space(pf, layout, opts)
    convert = {"nautilus": _nautilus, "freqtrade": _freqtrade, "tick": _tick}[layout]
    size = path.stat().st_size
    total = max(pf.metadata.num_rows, 1)
    done = 0
    for batch in pf.iter_batches(batch_size=opts.batch_rows):
        try:
            table = convert(batch)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, SourceError) as exc:
            raise source_error(path, f"cannot convert {layout} columns: {exc}") from exc
        done += batch.num_rows
        yield SourceBatch(key=key, id_space=space, table=table, position=size * done // total)


def _exact(column: pa.Array) -> pa.Array:
    """Price/quantity column as exact strings (doubles via the shortest-repr rule)."""
    if pa.types.is_floating(column.type):
        return floats_to_decimal_strings(column)
    if pa.types.is_decimal(column.type) or pa.types.is_string(column.type):
        return column
    if pa.types.is_large_string(column.type) or pa.types.is_integer(column.type):
        return column.cast(pa.string())
    raise SourceError(f"price/quantity of type {column.type} is not usable")


def _time(column: pa.Array, unit: str | None = None) -> pa.Array:
    if pa.types.is_timestamp(column.type):
        if column.type.tz is None:
            column = pc.assume_timezone(column, "UTC")
        return column.cast(TS_TYPE)
    if unit:
        return epoch_unit_array_to_ts(column, unit)
    return epoch_array_to_ts(column)


def _side_from_flag(flag: pa.Array) -> pa.Array:
    """Aggressor side from an is-buyer-maker flag (bool or "True"/"False" strings)."""
    if not pa.types.is_boolean(flag.type):
        lowered = pc.utf8_lower(flag.cast(pa.string()))
        flag = pc.if_else(
            pc.equal(lowered, "true"),
            True,
            pc.if_else(pc.equal(lowered, "false"), False, pa.scalar(None, pa.bool_())),
        )
    return pc.if_else(flag, "sell", "buy")


def _nautilus(b: pa.RecordBatch) -> pa.Table:
    return pa.table(
        {
            "trade_id": b.column("trade_id").cast(pa.int64()),
            "ts": _time(b.column("timestamp"), "ms"),
            "price": _exact(b.column("price")),
            "quantity": _exact(b.column("quantity")),
            "side": _side_from_flag(b.column("buyer_maker")),
        }
    )


def _freqtrade(b: pa.RecordBatch) -> pa.Table:
    return pa.table(
        {
            "trade_id": b.column("id").cast(pa.int64()),
            "ts": _time(b.column("timestamp"), "ms"),
            "price": _exact(b.column("price")),
            "quantity": _exact(b.column("amount")),
            "side": pc.utf8_lower(b.column("side").cast(pa.string())),
        }
    )


def _tick(b: pa.RecordBatch) -> pa.Table:
    cols = {
        "trade_id": b.column("trade_id").cast(pa.int64()),
        "ts": _time(b.column("ts")),
        "price": _exact(b.column("price")),
        "quantity": _exact(b.column("quantity")),
        "side": pc.utf8_lower(b.column("side").cast(pa.string())),
    }
    for name in ("trade_type", "first_trade_id", "last_trade_id"):
        if name in b.schema.names:
            cols[name] = b.column(name)
    if "local_ts" in b.schema.names:
        cols["local_ts"] = _time(b.column("local_ts"))
    return pa.table(cols)
