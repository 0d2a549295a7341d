"""Real trades straight from the hftbacktest captures, parsed with plain ``json`` into the
reference's :class:`~tests.support.reference.Trade`, and as store tables. Nothing here
imports tapeflow's analytics."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from tapeflow.store import RAW_TICK_SCHEMA
from tests.support.reference import Trade

COLUMNS = ("trade_id", "ts", "price", "quantity", "side", "trade_type")


@cache
def capture_trades(path: Path) -> tuple[Trade, ...]:
    """The ``@trade`` messages of one capture, in file order."""
    out = []
    with gzip.open(path, "rt") as fh:
        for line in fh:
            if "@trade" not in line:
                continue
            data = json.loads(line.partition(" ")[2])["data"]
            out.append(
                Trade(
                    trade_id=data["t"],
                    ts=datetime.fromtimestamp(data["T"] / 1000, UTC),
                    price=Decimal(data["p"]),
                    quantity=Decimal(data["q"]),
                    side="sell" if data["m"] else "buy",
                    trade_type=data.get("X"),
                )
            )
    return tuple(out)


@cache
def aggtrade_json_trades(path: Path) -> tuple[Trade, ...]:
    """Aggregate trades from a freqtrade ``*-trades.json.gz`` (ccxt dicts whose ``info`` is
    the raw Binance aggTrade: ``a`` id, ``p``/``q`` exact strings, ``T`` ms, ``m``)."""
    with gzip.open(path, "rt") as fh:
        rows = json.load(fh)
    return tuple(
        Trade(
            trade_id=r["info"]["a"],
            ts=datetime.fromtimestamp(r["info"]["T"] / 1000, UTC),
            price=Decimal(r["info"]["p"]),
            quantity=Decimal(r["info"]["q"]),
            side="sell" if r["info"]["m"] else "buy",
            trade_type=None,
        )
        for r in rows
    )


def trades_table(trades: tuple[Trade, ...] | list[Trade]) -> pa.Table:
    """Trades as a :data:`RAW_TICK_SCHEMA` table (exact decimal strings)."""
    return pa.table(
        {
            "trade_id": pa.array([t.trade_id for t in trades], pa.int64()),
            "ts": pa.array([t.ts for t in trades], pa.timestamp("us", tz="UTC")),
            "price": pa.array([str(t.price) for t in trades], pa.string()),
            "quantity": pa.array([str(t.quantity) for t in trades], pa.string()),
            "side": pa.array([t.side for t in trades], pa.string()),
            "trade_type": pa.array([t.trade_type for t in trades], pa.string()),
        },
        schema=pa.schema([RAW_TICK_SCHEMA.field(c) for c in COLUMNS]),
    )


def capture_table(path: Path) -> pa.Table:
    """:func:`trades_table` of a capture file."""
    return trades_table(capture_trades(path))


def replicate(base: pa.Table, copy: int, shift: timedelta) -> pa.Table:
    """Copy number ``copy`` of a trades table: ids shifted by ``copy * rows`` (so they stay
    contiguous) and times by ``copy * shift``."""
    n = base.num_rows
    ts_us = pc.add(base.column("ts").cast(pa.int64()), copy * (shift // timedelta(microseconds=1)))
    return base.set_column(0, "trade_id", pc.add(base.column("trade_id"), copy * n)).set_column(
        1, "ts", ts_us.cast(pa.timestamp("us", tz="UTC"))
    )
