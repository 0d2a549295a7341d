"""Benchmark of the analytics SQL on >= 10M real ticks (run on demand).

    .venv/bin/python tests/benchmarks/bench_analytics.py [--copies 470] [--root DIR]

Data: the Binance USD-M BTCUSDT raw-trade capture of 2024-08-08 (hftbacktest, 21,313 trades
over 5m44s) replicated ``copies`` times into ONE symbol database, each copy shifted by 6
minutes and by 21,313 trade ids (so ids stay contiguous and times increase): 470 copies =
10.0M ticks over 47 hours (~5.1M trades per UTC day — a busy BTC day).

Printed side by side, measured in this run:

1. 1m candles over the whole range: the SQL definition from ticks (``candles_1m_ticks``) and
   the API reading the cache, vs polars ``group_by_dynamic`` on the same ticks already in
   memory (Decimal columns) and pandas ``resample`` (float64 — pandas has no fast exact
   decimal), with ratios. Goals: ours / polars <= 1.0, pandas / ours >= 5.
2. The last 200 closed 1m candles of the symbol via the API (continuous), p50/p99 over 1000
   calls. Goal: p99 <= 2 ms.
3. A one-day market profile (levels + POC/VA/shape) via the API, p50/p99. Goal: <= 50 ms.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tapeflow.analytics.api import Analytics  # noqa: E402
from tapeflow.analytics.candles import refresh_candles  # noqa: E402
from tapeflow.model.symbols import SymbolKey  # noqa: E402
from tapeflow.store import TickStore  # noqa: E402
from tests.analytics.rawdata import capture_table, replicate  # noqa: E402
from tests.support.paths import HFT_DIR  # noqa: E402

KEY = SymbolKey("binance", "usdm", "BTCUSDT")
SOURCE = HFT_DIR / "usdm" / "btcusdt_20240808.gz"
SHIFT = timedelta(minutes=6)


def build(root: Path, copies: int) -> int:
    """Create (or reuse) the benchmark store; returns the tick count."""
    base = capture_table(SOURCE)
    n = base.num_rows
    want = n * copies
    if root.exists():
        with TickStore(root) as store, store.connection(KEY) as con:
            have = con.execute("SELECT count(*) FROM ticks").fetchall()[0][0]
        if have == want:
            return have
        shutil.rmtree(root)
    t0 = time.perf_counter()
    with TickStore(root, memory_limit="4GB") as store:
        store.set_tick_size(KEY, "0.1")
        batch: list[pa.Table] = []
        for k in range(copies):
            batch.append(replicate(base, k, SHIFT))
            if len(batch) == 50 or k == copies - 1:
                store.append(KEY, pa.concat_tables(batch), id_space="trade", source="bench")
                batch = []
        with store.connection(KEY) as con:
            t1 = time.perf_counter()
            refresh_candles(con)
            refresh_s = time.perf_counter() - t1
    print(
        f"built {want:,} ticks in {time.perf_counter() - t0:.1f} s "
        f"(first cache refresh {refresh_s:.2f} s)"
    )
    return want


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def polars_candles(ticks: pl.DataFrame) -> pl.DataFrame:
    buy = pl.col("side") == "buy"
    return (
        ticks.filter(pl.col("trade_type").is_null() | (pl.col("trade_type") == "MARKET"))
        .with_columns(qv=pl.col("price") * pl.col("quantity"))
        .group_by_dynamic("ts", every="1m", closed="left", label="left")
        .agg(
            open=pl.col("price").first(),
            high=pl.col("price").max(),
            low=pl.col("price").min(),
            close=pl.col("price").last(),
            volume=pl.col("quantity").sum(),
            quote_volume=pl.col("qv").sum(),
            trades=pl.len(),
            buy_volume=pl.col("quantity").filter(buy).sum(),
            buy_quote_volume=pl.col("qv").filter(buy).sum(),
            buy_trades=buy.sum(),
        )
    )


def pandas_candles(frame):
    import pandas as pd

    frame = frame.set_index("ts")
    ohlc = frame["price"].resample("1min").ohlc()
    buy = frame["side"] == "buy"
    qv = frame["price"] * frame["quantity"]
    sums = pd.DataFrame(
        {
            "volume": frame["quantity"],
            "quote_volume": qv,
            "buy_volume": frame["quantity"].where(buy, 0.0),
            "buy_quote_volume": qv.where(buy, 0.0),
            "buy_trades": buy.astype("int64"),
        }
    ).resample("1min")
    return ohlc.join(sums.sum()).join(frame["price"].resample("1min").count().rename("trades"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--copies", type=int, default=470)
    ap.add_argument("--root", type=Path, default=Path("/tmp/tapeflow_bench_analytics"))
    ap.add_argument("--calls", type=int, default=1000)
    args = ap.parse_args()
    n = build(args.root, args.copies)
    print("load average (1, 5, 15 min) at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))

    store = TickStore(args.root, read_only=True, memory_limit="4GB")
    ta = Analytics.from_store(store)
    with store.connection(KEY) as con:
        ticks = con.sql(
            "SELECT trade_id, ts, price, quantity, side, trade_type FROM ticks ORDER BY trade_id"
        ).pl()
        first, last = con.execute("SELECT min(ts), max(ts) FROM ticks").fetchall()[0]
    print(f"{n:,} ticks, {first} .. {last} UTC\n")

    # 1. whole-range 1m candles -------------------------------------------------------
    definition = timed(lambda: ta.sql(KEY, "SELECT * FROM candles_1m_ticks"), 3)
    cached = timed(lambda: ta.candles(KEY, "1m"), 3)
    polars_t = timed(lambda: polars_candles(ticks), 3)
    pdf = ticks.select(
        "ts",
        pl.col("price").cast(pl.Float64),
        pl.col("quantity").cast(pl.Float64),
        "side",
    ).to_pandas()
    pandas_t = timed(lambda: pandas_candles(pdf), 3)
    rows = ta.candles(KEY, "1m").height
    assert polars_candles(ticks).height == rows, "baselines disagree on the candle count"
    best = {k: min(v) for k, v in {
        "definition": definition, "cache": cached, "polars": polars_t, "pandas": pandas_t
    }.items()}  # fmt: skip
    print(f"1m candles over the whole range ({rows:,} candles), best of 3:")
    print(f"  tapeflow SQL definition (from ticks) {best['definition'] * 1e3:9.1f} ms")
    print(f"  tapeflow API (cache + live tail)     {best['cache'] * 1e3:9.1f} ms")
    print(f"  polars group_by_dynamic (in memory)  {best['polars'] * 1e3:9.1f} ms")
    print(f"  pandas resample (float64, in memory) {best['pandas'] * 1e3:9.1f} ms")
    print(
        f"  ratio definition/polars {best['definition'] / best['polars']:.2f} (goal <= 1.0), "
        f"cache/polars {best['cache'] / best['polars']:.3f}; "
        f"pandas/definition {best['pandas'] / best['definition']:.1f}x (goal >= 5x), "
        f"pandas/cache {best['pandas'] / best['cache']:.0f}x\n"
    )

    # 2. last 200 closed 1m candles -------------------------------------------------------
    def last200() -> None:
        frame = ta.candles(KEY, "1m", continuous=True, closed_only=True, last=200)
        assert frame.height == 200

    def floor() -> None:
        ta.sql(KEY, "SELECT 1 AS one")

    last200()
    lat = timed(last200, args.calls)
    base = timed(floor, args.calls)
    print(
        f"last 200 closed 1m candles (API, continuous), {args.calls} calls: "
        f"p50 {pct(lat, 50) * 1e3:.2f} ms, p99 {pct(lat, 99) * 1e3:.2f} ms (goal p99 <= 2 ms); "
        f"baseline 'SELECT 1' through the same API: p50 {pct(base, 50) * 1e3:.2f} ms, "
        f"p99 {pct(base, 99) * 1e3:.2f} ms"
    )

    # 3. one-day market profile -----------------------------------------------------------
    day = datetime(first.year, first.month, first.day, tzinfo=UTC) + timedelta(days=1)
    profile = ta.market_profile(KEY, day, day + timedelta(days=1))
    calls = max(20, args.calls // 20)
    prof = timed(lambda: ta.market_profile(KEY, day, day + timedelta(days=1)), calls)
    s = profile.summary
    print(
        f"market profile {day:%Y-%m-%d} ({s.trades:,} trades, {s.levels:,} levels of "
        f"{s.bucket}; POC {s.poc}, VA {s.val}..{s.vah}, shape {s.shape}), {calls} calls: "
        f"p50 {pct(prof, 50) * 1e3:.1f} ms, p99 {pct(prof, 99) * 1e3:.1f} ms (goal <= 50 ms)"
    )
    print("load average (1, 5, 15 min) at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    store.close()


if __name__ == "__main__":
    main()
