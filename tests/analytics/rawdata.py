"""Real trades straight from the hftbacktest captures, parsed with plain ``json``, and an
independent pure-Python (``Decimal``) computation of the candle and flow figures — the
reference the SQL is checked against. Nothing here imports tapeflow's analytics."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from tapeflow.store import RAW_TICK_SCHEMA

COLUMNS = ("trade_id", "ts", "price", "quantity", "side", "trade_type")


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade as the exchange sent it (``ts`` aware UTC, ms precision)."""

    trade_id: int
    ts: datetime
    price: Decimal
    quantity: Decimal
    side: str  # aggressor: 'sell' when m (isBuyerMaker) is true
    trade_type: str | None


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


# -- the reference computation ------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UNIT = Decimal("0.00000001")


def counted(trade: Trade) -> bool:
    """Binance klines count MARKET trades only (no type given: counted)."""
    return trade.trade_type in (None, "MARKET")


def bucket_start(ts: datetime, width: timedelta) -> datetime:
    """Start of the epoch-aligned bucket of ``width`` holding ``ts``."""
    return EPOCH + ((ts - EPOCH) // width) * width


def ratio8(num: Decimal, den: Decimal | int) -> Decimal:
    """``num / den`` rounded half up to 8 decimals (positive values), computed
    with 60 significant digits so the rounding sees the exact quotient."""
    with localcontext() as ctx:
        ctx.prec = 60
        return (num / den).quantize(UNIT, rounding=ROUND_HALF_UP)


def reference_bar(trades: list[Trade]) -> dict:
    """Bar figures of ``trades`` (already filtered and non-empty), by trade id order."""
    by_id = sorted(trades, key=lambda t: t.trade_id)
    buys = [t for t in by_id if t.side == "buy"]
    sells = [t for t in by_id if t.side == "sell"]
    volume = sum((t.quantity for t in by_id), Decimal(0))
    quote = sum((t.price * t.quantity for t in by_id), Decimal(0))
    buy_volume = sum((t.quantity for t in buys), Decimal(0))
    sell_volume = sum((t.quantity for t in sells), Decimal(0))
    return {
        "open": by_id[0].price,
        "high": max(t.price for t in by_id),
        "low": min(t.price for t in by_id),
        "close": by_id[-1].price,
        "volume": volume,
        "quote_volume": quote,
        "trades": len(by_id),
        "buy_volume": buy_volume,
        "buy_quote_volume": sum((t.price * t.quantity for t in buys), Decimal(0)),
        "sell_volume": sell_volume,
        "sell_quote_volume": sum((t.price * t.quantity for t in sells), Decimal(0)),
        "buy_trades": len(buys),
        "sell_trades": len(sells),
        "vwap": ratio8(quote, volume),
        "first_trade_id": by_id[0].trade_id,
        "last_trade_id": by_id[-1].trade_id,
        "delta": buy_volume - sell_volume,
        "avg_buy_size": ratio8(buy_volume, len(buys)) if buys else None,
        "avg_sell_size": ratio8(sell_volume, len(sells)) if sells else None,
    }


def reference_candles(trades: list[Trade] | tuple[Trade, ...], width: timedelta) -> list[dict]:
    """Sparse candles of ``width`` from raw trades, each with ``open_time``, ``close_time``
    and ``closed`` (some trade, of any type, at or after close_time), sorted."""
    groups: dict[datetime, list[Trade]] = {}
    for t in trades:
        if counted(t):
            groups.setdefault(bucket_start(t.ts, width), []).append(t)
    last_ts = max(t.ts for t in trades)
    out = []
    for start in sorted(groups):
        bar = reference_bar(groups[start])
        bar.update(open_time=start, close_time=start + width, closed=start + width <= last_ts)
        out.append(bar)
    return out
