"""Test data for the pattern detectors: real trades from the shared recordings -> closed candles.

The tests build the *continuous closed candle frame* (what the SQL candles hand to
indicators/FVG/zones/structure) straight from the raw files with polars, independently of
tapeflow's store. Prices stay exact (``Decimal(18, 8)`` parsed from the exchange's price strings).

Frame columns (sorted by ``open_time``): ``open_time`` Datetime(us, UTC), ``open/high/low/close``
Decimal(18, 8), ``volume/buy_volume/sell_volume`` Decimal(28, 8), ``trades`` Int64, ``closed``
Boolean. Empty intervals are filled with a flat candle at the previous close (volume 0) so the
series is continuous; the last interval, if the recording ends inside it, has ``closed=False``.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from pathlib import Path

import polars as pl

from tests.support.paths import FREQTRADE_JSON_GZ, HFT_DIR, TARDIS_CSV

PRICE = pl.Decimal(18, 8)
QTY = pl.Decimal(28, 8)


def _trades_frame(ts_ms_or_us: pl.Series, price: list[str], qty: list[str], buy: list[bool]):
    return pl.DataFrame(
        {
            "ts": ts_ms_or_us,
            "price": pl.Series(price).cast(PRICE),
            "quantity": pl.Series(qty).cast(QTY),
            "is_buy": buy,
        }
    ).sort("ts", maintain_order=True)


@cache
def hft_trades(*names: str) -> pl.DataFrame:
    """Raw ``@trade`` messages from hftbacktest captures (e.g. ``"usdm/btcusdt_20240808.gz"``)."""
    ts, price, qty, buy = [], [], [], []
    for name in names:
        with gzip.open(HFT_DIR / name, "rt") as fh:
            for line in fh:
                if "@trade" not in line:
                    continue
                data = json.loads(line.split(" ", 1)[1])["data"]
                if data.get("X", "MARKET") != "MARKET":
                    continue
                ts.append(data["T"] * 1000)
                price.append(data["p"])
                qty.append(data["q"])
                buy.append(not data["m"])  # m = buyer is maker -> taker sold
    return _trades_frame(pl.Series(ts).cast(pl.Datetime("us", "UTC")), price, qty, buy)


@cache
def tardis_trades() -> pl.DataFrame:
    """Binance USD-M BTCUSDT 2020-02-22 00:00-02:05 (Tardis CSV, µs timestamps, aggressor side)."""
    raw = pl.read_csv(TARDIS_CSV, schema_overrides={"price": pl.String, "amount": pl.String})
    return _trades_frame(
        raw["timestamp"].cast(pl.Datetime("us", "UTC")),
        raw["price"].to_list(),
        raw["amount"].to_list(),
        (raw["side"] == "buy").to_list(),
    )


@cache
def xrpeth_trades() -> pl.DataFrame:
    """Binance spot XRPETH aggTrades 2019-10-11 .. 10-13 (~2.5 days), exact price strings."""
    with gzip.open(FREQTRADE_JSON_GZ, "rt") as fh:
        rows = json.load(fh)
    info = [r["info"] for r in rows]
    return _trades_frame(
        pl.Series([i["T"] * 1000 for i in info]).cast(pl.Datetime("us", "UTC")),
        [i["p"] for i in info],
        [i["q"] for i in info],
        [not i["m"] for i in info],
    )


def candles_from_trades(trades: pl.DataFrame, every: str) -> pl.DataFrame:
    """Continuous closed OHLCV candles (see module docstring) from a trades frame."""
    zero = pl.lit(0).cast(QTY)
    bars = (
        trades.group_by_dynamic("ts", every=every, closed="left", label="left")
        .agg(
            open=pl.col("price").first(),
            high=pl.col("price").max(),
            low=pl.col("price").min(),
            close=pl.col("price").last(),
            volume=pl.col("quantity").sum(),
            buy_volume=pl.when(pl.col("is_buy")).then(pl.col("quantity")).otherwise(zero).sum(),
            sell_volume=pl.when(pl.col("is_buy")).then(zero).otherwise(pl.col("quantity")).sum(),
            trades=pl.len().cast(pl.Int64),
        )
        .rename({"ts": "open_time"})
    )
    full = (
        bars.upsample("open_time", every=every)
        .with_columns(pl.col("close").forward_fill())
        .with_columns(
            [pl.col(c).fill_null(pl.col("close")) for c in ("open", "high", "low")]
            + [pl.col(c).fill_null(zero) for c in ("volume", "buy_volume", "sell_volume")]
            + [pl.col("trades").fill_null(0)]
        )
    )
    last_trade = trades["ts"].max()
    closes_at = pl.col("open_time") + _period(every)
    return full.with_columns(closed=closes_at <= last_trade).select(
        "open_time",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "buy_volume",
        "sell_volume",
        "trades",
        "closed",
    )


def _period(every: str) -> timedelta:
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    return timedelta(**{units[every[-1]]: int(every[:-1])})


@cache
def tardis_candles(every: str = "1m") -> pl.DataFrame:
    """BTCUSDT USD-M candles from the Tardis recording (2h05m)."""
    return candles_from_trades(tardis_trades(), every)


@cache
def xrpeth_candles(every: str = "1m") -> pl.DataFrame:
    """XRPETH spot candles from the freqtrade aggTrades (~2.5 days, ~3,400 1m candles)."""
    return candles_from_trades(xrpeth_trades(), every)


@cache
def hft_candles(every: str, *names: str) -> pl.DataFrame:
    """Candles from one or more consecutive hftbacktest captures."""
    return candles_from_trades(hft_trades(*names), every)


def make_candles(
    ohlc: list[tuple[str | float, str | float, str | float, str | float]],
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    every: timedelta = timedelta(minutes=1),
) -> pl.DataFrame:
    """A closed candle frame from hand-written ``(open, high, low, close)`` rows (constructed
    cases for the pattern detectors); prices become Decimal(18, 8)."""
    for o, h, lo, c in ohlc:
        assert Decimal(str(lo)) <= min(Decimal(str(o)), Decimal(str(c))), (o, h, lo, c)
        assert Decimal(str(h)) >= max(Decimal(str(o)), Decimal(str(c))), (o, h, lo, c)
    cols = list(zip(*ohlc, strict=True)) if ohlc else [[], [], [], []]
    return pl.DataFrame(
        {
            "open_time": pl.Series(
                [start + i * every for i in range(len(ohlc))], dtype=pl.Datetime("us", "UTC")
            ),
            **{
                name: pl.Series([str(v) for v in col], dtype=pl.String).cast(PRICE)
                for name, col in zip(("open", "high", "low", "close"), cols, strict=True)
            },
            "closed": [True] * len(ohlc),
        }
    )


def noise(n: int, mid: float = 100.0) -> list[tuple[float, float, float, float]]:
    """``n`` alternating bull/bear candles of range 1.0 and body 0.6 around ``mid`` (TR = 1,
    so ATR(14) settles at exactly 1.0): a quiet, non-base background for constructed cases."""
    rows = []
    for i in range(n):
        lo, hi = round(mid - 0.5, 8), round(mid + 0.5, 8)
        a, b = round(mid - 0.3, 8), round(mid + 0.3, 8)
        rows.append((a, hi, lo, b) if i % 2 == 0 else (b, hi, lo, a))
    return rows


def build_store(root: Path) -> Path:
    """A tick store at ``root`` with the Tardis BTCUSDT (USD-M) and freqtrade XRPETH (spot)
    recordings imported through :func:`tapeflow.sources.import_paths`; closed on return."""
    from tapeflow.sources import import_paths
    from tapeflow.store import TickStore

    store = TickStore(root)
    try:
        import_paths(store, [TARDIS_CSV, FREQTRADE_JSON_GZ], progress=False)
    finally:
        store.close()
    return root
