"""The tests' one reference computation of candles and order flow: pure Python over
``Decimal``, independent of tapeflow (nothing here imports it), from trades as the exchange
sent them. The store's SQL candles, the ingest and replay runs and the wheel smoke test are
all checked against :func:`reference_candles`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade as the exchange sent it (``ts`` aware UTC, ms precision)."""

    trade_id: int
    ts: datetime
    price: Decimal
    quantity: Decimal
    side: str  # aggressor: 'sell' when m (isBuyerMaker) is true
    trade_type: str | None


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


def ms_time(ms: int) -> datetime:
    """Aware UTC time of ``ms`` milliseconds since the Unix epoch (exact)."""
    return EPOCH + timedelta(milliseconds=ms)
