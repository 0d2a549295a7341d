"""Trade-rate caps: at most N entries per UTC day (seed 004: 5) and per rolling hour.

:class:`TradeRate` remembers the time of every entry the chain placed during the last 24
hours (the engine's clock: wall time live, exchange time in a replay) and writes them to
the state store (``execution.trade_rate``) on every entry, so a restart does not reset the
day's count. :class:`TradeRateGate` is the chain handler ``trade_rate``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tapeflow.config.execution import HandlerName
from tapeflow.execution.chain import CONTINUE, Verdict, refuse
from tapeflow.execution.context import SignalContext
from tapeflow.execution.statefile import StateStore

STATE_NAME = "execution.trade_rate"
_KEEP = timedelta(hours=24)
_HOUR = timedelta(hours=1)


class TradeRate:
    """Entry times of the last 24 hours, persisted.

    Args:
        store: where ``execution.trade_rate`` lives.
        max_per_day: most entries per UTC day; None = no cap.
        max_per_hour: most entries in any rolling hour ``(now − 1 h, now]``; None = no cap.

    Raises:
        ValueError: if the stored document is malformed.
    """

    def __init__(
        self, store: StateStore, *, max_per_day: int | None, max_per_hour: int | None
    ) -> None:
        self._store = store
        self.max_per_day = max_per_day
        self.max_per_hour = max_per_hour
        self.entries: list[datetime] = []
        doc = store.get_state(STATE_NAME) or {}
        try:
            self.entries = sorted(datetime.fromisoformat(t) for t in doc.get("entries", []))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"state {STATE_NAME!r} is malformed: {exc}") from exc

    def today(self, now: datetime) -> int:
        """Entries on the UTC day of ``now``."""
        day = now.astimezone(UTC).date()
        return sum(1 for t in self.entries if t.astimezone(UTC).date() == day)

    def last_hour(self, now: datetime) -> int:
        """Entries in ``(now − 1 h, now]``."""
        return sum(1 for t in self.entries if now - _HOUR < t <= now)

    def block(self, now: datetime) -> str | None:
        """Why a new entry may not be placed at ``now`` (UTC), or None if it may."""
        if self.max_per_day is not None:
            n = self.today(now)
            if n >= self.max_per_day:
                return (
                    f"{n} entries today ({now.astimezone(UTC).date()} UTC); "
                    f"max_trades_per_day {self.max_per_day}"
                )
        if self.max_per_hour is not None:
            n = self.last_hour(now)
            if n >= self.max_per_hour:
                return f"{n} entries in the last hour; max_trades_per_hour {self.max_per_hour}"
        return None

    def record(self, at: datetime) -> None:
        """Count an entry placed at ``at`` (UTC) and persist the window."""
        self.entries = [t for t in self.entries if t > at - _KEEP]
        self.entries.append(at)
        self._store.put_state(STATE_NAME, {"entries": [t.isoformat() for t in self.entries]})


class TradeRateGate:
    """Chain handler ``trade_rate``: refuses once today's or the last hour's entries
    reached their cap (``max_trades_per_day``, ``max_trades_per_hour``)."""

    name: HandlerName = "trade_rate"

    def __init__(self, rate: TradeRate) -> None:
        self.rate = rate

    async def __call__(self, ctx: SignalContext) -> Verdict:
        reason = self.rate.block(ctx.now)
        return refuse(reason) if reason else CONTINUE
