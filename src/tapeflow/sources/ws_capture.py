"""Raw Binance WebSocket captures (hftbacktest collector): ``<local ts> <stream JSON>`` lines.

File: gzip text, one message per line, ``<local receive time> <combined-stream JSON>``; the
local time is in ns (hftbacktest 2024 files) or µs (``*.dat.gz``), told apart by magnitude
(:mod:`tapeflow.sources.epoch`). Only ``"e":"trade"`` (raw trades, id space ``trade``) and
``"e":"aggTrade"`` (aggregate trades, id space ``agg_trade``, with ``f``/``l``) payloads are
ticks; book tickers, depth diffs and REST snapshot lines are counted as skipped.

Fields used: ``s`` symbol, ``t``/``a`` id, ``p`` price and ``q`` quantity (exact strings),
``T`` trade time (ms), ``m`` isBuyerMaker (true → the aggressor **sold**), ``X`` trade type
(USD-M/COIN-M only, kept as ``trade_type``). Market: see :mod:`tapeflow.sources.identity`.

A line that looks like a trade but cannot be read (bad JSON, a missing or mistyped field, a
price or quantity that is not a positive decimal) is quarantined with the raw line and the
reason; the rest of the file imports.
"""

from __future__ import annotations

import gzip
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pyarrow as pa

from tapeflow.model.errors import TapeflowError
from tapeflow.model.symbols import SymbolKey
from tapeflow.sources.epoch import TS_TYPE, epoch_to_us
from tapeflow.sources.identity import binance_ws_market, resolve_key
from tapeflow.sources.model import ImportOptions, SourceBatch, source_error

_TRADE_MARK = re.compile(r'"e"\s*:\s*"(trade|aggTrade)"|@(trade|aggTrade)"')
_SYMBOL_MARK = re.compile(r'"s"\s*:\s*"([A-Za-z0-9_]+)"')
_POSITIVE_DECIMAL = re.compile(r"^\d+(\.\d+)?$")
_LINE_START = re.compile(rb"^\d{10,20} [{\[]")

_INT_FIELDS = {"trade": ("t", "T"), "aggTrade": ("a", "f", "l", "T")}


def looks_like(head: bytes) -> bool:
    """Whether the first decompressed bytes are a capture line (``<digits> {json``)."""
    return bool(_LINE_START.match(head))


def _open(path: Path) -> tuple[IO[str], IO[bytes]]:
    """(text stream, raw byte file) of a plain or gzip capture; the caller closes both."""
    raw = open(path, "rb")  # noqa: SIM115 - closed by the caller
    gzipped = raw.read(2) == b"\x1f\x8b"
    raw.seek(0)
    if gzipped:
        return gzip.open(raw, "rt", encoding="utf-8"), raw
    return io.TextIOWrapper(raw, encoding="utf-8"), raw


class _Rejected(TapeflowError, ValueError):
    pass


def _parse(line: str) -> tuple[str, int | None, dict]:
    """(event, local_ts_us, payload) of a trade-looking line; raises _Rejected with a reason."""
    prefix, sep, body = line.partition(" ")
    local = None
    if sep and prefix.isdigit():
        local = epoch_to_us(int(prefix))
    else:
        body = line
    try:
        msg = json.loads(body)
    except ValueError as exc:
        raise _Rejected(f"bad JSON: {exc}") from None
    payload = msg.get("data", msg) if isinstance(msg, dict) else None
    if not isinstance(payload, dict):
        raise _Rejected("message is not a JSON object")
    event = payload.get("e")
    if event not in _INT_FIELDS:
        raise _Rejected(f"unexpected event type {event!r} on a trade stream")
    for name in _INT_FIELDS[event]:
        value = payload.get(name)
        if type(value) is not int or value < 0:
            raise _Rejected(f"field {name!r} missing or not a non-negative integer")
    for name in ("p", "q"):
        value = payload.get(name)
        if not isinstance(value, str):
            raise _Rejected(f"field {name!r} missing or not a decimal string")
        if not _POSITIVE_DECIMAL.match(value) or not value.strip("0."):
            what = "price" if name == "p" else "quantity"
            raise _Rejected(f"{what} {value!r} is not a positive decimal")
    if type(payload.get("m")) is not bool:
        raise _Rejected("field 'm' (isBuyerMaker) missing or not a boolean")
    if not isinstance(payload.get("s"), str):
        raise _Rejected("field 's' (symbol) missing")
    x = payload.get("X")
    if x is not None and not isinstance(x, str):
        raise _Rejected("field 'X' (trade type) is not a string")
    return event, local, payload


class _Acc:
    """Column lists of one (symbol, id space) while a batch fills."""

    __slots__ = ("first", "last", "local", "price", "qty", "side", "tid", "ts", "type")

    def __init__(self) -> None:
        self.tid: list[int] = []
        self.ts: list[int] = []
        self.price: list[str] = []
        self.qty: list[str] = []
        self.side: list[str] = []
        self.type: list[str | None] = []
        self.first: list[int | None] = []
        self.last: list[int | None] = []
        self.local: list[int | None] = []

    def add(self, event: str, local: int | None, p: dict) -> None:
        agg = event == "aggTrade"
        self.tid.append(p["a"] if agg else p["t"])
        self.ts.append(p["T"] * 1000)
        self.price.append(p["p"])
        self.qty.append(p["q"])
        self.side.append("sell" if p["m"] else "buy")
        self.type.append(p.get("X"))
        self.first.append(p["f"] if agg else None)
        self.last.append(p["l"] if agg else None)
        self.local.append(local)

    def __len__(self) -> int:
        return len(self.tid)

    def table(self) -> pa.Table:
        return pa.table(
            {
                "trade_id": pa.array(self.tid, pa.int64()),
                "ts": pa.array(self.ts, pa.int64()).cast(TS_TYPE),
                "price": pa.array(self.price, pa.string()),
                "quantity": pa.array(self.qty, pa.string()),
                "side": pa.array(self.side, pa.string()),
                "trade_type": pa.array(self.type, pa.string()),
                "first_trade_id": pa.array(self.first, pa.int64()),
                "last_trade_id": pa.array(self.last, pa.int64()),
                "local_ts": pa.array(self.local, pa.int64()).cast(TS_TYPE),
            }
        )


def _key_of(path: Path, payload: dict, opts: ImportOptions) -> SymbolKey:
    return resolve_key(
        path,
        opts,
        exchange="binance",
        market=binance_ws_market(payload),
        symbol=str(payload["s"]).upper(),
    )


def probe(path: Path, opts: ImportOptions) -> list[SymbolKey]:
    """Key of the first readable trade (within the first 200k lines), to fail before writing.

    Capture files say their symbol and market in every trade, so the first one is enough to
    know the import can proceed; an empty list means no trade was found that early.
    """
    stream, raw = _open(path)
    with raw, stream:
        for i, line in enumerate(stream):
            if i > 200_000:
                break
            if not _TRADE_MARK.search(line):
                continue
            try:
                _, _, payload = _parse(line)
            except _Rejected:
                continue
            return [_key_of(path, payload, opts)]
    return []


def read(path: Path, opts: ImportOptions) -> Iterator[SourceBatch]:
    """Stream the trades of a capture file as batches (one per symbol and id space).

    Raises:
        SourceError: the file cannot be decompressed or decoded (naming the file).
    """
    stream, raw = _open(path)
    accs: dict[tuple[SymbolKey, str], _Acc] = {}
    rejected: dict[SymbolKey | None, list[tuple[str, str]]] = {}
    skipped = 0
    last_key: SymbolKey | None = None
    pending = 0

    def flush(position: int) -> Iterator[SourceBatch]:
        nonlocal skipped, pending
        keys = {k for k, _ in accs} | {k for k in rejected if k is not None}
        if None in rejected:
            target = last_key or (sorted(keys)[0] if keys else None)
            if target is None:  # no readable trade yet: the options must name the symbol
                target = resolve_key(path, opts)
            rejected.setdefault(target, []).extend(rejected.pop(None))
            keys.add(target)
        first = True
        for (key, space), acc in accs.items():
            yield SourceBatch(
                key=key,
                id_space=space,
                table=acc.table(),
                quarantined=rejected.pop(key, []),
                skipped=skipped if first else 0,
                position=position,
            )
            first = False
        for owner, recs in rejected.items():
            # the None bucket was moved to a real key above (resolve_key raises, never None)
            assert owner is not None, "rejected lines without a symbol were given one"
            yield SourceBatch(
                key=owner,
                id_space="trade",
                table=_empty(),
                quarantined=recs,
                skipped=skipped if first else 0,
                position=position,
            )
            first = False
        if first and skipped and last_key is not None:
            yield SourceBatch(last_key, "trade", _empty(), skipped=skipped, position=position)
            first = False
        if not first:
            skipped = 0
        accs.clear()
        rejected.clear()
        pending = 0

    try:
        with raw, stream:
            for line in stream:
                line = line.rstrip("\n")
                if not _TRADE_MARK.search(line):
                    if line.strip():
                        skipped += 1
                    continue
                try:
                    event, local, payload = _parse(line)
                except _Rejected as exc:
                    m = _SYMBOL_MARK.search(line)
                    key = None
                    if m and last_key is not None:
                        try:
                            key = SymbolKey(last_key.exchange, last_key.market, m.group(1))
                        except ValueError:
                            key = None
                    rejected.setdefault(key or last_key, []).append((line, str(exc)))
                    pending += 1
                    continue
                key = _key_of(path, payload, opts)
                last_key = key
                space = "agg_trade" if event == "aggTrade" else "trade"
                acc = accs.get((key, space))
                if acc is None:
                    acc = accs[(key, space)] = _Acc()
                acc.add(event, local, payload)
                pending += 1
                if len(acc) >= opts.batch_rows:
                    yield from flush(raw.tell())
            yield from flush(raw.tell())
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise source_error(path, f"cannot read capture: {exc}") from exc


def _empty() -> pa.Table:
    return _Acc().table()
