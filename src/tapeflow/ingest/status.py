"""The one-line ingest status: throughput, queue, per-symbol lag, gaps.

Example (4 symbols or fewer list each symbol's lag; more show the worst and the median)::

    ingest 8,412 ticks/s | queue 31/100000 | batched 412 | lag spot/BTCUSDT 0.21s
    usdm/BTCUSDT 0.18s | stored 1,204,332 (dup 12, refused 0, frames 2) | gaps filled 3,
    unfillable 0, open 0, recovered 2,210 | reconnects 1 | back-pressure: feed waits 0,
    store waits 0

Lag is now minus the exchange time of the symbol's last received trade (seconds): it grows
when the feed is behind *or* when the market is quiet.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Protocol

from tapeflow.ingest.recovery import GapRecovery
from tapeflow.ingest.sink import FeedStats
from tapeflow.ingest.writer import BatchWriter

MAX_LISTED = 4


class IngestCounters(Protocol):
    """What the status line reads of a running ingest (an
    :class:`~tapeflow.ingest.service.IngestService` has all of it)."""

    feed_stats: FeedStats
    writer: BatchWriter
    recovery: GapRecovery
    queue: asyncio.Queue


class StatusLine:
    """Renders an ingest's counters (:class:`IngestCounters`) as one line; the ticks/s
    figure is the rate since the previous render."""

    def __init__(self, service: IngestCounters) -> None:
        self.service = service
        self._last_count = 0
        self._last_at = time.monotonic()
        self._started = self._last_at

    def render(self, *, final: bool = False) -> str:
        """The status line (``final``: the summary at shutdown, with the average rate)."""
        svc = self.service
        fs, ws, rs = svc.feed_stats, svc.writer.stats, svc.recovery.stats
        now = time.monotonic()
        if final:
            rate = fs.received / max(now - self._started, 1e-9)
        else:
            rate = (fs.received - self._last_count) / max(now - self._last_at, 1e-9)
            self._last_count, self._last_at = fs.received, now
        now_ms = time.time_ns() // 1_000_000
        lags = {k: (now_ms - ms) / 1000 for k, ms in fs.last_exchange_ms.items()}
        if not lags:
            lag = "lag -"
        elif len(lags) <= MAX_LISTED:
            lag = "lag " + " ".join(
                f"{k.market}/{k.symbol} {v:.2f}s" for k, v in sorted(lags.items())
            )
        else:
            worst = max(lags, key=lags.__getitem__)
            lag = (
                f"lag max {lags[worst]:.2f}s ({worst.market}/{worst.symbol}) "
                f"median {statistics.median(lags.values()):.2f}s over {len(lags)} symbols"
            )
        head = "ingest stopped: avg" if final else "ingest"
        return (
            f"{head} {rate:,.0f} ticks/s | queue {svc.queue.qsize()}/{svc.queue.maxsize} "
            f"| batched {svc.writer.pending()} | {lag} "
            f"| stored {ws.inserted + rs.trades_recovered:,} "
            f"(dup {ws.duplicates + rs.rest_duplicates:,}, refused {ws.quarantined}, "
            f"frames {ws.frames_quarantined}, conflicts {ws.conflicts}) "
            f"| gaps filled {rs.gaps_filled}, unfillable {rs.gaps_unfillable}, "
            f"open {len(svc.recovery.open)}, recovered {rs.trades_recovered:,} "
            f"| reconnects {fs.reconnects} "
            f"| back-pressure: feed waits {fs.backpressure_waits}, store waits {ws.full_waits}"
        )
