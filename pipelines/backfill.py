"""Backfill job: download the last N days of Binance trade archives for one symbol, verify
and import them, then print the store's missing trade-id ranges.

    python pipelines/backfill.py --market usdm --symbol BTCUSDT --days 2 [--root data]

Days end yesterday (UTC): today's archive is published after the day closes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from tapeflow.model.symbols import SymbolKey
from tapeflow.sources.download import download_and_import
from tapeflow.store import TickStore
from tapeflow.venues.binance.archive import BASE_URL


def main(argv: list[str] | None = None) -> int:
    """Run the backfill; exit code 1 if any archive failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--market", required=True, choices=["spot", "usdm", "coinm"])
    parser.add_argument("--symbol", required=True)
    parser.add_argument("--days", type=int, default=2, help="how many days back from yesterday")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="last day (default yesterday)")
    parser.add_argument("--agg", action="store_true", help="aggTrades instead of trades")
    parser.add_argument("--root", default="data", help="store root")
    parser.add_argument("--base-url", default=BASE_URL)
    args = parser.parse_args(argv)

    end = args.end or dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=args.days - 1)
    key = SymbolKey("binance", args.market, args.symbol.upper())
    with TickStore(args.root) as store:
        report = download_and_import(
            store,
            market=key.market,
            symbol=key.symbol,
            start=start,
            end=end,
            agg=args.agg,
            base_url=args.base_url,
        )
        for name, why in report.failures:
            print(f"FAILED {name}: {why}", file=sys.stderr)
        if report.summary and key in report.summary.symbols:
            c = report.summary.symbols[key]
            print(
                f"{key}: received {c.received:,}, inserted {c.inserted:,}, "
                f"duplicates {c.duplicates:,}, quarantined {c.quarantined:,}"
            )
        gaps = store.gaps(key) if key.path(store.root).exists() else []
        print(f"{key}: {len(gaps)} gap(s)")
        for first, last in gaps:
            print(f"  missing ids {first}..{last} ({last - first + 1:,})")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
