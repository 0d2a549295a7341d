"""Writing the decision log off the evaluation path.

An evaluation must not wait for a database write (a DuckDB INSERT with its commit costs
~1–3 ms, more than the rest of an evaluation that stops at the regime). The engine hands
each :class:`~tapeflow.strategy.decision_log.Decision` to a :class:`DecisionWriter`, which
appends each symbol's queued decisions in **one** INSERT: every ``interval_s`` from its
background thread (the live process), or when :meth:`DecisionWriter.flush` is called
(replays, tests, shutdown). A crash loses at most the last ``interval_s`` of the log — never
a signal, which the engine publishes at once.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from tapeflow.model.symbols import SymbolKey
from tapeflow.store import TickStore
from tapeflow.strategy.decision_log import Decision, write_decisions

log = logging.getLogger(__name__)


class DecisionWriter:
    """Batched, thread-safe appends to the symbols' ``decision_log`` tables.

    Args:
        store: the tick store holding each symbol's database.
        interval_s: seconds between background writes (after :meth:`start`).
        max_pending: a symbol whose queue reaches this many decisions is written at once by
            :meth:`add` (bounds memory when nothing else writes).

    Attributes:
        written: decisions written so far. failures: batches that failed (they are kept and
            retried on the next write).
    """

    def __init__(self, store: TickStore, *, interval_s: float = 1.0, max_pending: int = 256):
        if interval_s <= 0 or max_pending < 1:
            raise ValueError("interval_s must be > 0 and max_pending >= 1")
        self.store = store
        self.interval_s = interval_s
        self.max_pending = max_pending
        self.written = 0
        self.failures = 0
        self._pending: dict[SymbolKey, list[Decision]] = defaultdict(list)
        self._lock = threading.Lock()  # guards _pending
        self._write_lock = threading.Lock()  # one writer at a time: batches stay in order
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Decisions queued and not yet written."""
        with self._lock:
            return sum(len(v) for v in self._pending.values())

    def add(self, decision: Decision) -> None:
        """Queue ``decision`` (writes its symbol's queue now if it reached ``max_pending``)."""
        with self._lock:
            queue = self._pending[decision.key]
            queue.append(decision)
            full = len(queue) >= self.max_pending
        if full:
            self.flush([decision.key])

    def flush(self, keys: list[SymbolKey] | None = None) -> int:
        """Write the queued decisions (of ``keys``, default every symbol) now; return how
        many were written. A failing symbol's batch is logged, kept and retried later."""
        with self._write_lock:
            with self._lock:
                wanted = list(self._pending) if keys is None else keys
                batches = {k: self._pending.pop(k) for k in wanted if self._pending.get(k)}
            done = 0
            for key, batch in batches.items():
                try:
                    with self.store.connection(key) as con:
                        write_decisions(con, batch)
                except Exception:
                    self.failures += 1
                    log.exception("decision log: writing %d rows for %s failed", len(batch), key)
                    with self._lock:
                        self._pending[key][:0] = batch
                    continue
                done += len(batch)
            self.written += done
            return done

    def start(self) -> None:
        """Start the background thread writing every ``interval_s`` (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.flush()

    def close(self) -> None:
        """Stop the background thread and write everything still queued."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
