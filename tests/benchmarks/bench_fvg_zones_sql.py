"""Benchmark of the FVG and zone SQL definitions against the incremental trackers (on demand).

    .venv/bin/python tests/benchmarks/bench_fvg_zones_sql.py

Data: the Binance spot XRPETH aggregate trades of 2019-10-11 .. 10-13 (freqtrade's
recording, 12,477 trades, 3,559 one-minute candles: the longest recording we hold), imported
into a temporary store. For 1m, 5m and 15m, best of 5, measured in this run:

* ``SELECT * FROM fvgs(tf)`` / ``zones(tf)`` through ``ta.sql`` (the SQL definition, which
  also builds the continuous candles and ATR), and
* ``ta.fvgs`` / ``ta.zones`` (the continuous candles read through the API, then the Python
  tracker run over them),

printed with the ratio SQL / tracker (the baseline). No goal: the live strategy runs the
trackers one candle at a time; the SQL is the definition and the notebook query.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import tapeflow  # noqa: E402
from tapeflow.sources import import_paths  # noqa: E402
from tapeflow.store import TickStore  # noqa: E402
from tests.support.paths import FREQTRADE_JSON_GZ  # noqa: E402

SYMBOL = "binance/spot/XRPETH"


def best(fn, repeat: int = 5) -> float:
    """Fastest of ``repeat`` calls, seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    print("load average (1, 5, 15 min) at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        with TickStore(root) as store:
            import_paths(
                store, [FREQTRADE_JSON_GZ], exchange="binance", market="spot", progress=False
            )
        with tapeflow.open(root) as ta:
            print(f"{'':>10} {'tf':>4} {'rows':>6} {'SQL ms':>9} {'tracker ms':>11} {'ratio':>6}")
            for kind in ("fvgs", "zones"):
                for tf in ("1m", "5m", "15m"):
                    rows = ta.sql(SYMBOL, f"SELECT count(*) AS n FROM {kind}('{tf}')")["n"][0]
                    query = f"SELECT * FROM {kind}('{tf}')"
                    sql = best(partial(ta.sql, SYMBOL, query))
                    tracker = best(partial(getattr(ta, kind), SYMBOL, tf))
                    print(
                        f"{kind:>10} {tf:>4} {rows:>6} {sql * 1e3:>9.1f} {tracker * 1e3:>11.1f} "
                        f"{sql / tracker:>6.2f}"
                    )
    print("load average (1, 5, 15 min) at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
