"""Burst coalescing of notifications (pure logic; the caller supplies the clock).

Notifications with the same ``coalesce_key`` arriving within ``window_s`` of the first one
form a group:

* ``hold`` notifications (bursty kinds such as a reconnect loop's ConnectionLost) are held;
  when the window closes, one :class:`Digest` carries the first, the last, the count and how
  often each detail occurred. A burst of 50 becomes one mail saying 50.
* other notifications go out at once (the leading one); repeats within the window are
  counted and, if there were any, one follow-up digest reports them when the window closes.

So each key produces at most two mails per window, whatever the event rate.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from tapeflow.model.notifications import Notification


@dataclass
class Digest:
    """One mail's worth: ``notification`` (the first of the group, which sets priority and
    subject), ``last``, ``count``, ``details`` (detail line -> occurrences), event times
    ``first_at`` / ``last_at`` (UTC), and ``follow_up`` (True when it reports repeats of
    a notification already sent)."""

    notification: Notification
    last: Notification
    count: int
    details: Counter[str]
    first_at: datetime
    last_at: datetime
    follow_up: bool = False

    @classmethod
    def single(cls, n: Notification) -> Digest:
        return cls(n, n, 1, Counter({n.detail: 1}), n.at, n.at)


@dataclass
class _Group:
    opened: float  # clock reading when the window opened (seconds)
    first: Notification | None = None  # first not-yet-sent notification
    last: Notification | None = None
    count: int = 0  # not-yet-sent notifications
    details: Counter[str] = field(default_factory=Counter)
    follow_up: bool = False

    def add(self, n: Notification) -> None:
        if self.first is None:
            self.first = n
        self.last = n
        self.count += 1
        self.details[n.detail] += 1

    def digest(self) -> Digest | None:
        if self.count == 0 or self.first is None or self.last is None:
            return None
        return Digest(
            self.first,
            self.last,
            self.count,
            self.details,
            self.first.at,
            self.last.at,
            follow_up=self.follow_up,
        )


class Coalescer:
    """Groups notifications by key within a window; see the module docstring.

    Args:
        window_s: window length, seconds of the caller's clock (> 0).

    Raises:
        ValueError: ``window_s`` not positive.
    """

    def __init__(self, window_s: float) -> None:
        if window_s <= 0:
            raise ValueError(f"coalesce window must be > 0 s, got {window_s}")
        self.window_s = window_s
        self._groups: dict[str, _Group] = {}
        self.merged = 0  #: notifications that did not get a mail of their own

    def offer(self, n: Notification, now: float) -> list[Digest]:
        """Take ``n`` at clock reading ``now``; returns digests to send immediately."""
        out = self.due(now)
        group = self._groups.get(n.coalesce_key)
        if group is None:
            group = self._groups[n.coalesce_key] = _Group(opened=now)
            if not n.hold:
                group.follow_up = True
                out.append(Digest.single(n))
                return out
        else:
            self.merged += 1
        group.add(n)
        return out

    def due(self, now: float) -> list[Digest]:
        """Close every window that has ended by ``now``; their digests, oldest first."""
        out: list[Digest] = []
        for key, group in list(self._groups.items()):
            if group.opened + self.window_s <= now:
                del self._groups[key]
                digest = group.digest()
                if digest is not None:
                    out.append(digest)
        return out

    def drain(self) -> list[Digest]:
        """Close every window now (shutdown, flush); their digests."""
        out = [d for g in self._groups.values() if (d := g.digest()) is not None]
        self._groups.clear()
        return out

    def next_due(self) -> float | None:
        """Clock reading at which the earliest open window closes, or None."""
        if not self._groups:
            return None
        return min(g.opened for g in self._groups.values()) + self.window_s

    def __len__(self) -> int:
        """Open windows."""
        return len(self._groups)
