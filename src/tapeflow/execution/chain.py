"""The execution chain: a signal passes small handlers in a configured order.

Each handler looks at (and may add to) a
:class:`~tapeflow.execution.context.SignalContext` and answers
:data:`CONTINUE` or :func:`refuse` with a reason. The first refusal ends the chain; it is
logged and recorded in the :class:`~tapeflow.execution.refusals.RefusalLog`. The handlers
themselves live in :mod:`tapeflow.execution.handlers`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from tapeflow.execution.context import SignalContext
from tapeflow.execution.refusals import RefusalLog
from tapeflow.model.records import Order, Position

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A handler's answer: go on (``ok``) or stop the signal with ``reason``."""

    ok: bool
    reason: str | None = None


CONTINUE = Verdict(True)


def refuse(reason: str) -> Verdict:
    """A refusal with a human-readable ``reason`` (safe to log)."""
    return Verdict(False, reason)


class Handler(Protocol):
    """One step of the chain; ``name`` is its configuration name."""

    name: str

    async def __call__(self, ctx: SignalContext) -> Verdict: ...


@dataclass(frozen=True, slots=True)
class ChainResult:
    """Outcome of one signal.

    Attributes:
        signal_id: the decision's id.
        accepted: every handler continued (an entry order was placed, or its outcome is
            being resolved).
        refused_by: the refusing handler's name.
        reason: the refusal reason.
        position, entry_order: what ``placement`` created.
        elapsed_s: wall time through the chain, seconds.
    """

    signal_id: str
    accepted: bool
    refused_by: str | None = None
    reason: str | None = None
    position: Position | None = None
    entry_order: Order | None = None
    elapsed_s: float = 0.0


class ExecutionChain:
    """Runs handlers in order; see the module docstring.

    Args:
        handlers: the steps, in order.
        refusals: where refusals are recorded (a fresh in-memory log by default).
    """

    def __init__(self, handlers: Sequence[Handler], refusals: RefusalLog | None = None):
        self.handlers = list(handlers)
        self.refusals = refusals if refusals is not None else RefusalLog()

    @property
    def names(self) -> list[str]:
        """Handler names in order."""
        return [h.name for h in self.handlers]

    async def process(self, ctx: SignalContext) -> ChainResult:
        """Pass ``ctx`` through every handler until one refuses.

        A handler that raises is treated as a refusal (reason: the exception text), so an
        unexpected error never places a half-checked order.
        """
        started = time.perf_counter()
        sid = ctx.signal.signal_id
        for handler in self.handlers:
            try:
                verdict = await handler(ctx)
            except Exception as exc:
                log.exception("handler %s failed on signal %s", handler.name, sid)
                verdict = refuse(f"handler error: {type(exc).__name__}: {exc}")
            if not verdict.ok:
                reason = verdict.reason or "refused"
                log.info(
                    "signal %s %s %s refused by %s: %s",
                    sid,
                    ctx.key,
                    ctx.signal.direction,
                    handler.name,
                    reason,
                )
                self.refusals.record(ctx, handler.name, reason)
                return ChainResult(
                    sid,
                    False,
                    handler.name,
                    reason,
                    ctx.position,
                    ctx.entry_order,
                    time.perf_counter() - started,
                )
        return ChainResult(
            sid, True, None, None, ctx.position, ctx.entry_order, time.perf_counter() - started
        )
