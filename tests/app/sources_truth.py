"""Trade ids per symbol read straight from the shared recordings, independently of
tapeflow's readers (plain gzip/json/csv/pyarrow), for end-to-end checks."""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from decimal import Decimal

import pyarrow.parquet as pq

from tests.support.paths import (
    FREQTRADE_PARQUET,
    HFT_DIR,
    NAUTILUS_PARQUET,
    TARDIS_CSV,
)


def capture_trades(path) -> list[dict]:
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            data = json.loads(line.partition(" ")[2]).get("data", {})
            if isinstance(data, dict) and data.get("e") == "trade":
                out.append(data)
    return out


def market_of(folder: str) -> str:
    return {"spot": "spot", "usdm": "usdm", "cm": "coinm"}[folder]


def capture_ids(pattern: str = "*/*.gz") -> dict[str, set[int]]:
    """``"binance/usdm/BTCUSDT" -> {trade ids}`` of the hftbacktest captures matching
    ``pattern`` (relative to its examples folder)."""
    ids: dict[str, set[int]] = defaultdict(set)
    for path in sorted(HFT_DIR.glob(pattern)):
        for t in capture_trades(path):
            ids[f"binance/{market_of(path.parent.name)}/{t['s']}"].add(int(t["t"]))
    return ids


def ids_by_symbol() -> dict[str, set[int]]:
    """``"binance/usdm/BTCUSDT" -> {trade ids}`` over every recording."""
    ids = capture_ids()
    with open(TARDIS_CSV) as fh:
        for row in csv.DictReader(fh):
            ids[f"binance/usdm/{row['symbol']}"].add(int(row["id"]))
    ids["binance/spot/BTCUSDT"].update(pq.read_table(NAUTILUS_PARQUET)["trade_id"].to_pylist())
    ids["binance/spot/XRPETH"].update(
        int(i) for i in pq.read_table(FREQTRADE_PARQUET)["id"].to_pylist()
    )
    return dict(ids)


def one_minute_candles(path, market: str) -> dict:
    """{minute_ms: (open, high, low, close, volume, trades)} of X=MARKET trades (or all on
    spot), computed with Decimal from one capture file."""
    out: dict[int, list] = {}
    for t in sorted(capture_trades(path), key=lambda t: t["t"]):
        if market == "usdm" and t.get("X", "MARKET") != "MARKET":
            continue
        minute = t["T"] // 60_000 * 60_000
        p, q = Decimal(t["p"]), Decimal(t["q"])
        c = out.get(minute)
        if c is None:
            out[minute] = [p, p, p, p, q, 1]
        else:
            c[1], c[2], c[3] = max(c[1], p), min(c[2], p), p
            c[4] += q
            c[5] += 1
    return {m: tuple(v) for m, v in out.items()}
