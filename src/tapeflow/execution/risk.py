"""Portfolio risk: daily drawdown levels, the portfolio circuit breaker, hold-time limits
and the health gate for new entries.

Daily drawdown is measured from the equity at the start of the UTC day (the first
observation of the day):

    drawdown_pct = (day_start_equity − equity) / day_start_equity × 100

Levels (defaults): alert 2 %, warning 3 %, critical 4 % (new entries blocked, trailing
stops tightened), circuit breaker 5 % (every position closed, new entries halted until the
next UTC day or a manual reset). The state — day, start equity, the day's highest level,
the halt — is written to the state store on every change and restored on start, so a
restart neither resets the baseline nor lifts a halt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import IntEnum
from typing import Any

from tapeflow.bus import EventBus
from tapeflow.config.execution import ExecutionSettings, RiskSettings
from tapeflow.execution.statefile import StateStore
from tapeflow.model.events import CircuitBreakerTripped, StopAllTrading
from tapeflow.model.records import Position
from tapeflow.model.symbols import SymbolKey

log = logging.getLogger(__name__)

HUNDRED = Decimal(100)
STATE_NAME = "execution.portfolio_risk"


class RiskLevel(IntEnum):
    """Daily drawdown level, ordered by severity."""

    NORMAL = 0
    ALERT = 1
    WARNING = 2
    CRITICAL = 3
    CIRCUIT_BREAKER = 4


@dataclass(frozen=True, slots=True)
class RiskAssessment:
    """Result of one :meth:`PortfolioRisk.observe`.

    Attributes:
        level: level of the current drawdown.
        drawdown_pct: current daily drawdown in percent (0 when equity is above the start).
        equity, day_start_equity: quote currency.
        escalated: the day's highest level rose with this observation.
        tighten: the critical level was reached for the first time today.
        close_all: the portfolio circuit breaker is tripped (close every position).
    """

    level: RiskLevel
    drawdown_pct: Decimal
    equity: Decimal
    day_start_equity: Decimal
    escalated: bool = False
    tighten: bool = False
    close_all: bool = False


def next_utc_midnight(now: datetime) -> datetime:
    """The first instant of the UTC day after ``now``."""
    day = now.astimezone(UTC).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=UTC)


class PortfolioRisk:
    """Drawdown levels, circuit breaker, hold-time limits and health gate.

    Args:
        settings: drawdown levels and ``block_entries_at_critical`` are read from it, and
            ``risk_for(key).max_hold_minutes`` for hold limits.
        store: where the state document ``execution.portfolio_risk`` lives.
        bus: publishes :class:`~tapeflow.bus.CircuitBreakerTripped` (scope ``portfolio``).

    Raises:
        ValueError: if the stored state is malformed.
    """

    def __init__(
        self,
        settings: ExecutionSettings,
        store: StateStore,
        bus: EventBus | None = None,
    ) -> None:
        self.settings = settings
        self._store = store
        self._bus = bus
        levels = settings.drawdown
        self._thresholds = (
            (levels.circuit_breaker, RiskLevel.CIRCUIT_BREAKER),
            (levels.critical, RiskLevel.CRITICAL),
            (levels.warning, RiskLevel.WARNING),
            (levels.alert, RiskLevel.ALERT),
        )
        self.day: date | None = None
        self.day_start_equity: Decimal | None = None
        self.level = RiskLevel.NORMAL
        self.peak_level = RiskLevel.NORMAL
        self.halted = False
        self.halted_until: datetime | None = None
        self.halt_reason: str | None = None
        self.last_equity: Decimal | None = None
        self._unhealthy: dict[str, str] = {}
        self._restore()

    # -- persistence ---------------------------------------------------------------------

    def _restore(self) -> None:
        doc = self._store.get_state(STATE_NAME)
        if not doc:
            return
        try:
            self.day = date.fromisoformat(doc["day"]) if doc.get("day") else None
            start = doc.get("day_start_equity")
            self.day_start_equity = Decimal(start) if start is not None else None
            self.peak_level = RiskLevel[doc.get("peak_level", "NORMAL")]
            self.level = RiskLevel[doc.get("level", "NORMAL")]
            self.halted = bool(doc.get("halted", False))
            until = doc.get("halted_until")
            self.halted_until = datetime.fromisoformat(until) if until else None
            self.halt_reason = doc.get("halt_reason")
        except (KeyError, ValueError, ArithmeticError) as exc:
            raise ValueError(f"state {STATE_NAME!r} is malformed: {exc}") from exc
        log.info(
            "portfolio risk restored: day %s start equity %s, level %s, halted %s",
            self.day,
            self.day_start_equity,
            self.peak_level.name,
            self.halted,
        )

    def state(self) -> dict[str, Any]:
        """The persisted document (JSON-safe)."""
        return {
            "day": self.day.isoformat() if self.day else None,
            "day_start_equity": str(self.day_start_equity)
            if self.day_start_equity is not None
            else None,
            "level": self.level.name,
            "peak_level": self.peak_level.name,
            "halted": self.halted,
            "halted_until": self.halted_until.isoformat() if self.halted_until else None,
            "halt_reason": self.halt_reason,
        }

    def _save(self) -> None:
        self._store.put_state(STATE_NAME, self.state())

    # -- drawdown ------------------------------------------------------------------------

    def level_for(self, drawdown_pct: Decimal) -> RiskLevel:
        """The level a drawdown (percent) falls in."""
        for threshold, level in self._thresholds:
            if drawdown_pct >= threshold:
                return level
        return RiskLevel.NORMAL

    def _roll_day(self, equity: Decimal, now: datetime) -> bool:
        today = now.astimezone(UTC).date()
        if self.day == today and self.day_start_equity is not None:
            return False
        if self.day is not None and self.day != today:
            log.info("portfolio risk: new UTC day %s, start equity %s", today, equity)
        self.day = today
        self.day_start_equity = equity
        self.level = self.peak_level = RiskLevel.NORMAL
        if self.halted and self.halted_until is not None and now >= self.halted_until:
            log.warning("portfolio circuit breaker lifted at the new UTC day %s", today)
            self.halted, self.halted_until, self.halt_reason = False, None, None
        return True

    async def observe(self, equity: Decimal, now: datetime) -> RiskAssessment:
        """Measure the daily drawdown at ``equity`` (quote) and act on its level.

        Escalations are logged; the circuit-breaker level halts new entries until the next
        UTC midnight and publishes :class:`~tapeflow.bus.CircuitBreakerTripped` and
        :class:`~tapeflow.bus.StopAllTrading` (seed 001 §8.3).

        Args:
            equity: account equity now (balance plus unrealized P&L), quote currency.
            now: timezone-aware UTC time of the measurement.
        """
        self.last_equity = equity
        changed = self._roll_day(equity, now)
        start = self.day_start_equity or equity
        drawdown = (start - equity) / start * HUNDRED if start > 0 else Decimal(0)
        drawdown = max(drawdown, Decimal(0))
        level = self.level_for(drawdown)
        if level != self.level:
            self.level = level
            changed = True
        escalated = level > self.peak_level
        tighten = False
        if escalated:
            tighten = self.peak_level < RiskLevel.CRITICAL <= level
            self.peak_level = level
            log.warning(
                "daily drawdown %.3f%% reached level %s (equity %s, day start %s)",
                drawdown,
                level.name,
                equity,
                start,
            )
        if level == RiskLevel.CIRCUIT_BREAKER and not self.halted:
            self.halted = True
            self.halted_until = next_utc_midnight(now)
            self.halt_reason = (
                f"daily drawdown {drawdown:.3f}% >= {self.settings.drawdown.circuit_breaker}% "
                f"(equity {equity}, day start {start})"
            )
            changed = True
            log.error(
                "PORTFOLIO CIRCUIT BREAKER: %s; halted until %s",
                self.halt_reason,
                self.halted_until.isoformat(),
            )
            if self._bus is not None:
                await self._bus.publish(
                    CircuitBreakerTripped(scope="portfolio", reason=self.halt_reason, at=now)
                )
                await self._bus.publish(
                    StopAllTrading(scope="portfolio", reason=self.halt_reason, at=now)
                )
        if changed:
            self._save()
        return RiskAssessment(
            level=level,
            drawdown_pct=drawdown,
            equity=equity,
            day_start_equity=start,
            escalated=escalated,
            tighten=tighten,
            close_all=self.halted,
        )

    def manual_reset(self, equity: Decimal, now: datetime) -> None:
        """Lift a halt by hand and re-base the day at ``equity`` (otherwise the next
        observation would trip the breaker again)."""
        log.warning("portfolio risk manually reset at equity %s", equity)
        self.halted, self.halted_until, self.halt_reason = False, None, None
        self.day = now.astimezone(UTC).date()
        self.day_start_equity = equity
        self.level = self.peak_level = RiskLevel.NORMAL
        self._save()

    # -- gates ---------------------------------------------------------------------------

    def set_health(self, component: str, healthy: bool, reason: str = "") -> None:
        """Mark ``component`` (``feed``, ``exchange``, ``store``, ...) healthy or degraded;
        while any component is degraded, new entries are refused."""
        if healthy:
            if self._unhealthy.pop(component, None) is not None:
                log.info("health: %s recovered", component)
        elif self._unhealthy.get(component) != reason:
            self._unhealthy[component] = reason or "degraded"
            log.warning("health: %s degraded (%s); new entries blocked", component, reason)

    @property
    def degraded(self) -> dict[str, str]:
        """Degraded components and why."""
        return dict(self._unhealthy)

    def entry_block(self, now: datetime) -> str | None:
        """Why a new entry may not be opened now, or None if it may."""
        if self.halted and (self.halted_until is None or now < self.halted_until):
            until = self.halted_until.isoformat() if self.halted_until else "manual reset"
            return f"portfolio circuit breaker halted entries until {until}: {self.halt_reason}"
        same_day = self.day is None or self.day == now.astimezone(UTC).date()
        if (
            self.settings.block_entries_at_critical
            and self.level >= RiskLevel.CRITICAL
            and same_day
        ):
            return f"daily drawdown at {self.level.name} level"
        if self._unhealthy:
            parts = ", ".join(f"{k}: {v}" for k, v in sorted(self._unhealthy.items()))
            return f"health degraded ({parts})"
        return None

    def overdue(
        self,
        positions: Iterable[Position],
        now: datetime,
        risk_for: Callable[[SymbolKey], RiskSettings] | None = None,
    ) -> list[Position]:
        """Open positions held longer than their symbol's ``max_hold_minutes``."""
        risk_for = risk_for or self.settings.risk_for
        out = []
        for pos in positions:
            if pos.status != "open" or pos.opened_at is None:
                continue
            limit = risk_for(SymbolKey.parse(pos.symbol)).max_hold_minutes
            if limit is not None and now - pos.opened_at >= timedelta(minutes=limit):
                out.append(pos)
        return out
