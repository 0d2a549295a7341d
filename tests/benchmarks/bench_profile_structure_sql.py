"""Benchmark of the market-profile and swing-structure SQL definitions (on demand).

    .venv/bin/python tests/benchmarks/bench_profile_structure_sql.py

Data: the shared recordings of Binance spot BTCUSDT (2024-08-08 23:54 .. 08-09 00:06 at a
0.01 bucket: ~30,000 levels) and spot XRPETH (2019-10-11 .. 10-13 aggregate trades, at a
0.00000001 bucket: ~14,600 levels; 3,559 one-minute candles), imported into a temporary
store. Best of 5, measured in this run:

* profile: ``ta.market_profile`` (the SQL definition: dense levels, POC, the CBOT value-area
  walk as a recursive CTE, shape) against the baseline, the traded levels read through SQL
  (``profile_levels_at``) and the value-area walk done in Python
  (``tests/analytics/profile_reference.py``, the way the profile was computed before);
* structure: ``SELECT * FROM order_blocks(tf)`` through ``ta.sql`` (swings, breaks, blocks
  and mitigation in SQL, continuous candles included) against the baseline ``ta.order_blocks``
  (continuous candles through the API, then the Python tracker).

Printed: milliseconds and the ratio SQL / baseline. No goal: the SQL is the definition
and the notebook query; the live strategy runs the tracker one candle at a time.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tapeflow  # noqa: E402
from tapeflow.analytics.profile import profile_levels_query  # noqa: E402
from tapeflow.sources import import_paths  # noqa: E402
from tapeflow.store import TickStore  # noqa: E402
from tests.analytics.profile_reference import (  # noqa: E402
    classify_shape,
    point_of_control,
    value_area,
)
from tests.support.paths import HFT_DIR, MARKET_DIR  # noqa: E402

PROFILES = [
    ("binance/spot/BTCUSDT", datetime(2024, 8, 8, 23, 54), datetime(2024, 8, 9, 0, 6), "0.01"),
    ("binance/spot/XRPETH", datetime(2019, 10, 11), datetime(2019, 10, 14), "0.00000001"),
]


def best(fn, repeat: int = 5) -> float:
    """Fastest of ``repeat`` calls, seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def python_walk(ta, symbol: str, start: datetime, end: datetime, bucket: str) -> str:
    """The baseline: traded levels from SQL, the dense volumes, POC (ties by index only: a
    timing baseline), value-area walk and shape in Python."""
    raw = ta._run(ta.resolve(symbol), profile_levels_query(start, end, Decimal(bucket)))
    step = int(Decimal(bucket).scaleb(8))
    traded = dict(zip(raw["level_units"], raw["volume_units"], strict=True))
    first, last = min(traded), max(traded)
    vols = [int(traded.get(u, 0)) for u in range(first, last + step, step)]
    poc = point_of_control(vols, lambda i: i)
    lo, hi = value_area(vols, poc, Fraction(7, 10))
    return classify_shape(vols, lo, hi)


def main() -> None:
    print("load average (1, 5, 15 min) at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        with TickStore(root) as store:
            paths = [HFT_DIR / "spot", MARKET_DIR / "freqtrade_freqtrade"]
            import_paths(store, paths, exchange="binance", market="spot", progress=False)
        with tapeflow.open(root) as ta:
            print(f"{'profile':>22} {'levels':>7} {'SQL ms':>8} {'Python ms':>10} {'ratio':>6}")
            for symbol, start, end, bucket in PROFILES:
                levels = ta.market_profile(symbol, start, end, bucket=bucket).summary.levels
                sql = best(partial(ta.market_profile, symbol, start, end, bucket=bucket))
                py = best(partial(python_walk, ta, symbol, start, end, bucket))
                print(
                    f"{symbol:>22} {levels:>7} {sql * 1e3:>8.1f} {py * 1e3:>10.1f} {sql / py:>6.2f}"
                )
            symbol = "binance/spot/XRPETH"
            print(f"{'order blocks':>22} {'tf':>7} {'SQL ms':>8} {'tracker ms':>10} {'ratio':>6}")
            for tf in ("1m", "5m", "15m"):
                query = f"SELECT * FROM order_blocks('{tf}')"
                sql = best(partial(ta.sql, symbol, query))
                py = best(partial(ta.order_blocks, symbol, tf))
                print(f"{symbol:>22} {tf:>7} {sql * 1e3:>8.1f} {py * 1e3:>10.1f} {sql / py:>6.2f}")


if __name__ == "__main__":
    main()
