"""Crash-injection points for the crash-recovery tests; inert in normal runs.

Execution code marks the instants where dying would leave the books and the exchange out
of step::

    crashpoints.hit("before_send")   # orders.py: write-ahead record stored, request not sent
    crashpoints.hit("after_send")    # orders.py: exchange answered, answer not yet recorded
    crashpoints.hit("after_fill")    # lifecycle.py: entry fill recorded, trailing stop not armed

A test starts a real subprocess with ``TAPEFLOW_CRASHPOINT=<name>``; when that process
reaches the named point it sends itself ``SIGKILL`` (no ``finally`` blocks, no ``atexit``,
no buffered writes: what a ``kill -9`` or a power cut leaves) — on platforms without
``SIGKILL`` it calls ``os._exit(137)``. The restarted process must then converge to the
exchange's truth through reconciliation (see ``docs/state.md``, "Reconciliation").

Cost when the variable is unset (every normal run): :func:`hit` is a module-level no-op
chosen once at import — one attribute lookup and one call of an empty function.
"""

from __future__ import annotations

import os
import signal

ENV = "TAPEFLOW_CRASHPOINT"

#: The points execution code marks (a name outside this set in ``TAPEFLOW_CRASHPOINT`` is
#: refused at import, so a typo cannot silently disarm a crash test).
POINTS: frozenset[str] = frozenset({"before_send", "after_send", "after_fill"})

ARMED: str | None = os.environ.get(ENV) or None
if ARMED is not None and ARMED not in POINTS:
    raise ValueError(f"{ENV}={ARMED!r} names no crash point; known: {', '.join(sorted(POINTS))}")


def _kill(name: str) -> None:
    if name != ARMED:
        return
    kill = getattr(signal, "SIGKILL", None)
    if kill is not None:
        os.kill(os.getpid(), kill)
    os._exit(137)  # pragma: no cover - only where SIGKILL does not exist


def _inert(name: str) -> None:
    """Does nothing (no crash point armed)."""


#: ``hit(name)``: die here if ``TAPEFLOW_CRASHPOINT`` names this point, else nothing.
hit = _kill if ARMED is not None else _inert
