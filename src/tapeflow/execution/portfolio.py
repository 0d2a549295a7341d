"""Time-driven portfolio risk (seed 001 §8.3): when each check is due, and the health
score's actions.

:class:`Cadence` says when a periodic check is due on the engine's clock — wall time live,
the exchange time of the ticks in a replay, so a replay makes the same decisions at the same
instants on every run. :class:`HealthGuard` scores the open positions
(:mod:`tapeflow.execution.health`) and applies the band's action:

=========================  ==========================================================
score (default)            action
=========================  ==========================================================
< 70                       new entries refused (the ``risk`` chain handler) until the
                           score is back at 70 or above; ``StopNewEntries`` once
< 50                       every trailing stop tightened to 0.3 % (never loosened);
                           ``PortfolioHealthDegraded`` once, ``TightenStop`` per stop
< 30                       the two open positions with the worst unrealised P&L closed
                           at every check while the score stays below 30;
                           ``ForceExitRequired`` per position
=========================  ==========================================================

With no open position there is nothing to score (as in the seed) and the entry block lifts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from tapeflow.bus import EventBus
from tapeflow.config.execution import ExecutionSettings
from tapeflow.execution.health import (
    HealthBand,
    OpenPosition,
    PortfolioHealth,
    score_health,
    unrealized_pnl,
    worst,
)
from tapeflow.execution.positions import PositionBook
from tapeflow.execution.risk import PortfolioRisk, RiskAssessment
from tapeflow.execution.stops import TrailingStopBook
from tapeflow.model.events import (
    Event,
    PortfolioHealthDegraded,
    StopNewEntries,
    TightenStop,
)
from tapeflow.model.records import Order, Position
from tapeflow.model.symbols import SymbolKey

log = logging.getLogger(__name__)

HEALTH_COMPONENT = "portfolio health"

#: force_exit(position, rule, reason) -> the exit order (or None)
ForceExit = Callable[[Position, str, str], Awaitable[Order | None]]


@dataclass(slots=True)
class Cadence:
    """A check due every ``interval_s`` seconds of a clock the caller supplies.

    :meth:`due` answers True for the first call and then once ``interval_s`` has passed
    since the last True (``interval_s`` 0: every call).
    """

    interval_s: float
    next_at: datetime | None = None

    def due(self, now: datetime) -> bool:
        """True if the check is due at ``now`` (UTC); if so, the next one is
        ``interval_s`` later."""
        if self.next_at is not None and now < self.next_at:
            return False
        self.next_at = now + timedelta(seconds=self.interval_s)
        return True


class HealthGuard:
    """Scores the portfolio and applies its band's action (see the module docstring).

    Args:
        settings: ``health`` thresholds and weights; ``drawdown.circuit_breaker`` scales
            the score.
        book: the active positions.
        stops: the trailing stops (tightened below ``tighten_below``).
        risk: the entry gate (``set_health("portfolio health", ...)``).
        marks: the last trade price per symbol (quote); a position without one counts at
            its entry price.
        contract_size: base units per contract of a symbol.
        force_exit: closes a position for a rule and publishes ``ForceExitRequired``.
        bus: receives ``StopNewEntries``, ``PortfolioHealthDegraded``, ``TightenStop``.
    """

    def __init__(
        self,
        settings: ExecutionSettings,
        *,
        book: PositionBook,
        stops: TrailingStopBook,
        risk: PortfolioRisk,
        marks: dict[SymbolKey, Decimal],
        contract_size: Callable[[SymbolKey], Decimal],
        force_exit: ForceExit,
        bus: EventBus | None = None,
    ) -> None:
        self.settings = settings.health
        self.circuit_breaker_pct = settings.drawdown.circuit_breaker
        self.book, self.stops, self.risk = book, stops, risk
        self.marks, self.contract_size = marks, contract_size
        self.force_exit = force_exit
        self.bus = bus
        self.band = HealthBand.HEALTHY
        self.last: PortfolioHealth | None = None

    def open_positions(self) -> list[tuple[Position, OpenPosition]]:
        """Each open position with its unrealised P&L at the last trade price."""
        out = []
        for pos in self.book.active():
            if pos.status != "open" or pos.entry_price is None:
                continue
            key = SymbolKey.parse(pos.symbol)
            mark = self.marks.get(key, pos.entry_price)
            upnl = unrealized_pnl(
                pos.direction, pos.entry_price, mark, pos.quantity, self.contract_size(key)
            )
            out.append((pos, OpenPosition(pos.position_id, upnl)))
        return out

    async def check(self, assessment: RiskAssessment, now: datetime) -> PortfolioHealth | None:
        """Score the open positions against ``assessment`` (equity and daily drawdown of
        the same moment) and act. Returns the snapshot, or None with no open position."""
        pairs = self.open_positions()
        if not pairs:
            self._set_band(HealthBand.HEALTHY, None)
            return None
        health = score_health(
            [op for _, op in pairs],
            equity=assessment.equity,
            daily_drawdown_pct=assessment.drawdown_pct,
            circuit_breaker_pct=self.circuit_breaker_pct,
            settings=self.settings,
            at=now,
        )
        self.last = health
        previous = self.band
        self._set_band(health.band, health)
        if health.band > previous:
            log.warning(
                "portfolio health %.2f: %s (drawdown %.3f%%, open loss %.3f%%, %.0f%% of %d "
                "positions losing)",
                health.score,
                health.band.name,
                health.daily_drawdown_pct,
                health.open_loss_pct,
                health.losing_share * 100,
                health.positions,
            )
            if previous == HealthBand.HEALTHY:
                await self._publish(
                    StopNewEntries(reason=self._block_reason(health), score=health.score, at=now)
                )
            if health.band >= HealthBand.TIGHTEN:
                await self._publish(
                    PortfolioHealthDegraded(
                        score=health.score,
                        band=health.band.name,
                        action=self._action(health.band),
                        positions=health.positions,
                        unrealized_pnl=health.unrealized_pnl,
                        daily_drawdown_pct=health.daily_drawdown_pct,
                        open_loss_pct=health.open_loss_pct,
                        losing_share=health.losing_share,
                        at=now,
                    )
                )
        if health.band >= HealthBand.TIGHTEN:
            await self._tighten_all(pairs, health, now)
        if health.band == HealthBand.CLOSE_WORST:
            chosen = worst([op for _, op in pairs], self.settings.close_worst_count)
            by_id = {pos.position_id: pos for pos, _ in pairs}
            for op in chosen:
                await self.force_exit(
                    by_id[op.position_id],
                    "health",
                    f"portfolio health {health.score:.2f} < {self.settings.close_worst_below}: "
                    f"worst unrealised P&L {op.upnl:f}",
                )
        return health

    def _set_band(self, band: HealthBand, health: PortfolioHealth | None) -> None:
        if band < self.band:
            log.info("portfolio health recovered to %s", band.name)
        self.band = band
        if band == HealthBand.HEALTHY:
            self.risk.set_health(HEALTH_COMPONENT, True)
        elif health is not None:
            self.risk.set_health(HEALTH_COMPONENT, False, self._block_reason(health))

    def _block_reason(self, health: PortfolioHealth) -> str:
        return f"score {health.score:.2f} < {self.settings.stop_entries_below}"

    def _action(self, band: HealthBand) -> str:
        s = self.settings
        if band == HealthBand.CLOSE_WORST:
            return (
                f"closing the {s.close_worst_count} worst positions; stops tightened to "
                f"{s.tighten_to_pct}%; new entries refused"
            )
        if band == HealthBand.TIGHTEN:
            return f"stops tightened to {s.tighten_to_pct}%; new entries refused"
        return "new entries refused"

    async def _tighten_all(
        self, pairs: list[tuple[Position, OpenPosition]], health: PortfolioHealth, now: datetime
    ) -> None:
        distance = self.settings.tighten_to_pct
        for pos, _ in pairs:
            if not self.stops.tighten(pos, distance):
                continue
            stop = self.stops.get(pos.position_id)
            assert stop is not None
            log.warning(
                "trailing stop of %s tightened to %s%% (stop %s): health %.2f",
                pos.position_id,
                distance,
                stop.stop_price,
                health.score,
            )
            await self._publish(
                TightenStop(
                    key=SymbolKey.parse(pos.symbol),
                    position_id=pos.position_id,
                    distance_pct=distance,
                    stop_price=stop.stop_price,
                    reason=f"portfolio health {health.score:.2f} < {self.settings.tighten_below}",
                    at=now,
                )
            )

    async def _publish(self, event: Event) -> None:
        if self.bus is not None:
            await self.bus.publish(event)
