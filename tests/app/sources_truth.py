"""Trade ids per symbol read straight from the shared recordings, independently of
tapeflow's readers (plain gzip/json/csv/pyarrow), for end-to-end checks."""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pyarrow.parquet as pq

from tests.support.paths import (
    FREQTRADE_PARQUET,
    HFT_DIR,
    NAUTILUS_PARQUET,
    TARDIS_CSV,
)
from tests.support.reference import Trade, ms_time, reference_candles


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
    spot) of one capture file, by :func:`tests.support.reference.reference_candles`."""
    trades = [
        Trade(
            trade_id=int(t["t"]),
            ts=ms_time(t["T"]),
            price=Decimal(t["p"]),
            quantity=Decimal(t["q"]),
            side="sell" if t["m"] else "buy",
            trade_type=t.get("X", "MARKET") if market == "usdm" else None,
        )
        for t in capture_trades(path)
    ]
    return {
        int(c["open_time"].timestamp()) * 1000: (
            c["open"],
            c["high"],
            c["low"],
            c["close"],
            c["volume"],
            c["trades"],
        )
        for c in (reference_candles(trades, timedelta(minutes=1)) if trades else [])
    }
