"""ccxt trade lists: a JSON array (optionally gzip) of ccxt unified trade dicts.

Each element: ``{"id", "timestamp" (ms), "symbol" ("XRP/ETH", "BTC/USDT:USDT"), "side"
(taker side), "price", "amount" (floats), "info": <the exchange's raw record>, ...}``
(freqtrade's ``*-trades.json.gz`` files are such lists).

Preferred source of each row is ``info`` when it is a Binance record, because its numbers are
the exchange's exact strings:

* aggTrade ``{a, p, q, f, l, T, m[, M]}`` → id space ``agg_trade``, ``first/last_trade_id``
  from ``f``/``l``;
* raw trade ``{id, price, qty, time, isBuyerMaker[, isBestMatch]}`` → id space ``trade``.

Without such ``info`` the unified fields are used (floats → decimals by
:mod:`tapeflow.sources.decimals`), and the id space must come from the options.
``m`` / ``isBuyerMaker`` true → the aggressor sold.

Unified symbols map to native ones: ``XRP/ETH`` → ``XRPETH`` spot; ``BTC/USDT:USDT`` →
``BTCUSDT`` linear (Binance ``usdm``); ``BTC/USD:BTC`` → ``BTCUSD_PERP`` inverse (Binance
``coinm``); a ``-YYMMDD`` expiry becomes ``_YYMMDD``. Binance-shaped ``info`` implies the
exchange ``binance``; otherwise it comes from ``--exchange``.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources.decimals import floats_to_decimal_strings
from tapeflow.sources.epoch import TS_TYPE
from tapeflow.sources.identity import resolve_key
from tapeflow.sources.model import ImportOptions, SourceBatch, SourceError, source_error

_AGG_KEYS = frozenset("apqflTm")
_RAW_KEYS = frozenset({"id", "price", "qty", "time", "isBuyerMaker"})
_UNIFIED = re.compile(
    r"^(?P<base>[A-Z0-9]+)/(?P<quote>[A-Z0-9]+)(?::(?P<settle>[A-Z0-9]+)(?:-(?P<expiry>\d{6}))?)?$"
)


def looks_like(head: bytes) -> bool:
    """Whether the first decompressed bytes open a JSON array of objects."""
    text = head.lstrip()
    return text.startswith(b"[") and (text[1:].lstrip()[:1] in (b"{", b"]"))


def native_symbol(unified: str, exchange: str | None) -> tuple[str, str]:
    """(native symbol, market) of a ccxt unified symbol for ``exchange`` (binance or bybit).

    Raises:
        ValueError: the symbol is not in ccxt's unified form.
    """
    m = _UNIFIED.match(unified.upper())
    if not m:
        raise ValueError(f"not a ccxt unified symbol: {unified!r}")
    base, quote, settle, expiry = m.group("base", "quote", "settle", "expiry")
    pair = base + quote
    if settle is None:
        return pair, "spot"
    inverse = settle == base
    if exchange == "bybit":
        return pair, "inverse" if inverse else "linear"
    if inverse:
        return f"{pair}_{expiry or 'PERP'}", "coinm"
    return (f"{pair}_{expiry}" if expiry else pair), "usdm"


def _load(path: Path) -> list[dict[str, Any]]:
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as f:
            data = json.load(f)
    except (OSError, EOFError, ValueError) as exc:
        raise source_error(path, f"cannot read ccxt JSON: {exc}") from exc
    if not isinstance(data, list):
        raise source_error(path, "expected a JSON array of ccxt trades")
    return data


def _shape(trade: Any) -> str:
    info = trade.get("info") if isinstance(trade, dict) else None
    if isinstance(info, dict):
        if info.keys() >= _AGG_KEYS:
            return "agg_trade"
        if info.keys() >= _RAW_KEYS:
            return "trade"
    return "unified"


def _key(path: Path, trade: dict, shape: str, opts: ImportOptions) -> SymbolKey:
    exchange = "binance" if shape != "unified" else None
    symbol = market = None
    unified = trade.get("symbol")
    if isinstance(unified, str):
        try:
            symbol, market = native_symbol(unified, exchange or opts.exchange)
        except ValueError as exc:
            raise source_error(path, str(exc)) from exc
    return resolve_key(path, opts, exchange=exchange, market=market, symbol=symbol)


def probe(path: Path, opts: ImportOptions) -> list[SymbolKey]:
    """Keys of the trades in the file (the whole list is read; these files are small)."""
    data = _load(path)
    keys: list[SymbolKey] = []
    for trade in data[:1000]:
        if not isinstance(trade, dict):
            continue
        shape = _shape(trade)
        if shape == "unified" and opts.id_space is None:
            raise source_error(
                path, "ccxt trades without Binance 'info': the id space is unknown; pass id_space"
            )
        key = _key(path, trade, shape, opts)
        if key not in keys:
            keys.append(key)
    if not keys:
        raise source_error(path, "no ccxt trade in the file")
    return keys


def read(path: Path, opts: ImportOptions) -> Iterator[SourceBatch]:
    """Batches of the file's trades, grouped by (symbol, id space) in file order.

    Raises:
        SourceError: the file is not a JSON array of trades.
    """
    data = _load(path)
    size = path.stat().st_size
    groups: dict[tuple[SymbolKey, str], list[tuple[dict, str]]] = {}
    rejected: list[tuple[str, str]] = []
    key_cache: dict[tuple[Any, str], SymbolKey] = {}
    for trade in data:
        if not isinstance(trade, dict):
            rejected.append((json.dumps(trade), "not a JSON object"))
            continue
        shape = _shape(trade)
        cache_key = (trade.get("symbol"), shape)
        key = key_cache.get(cache_key)
        if key is None:
            key = key_cache[cache_key] = _key(path, trade, shape, opts)
        space = shape if shape != "unified" else opts.id_space
        if space is None:
            raise source_error(path, "ccxt trades without Binance 'info': pass id_space")
        groups.setdefault((key, space), []).append((trade, shape))
    first_key = next(iter(groups))[0] if groups else None
    if rejected and first_key is None:
        raise source_error(path, "no readable ccxt trade in the file")
    for (key, space), rows in groups.items():
        for offset in range(0, len(rows), opts.batch_rows):
            chunk = rows[offset : offset + opts.batch_rows]
            table, bad = _to_ticks(chunk)
            if key == first_key and offset == 0:
                bad = rejected + bad
            yield SourceBatch(key=key, id_space=space, table=table, quarantined=bad, position=size)


#: One trade as read: trade id, time (ms), price and quantity as exchange text (Binance
#: ``info``) or as floats (unified ccxt fields), aggressor side, first/last raw trade id.
_Row = tuple[
    int, int, str | None, str | None, float | None, float | None, str | None, int | None, int | None
]


def _to_ticks(rows: list[tuple[dict, str]]) -> tuple[pa.Table, list[tuple[str, str]]]:
    tid: list[int] = []
    ts: list[int] = []
    price: list[str | None] = []
    qty: list[str | None] = []
    fprice: list[float | None] = []
    fqty: list[float | None] = []
    side: list[str | None] = []
    first: list[int | None] = []
    last: list[int | None] = []
    bad: list[tuple[str, str]] = []
    row: _Row
    for trade, shape in rows:
        try:
            if shape == "agg_trade":
                i = trade["info"]
                row = (
                    int(i["a"]),
                    int(i["T"]),
                    str(i["p"]),
                    str(i["q"]),
                    None,
                    None,
                    "sell" if i["m"] else "buy",
                    int(i["f"]),
                    int(i["l"]),
                )
            elif shape == "trade":
                i = trade["info"]
                row = (
                    int(i["id"]),
                    int(i["time"]),
                    str(i["price"]),
                    str(i["qty"]),
                    None,
                    None,
                    "sell" if i["isBuyerMaker"] else "buy",
                    None,
                    None,
                )
            else:
                row = (
                    int(trade["id"]),
                    int(trade["timestamp"]),
                    None,
                    None,
                    _float(trade.get("price")),
                    _float(trade.get("amount")),
                    trade.get("side"),
                    None,
                    None,
                )
        except (KeyError, TypeError, ValueError) as exc:
            bad.append((json.dumps(trade, default=str), f"unreadable ccxt trade: {exc!r}"))
            continue
        tid.append(row[0])
        ts.append(row[1])
        price.append(row[2])
        qty.append(row[3])
        fprice.append(row[4])
        fqty.append(row[5])
        side.append(row[6])
        first.append(row[7])
        last.append(row[8])
    price_arr = pa.array(price, pa.string())
    qty_arr = pa.array(qty, pa.string())
    if any(p is None for p in price):
        price_arr = pc.coalesce(
            price_arr, floats_to_decimal_strings(pa.array(fprice, pa.float64()))
        )
        qty_arr = pc.coalesce(qty_arr, floats_to_decimal_strings(pa.array(fqty, pa.float64())))
    table = pa.table(
        {
            "trade_id": pa.array(tid, pa.int64()),
            "ts": pc.multiply(pa.array(ts, pa.int64()), 1000).cast(TS_TYPE),
            "price": price_arr,
            "quantity": qty_arr,
            "side": pa.array(side, pa.string()),
            "first_trade_id": pa.array(first, pa.int64()),
            "last_trade_id": pa.array(last, pa.int64()),
        }
    )
    return table, bad


def _float(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    raise SourceError(f"price/amount {value!r} is not a number")
