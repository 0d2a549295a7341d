"""Trade-id continuity per symbol: where the stream jumped, and what to ask REST for.

Live feeds carry raw trade ids that are contiguous per symbol and market (the venue's
:class:`~tapeflow.venues.venue.IdModel` ``contiguous``; the registry refuses a venue with
a live feed whose ids are not), so a jump is a loss. The tracker keeps, per symbol, the highest id
known (stored or seen) and turns observations into :class:`GapRequest` s:

* **in the stream**: id ``n`` after highest ``h`` with ``n > h + 1`` asks for
  ``h+1 .. n-1`` after a grace period (late, out-of-order ticks may still fill it; the
  recovery checks the store before asking REST). An id ``≤ h`` is late or a duplicate:
  counted, stored (the store drops duplicates), no request;
* **on startup and on reconnect** a symbol is *probing*: its first tick asks, without grace,
  for everything between the highest known id and that tick. A symbol with no tick within
  ``probe_timeout_s`` asks for a tail fetch (from the highest id to whatever REST has).

Pure logic, no I/O: the ingest service feeds it and runs the requests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from tapeflow.model.symbols import SymbolKey


@dataclass(frozen=True, slots=True)
class GapRequest:
    """Ids ``first..last`` (inclusive) of ``key`` may be missing; ``last`` None = up to the
    newest trade REST has. ``grace_s``: wait this long before checking. ``episode``: the
    reconnect episode waiting for this symbol's repair (opaque here)."""

    key: SymbolKey
    first: int
    last: int | None
    reason: str
    grace_s: float = 0.0
    episode: Any = None


@dataclass(slots=True)
class _Probe:
    reason: str
    since: float
    episode: Any


@dataclass
class SequenceTracker:
    """Per-symbol id continuity; see the module docstring.

    Args:
        grace_s: grace period for in-stream jumps.
        probe_timeout_s: wait for a probing symbol's first tick before a tail fetch.
    """

    grace_s: float = 1.0
    probe_timeout_s: float = 5.0
    highest: dict[SymbolKey, int] = field(default_factory=dict)
    late: int = 0
    jumps: int = 0
    _probes: dict[SymbolKey, _Probe] = field(default_factory=dict)

    def start(self, key: SymbolKey, stored_last_id: int | None) -> None:
        """Begin tracking ``key`` whose store ends at ``stored_last_id`` (None: empty)."""
        if stored_last_id is None:
            self.highest.pop(key, None)
            self._probes.pop(key, None)
        else:
            self.highest[key] = stored_last_id
            self._probes[key] = _Probe("startup", time.monotonic(), None)

    def probe(self, keys: list[SymbolKey], reason: str, episode: Any = None) -> list[SymbolKey]:
        """Mark ``keys`` as probing (after a reconnect). Returns the keys with nothing known
        yet (no id seen or stored), which cannot have a gap."""
        now = time.monotonic()
        unknown = []
        for key in keys:
            if key in self.highest:
                self._probes[key] = _Probe(reason, now, episode)
            else:
                unknown.append(key)
        return unknown

    def observe(self, key: SymbolKey, trade_id: int) -> GapRequest | None:
        """Account for a tick of ``key`` with ``trade_id``; returns what to repair, if any.

        A probing symbol's first tick always returns a request (possibly empty-handed: an
        empty range ``first > last`` means "nothing missing", so a reconnect episode learns
        that the symbol is whole)."""
        high = self.highest.get(key)
        probe = self._probes.pop(key, None) if self._probes else None
        if high is None:
            self.highest[key] = trade_id
            return None
        if trade_id > high:
            self.highest[key] = trade_id
        if probe is not None:
            return GapRequest(key, high + 1, trade_id - 1, probe.reason, 0.0, probe.episode)
        if trade_id > high + 1:
            self.jumps += 1
            return GapRequest(key, high + 1, trade_id - 1, "stream id jump", self.grace_s)
        if trade_id <= high:
            self.late += 1
        return None

    def expired_probes(self) -> list[GapRequest]:
        """Tail-fetch requests for probing symbols that stayed silent past the timeout."""
        now = time.monotonic()
        out = []
        for key, p in list(self._probes.items()):
            if now - p.since >= self.probe_timeout_s:
                del self._probes[key]
                first = self.highest[key] + 1
                out.append(GapRequest(key, first, None, f"{p.reason} (tail)", 0.0, p.episode))
        return out

    def probing(self) -> int:
        """Symbols still waiting for their first tick after a (re)connect."""
        return len(self._probes)
