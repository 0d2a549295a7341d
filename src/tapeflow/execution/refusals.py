"""The record of refused signals: which handler said no, and why.

Kept in memory (the most recent ``keep`` entries and a count per handler, for the status
line) and, when a path is given, appended to a JSON Lines file — one object per refusal:
``{"at", "signal_id", "symbol", "direction", "candle_time", "handler", "reason"}``.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from tapeflow.execution.context import SignalContext


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused signal (times UTC, ISO 8601)."""

    at: str
    signal_id: str
    symbol: str
    direction: str
    candle_time: str
    handler: str
    reason: str


class RefusalLog:
    """Recent refusals, counts per handler, and an optional JSONL file.

    Args:
        path: JSON Lines file to append to (directory created); None keeps memory only.
        keep: how many recent refusals to hold in memory.
    """

    def __init__(self, path: str | Path | None = None, *, keep: int = 1000) -> None:
        self.path = Path(path) if path is not None else None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.recent: deque[Refusal] = deque(maxlen=keep)
        self.counts: Counter[str] = Counter()

    def record(self, ctx: SignalContext, handler: str, reason: str) -> Refusal:
        """Record that ``handler`` refused ``ctx.signal`` for ``reason``."""
        sig = ctx.signal
        entry = Refusal(
            at=_iso(ctx.now),
            signal_id=sig.signal_id,
            symbol=str(ctx.key),
            direction=sig.direction,
            candle_time=_iso(sig.candle_time),
            handler=handler,
            reason=reason,
        )
        self.recent.append(entry)
        self.counts[handler] += 1
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(entry), separators=(",", ":")) + "\n")
        return entry

    def read(self) -> list[Refusal]:
        """Every refusal in the file (or in memory without a file), oldest first."""
        if self.path is None or not self.path.exists():
            return list(self.recent)
        with self.path.open(encoding="utf-8") as fh:
            return [Refusal(**json.loads(line)) for line in fh if line.strip()]


def _iso(ts: datetime) -> str:
    return ts.isoformat()
