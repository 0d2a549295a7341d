"""A circuit breaker for one exchange connection.

States (Nygard, *Release It!*, 2007):

* ``closed`` — requests flow; consecutive failures are counted, a success resets the count.
* ``open`` — after ``failure_threshold`` consecutive failures: every request is refused at
  once (:class:`~tapeflow.execution.errors.CircuitOpenError`) for ``cooldown_s`` seconds.
* ``half_open`` — after the cooldown: exactly one trial request is let through; success
  closes the breaker, failure opens it again for another cooldown.

Only failures that say something about the exchange (network, timeout, rate limit, 5xx)
are recorded; a rejected order is the caller's problem and does not count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from tapeflow.execution.errors import CircuitOpenError

log = logging.getLogger(__name__)

BreakerState = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    """Closed → open → half-open → closed; see the module docstring.

    Args:
        scope: name in messages and events (``"exchange binance/usdm"``).
        failure_threshold: consecutive failures that open the breaker.
        cooldown_s: seconds the breaker stays open before a trial request.
        clock: monotonic seconds (injectable for tests).
        on_change: called with ``(old_state, new_state, reason)`` on every state change
            (more listeners can be appended to :attr:`listeners`).
    """

    def __init__(
        self,
        scope: str,
        *,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState, str], None] | None = None,
    ) -> None:
        if failure_threshold < 1 or cooldown_s <= 0:
            raise ValueError("failure_threshold must be >= 1 and cooldown_s > 0")
        self.scope = scope
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.listeners: list[Callable[[BreakerState, BreakerState, str], None]] = (
            [on_change] if on_change is not None else []
        )
        self._state: BreakerState = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        """Current state; an open breaker whose cooldown has passed reads ``half_open``."""
        if self._state == "open" and self._clock() - self._opened_at >= self.cooldown_s:
            return "half_open"
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success."""
        return self._failures

    def before_call(self) -> None:
        """Admit a request or refuse it.

        Raises:
            CircuitOpenError: while open, or while a half-open trial is in flight.
        """
        if self._state == "closed":
            return
        elapsed = self._clock() - self._opened_at
        if self._state == "open":
            if elapsed < self.cooldown_s:
                raise CircuitOpenError(self.scope, self.cooldown_s - elapsed)
            self._set("half_open", "cooldown elapsed; trial request")
        if self._trial_in_flight:
            raise CircuitOpenError(self.scope, 0.0)
        self._trial_in_flight = True

    def record_success(self) -> None:
        """A request succeeded (or failed for a reason that is not the exchange's)."""
        self._failures = 0
        self._trial_in_flight = False
        if self._state != "closed":
            self._set("closed", "trial request succeeded")

    def record_failure(self, reason: str = "") -> None:
        """A request failed because of the exchange or the network."""
        self._failures += 1
        self._trial_in_flight = False
        if self._state == "half_open":
            self._open(f"trial request failed: {reason}")
        elif self._state == "closed" and self._failures >= self.failure_threshold:
            self._open(f"{self._failures} consecutive failures; last: {reason}")

    def reset(self) -> None:
        """Force the breaker closed (manual intervention)."""
        self._failures = 0
        self._trial_in_flight = False
        if self._state != "closed":
            self._set("closed", "manual reset")

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock()
        self._set("open", reason)

    def _set(self, new: BreakerState, reason: str) -> None:
        old, self._state = self._state, new
        level = logging.WARNING if new == "open" else logging.INFO
        log.log(level, "circuit breaker %s: %s -> %s (%s)", self.scope, old, new, reason)
        for listener in self.listeners:
            try:
                listener(old, new, reason)
            except Exception:
                log.exception("circuit breaker %s: listener failed", self.scope)
