"""Which reader a file needs, from its name and first bytes.

Order of checks: Parquet magic → Binance archive name (``SYMBOL-trades-DATE.csv|zip``) →
decompressed first bytes: a ``<digits> {json`` capture line, the Tardis header, a JSON array
(ccxt), a Binance archive header or row. Anything else raises :class:`UnknownFormatError`
naming the file.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources import binance_archive, ccxt_json, parquet_trades, tardis, ws_capture
from tapeflow.sources.model import ImportOptions, SourceBatch, UnknownFormatError

_HEAD_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Format:
    """A trade file format: its name, a key probe and a batch reader."""

    name: str
    probe: Callable[[Path, ImportOptions], list[SymbolKey]]
    read: Callable[[Path, ImportOptions], Iterator[SourceBatch]]


FORMATS: dict[str, Format] = {
    "binance_ws": Format("binance_ws", ws_capture.probe, ws_capture.read),
    "binance_archive": Format("binance_archive", binance_archive.probe, binance_archive.read),
    "tardis": Format("tardis", tardis.probe, tardis.read),
    "ccxt_json": Format("ccxt_json", ccxt_json.probe, ccxt_json.read),
    "parquet": Format("parquet", parquet_trades.probe, parquet_trades.read),
}


def _head(path: Path) -> tuple[bytes, bytes]:
    """(raw first bytes, decompressed first bytes) of ``path``."""
    with open(path, "rb") as f:
        raw = f.read(_HEAD_BYTES)
    if raw[:2] != b"\x1f\x8b":
        return raw, raw
    try:
        with gzip.open(path, "rb") as f:
            return raw, f.read(_HEAD_BYTES)
    except (OSError, EOFError, zlib.error):
        return raw, b""


def detect_format(path: Path | str) -> Format:
    """The :class:`Format` of ``path``.

    Raises:
        UnknownFormatError: no known format matches (the message names the file).
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    raw, head = _head(path)
    if parquet_trades.looks_like(raw):
        return FORMATS["parquet"]
    if binance_archive.NAME_PATTERN.match(path.name):
        return FORMATS["binance_archive"]
    if ws_capture.looks_like(head):
        return FORMATS["binance_ws"]
    if tardis.looks_like(head):
        return FORMATS["tardis"]
    if ccxt_json.looks_like(head):
        return FORMATS["ccxt_json"]
    if raw[:4] != b"PK\x03\x04" and binance_archive.looks_like(path, head):
        return FORMATS["binance_archive"]
    raise UnknownFormatError(
        f"{path}: unknown trade file format (expected a Binance WebSocket capture, a Binance "
        "trades/aggTrades archive, a Tardis trades CSV, a ccxt JSON trade list or a "
        "Parquet trade table)"
    )
