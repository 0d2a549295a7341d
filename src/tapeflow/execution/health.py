"""The portfolio health score (0–100) and the action each score calls for.

Seed 001 §8.3 fixes the cadence (every 10 s), the bands and their actions — below 70 no new
entries, below 50 every trailing stop tightened to 0.3 %, below 30 the two positions with
the worst unrealised P&L closed — and the inputs of its ``PortfolioHealth`` snapshot (open
positions, unrealised P&L, daily drawdown), but not the formula. tapeflow scores those
inputs as three penalties, each scaled to 0–1 against the daily circuit-breaker drawdown
``cb`` (5 % by default) and weighted (:class:`~tapeflow.config.execution.HealthWeights`,
default 50 / 30 / 20)::

    drawdown    = min(1, daily_drawdown_pct / cb)
    open_loss   = min(1, open_loss_pct / cb)        open_loss_pct = max(0, −Σ upnl) / equity × 100
    losing      = open positions with upnl < 0 / open positions
    score       = 100 − 50·drawdown − 30·open_loss − 20·losing          (clamped to 0..100)

``upnl`` is a position's unrealised P&L at the last trade price, quote currency, fees
excluded: ``(mark − entry) × quantity × contract_size`` (× −1 for a short). So a portfolio
at its day start with every position in profit scores 100; one at the circuit breaker with
open losses of 5 % of equity and every position losing scores 0; a 2 % daily drawdown alone
costs 20 points, and together with open losses of 1 % (6) and every position losing (20) it
falls to 54.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import IntEnum

from tapeflow.config.execution import PortfolioHealthSettings

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


class HealthBand(IntEnum):
    """What a score calls for, ordered by severity (each band includes the milder ones)."""

    HEALTHY = 0
    STOP_ENTRIES = 1
    TIGHTEN = 2
    CLOSE_WORST = 3


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """One open position as the score sees it.

    Attributes:
        position_id: its id.
        upnl: unrealised P&L at the last trade price, quote currency (fees excluded).
    """

    position_id: str
    upnl: Decimal


@dataclass(frozen=True, slots=True)
class PortfolioHealth:
    """One health snapshot (seed 001 §8.3 ``PortfolioHealth``).

    Attributes:
        at: when it was taken (UTC; the engine's clock).
        score: 0–100, exact.
        positions: open positions scored.
        unrealized_pnl: their total unrealised P&L, quote currency.
        daily_drawdown_pct: daily drawdown in percent of the UTC-day start equity.
        open_loss_pct: open (unrealised) loss in percent of equity, ≥ 0.
        losing_share: share of open positions at a loss, 0–1.
        band: the action the score calls for.
    """

    at: datetime
    score: Decimal
    positions: int
    unrealized_pnl: Decimal
    daily_drawdown_pct: Decimal
    open_loss_pct: Decimal
    losing_share: Decimal
    band: HealthBand


def unrealized_pnl(
    direction: str, entry: Decimal, mark: Decimal, quantity: Decimal, contract_size: Decimal = ONE
) -> Decimal:
    """Unrealised P&L in quote currency: ``(mark − entry) × quantity × contract_size``,
    negated for a short (``direction`` ``"long"``/``"short"``)."""
    gross = (mark - entry) * quantity * contract_size
    return gross if direction == "long" else -gross


def band_for(score: Decimal, settings: PortfolioHealthSettings) -> HealthBand:
    """The band of ``score``: strictly below a threshold falls in it (a score of exactly
    70 still allows entries)."""
    if score < settings.close_worst_below:
        return HealthBand.CLOSE_WORST
    if score < settings.tighten_below:
        return HealthBand.TIGHTEN
    if score < settings.stop_entries_below:
        return HealthBand.STOP_ENTRIES
    return HealthBand.HEALTHY


def score_health(
    positions: Iterable[OpenPosition],
    *,
    equity: Decimal,
    daily_drawdown_pct: Decimal,
    circuit_breaker_pct: Decimal,
    settings: PortfolioHealthSettings,
    at: datetime,
) -> PortfolioHealth:
    """Score the portfolio (formula in the module docstring).

    Args:
        positions: the open positions with their unrealised P&L.
        equity: account equity now, quote currency (balance plus unrealised P&L).
        daily_drawdown_pct: percent below the UTC-day start equity (≥ 0).
        circuit_breaker_pct: the daily drawdown that trips the breaker (scales the
            penalties; > 0).
        settings: weights and thresholds.
        at: the time of the snapshot (UTC).

    Raises:
        ValueError: if ``circuit_breaker_pct`` is not positive.
    """
    if circuit_breaker_pct <= 0:
        raise ValueError(f"circuit_breaker_pct must be positive, got {circuit_breaker_pct}")
    items = list(positions)
    total = sum((p.upnl for p in items), ZERO)
    open_loss_pct = max(ZERO, -total) / equity * HUNDRED if equity > 0 else HUNDRED
    losing = sum(1 for p in items if p.upnl < 0)
    losing_share = Decimal(losing) / Decimal(len(items)) if items else ZERO
    w = settings.weights
    penalty = (
        w.drawdown * min(ONE, max(ZERO, daily_drawdown_pct) / circuit_breaker_pct)
        + w.open_loss * min(ONE, open_loss_pct / circuit_breaker_pct)
        + w.losing_share * losing_share
    )
    score = min(HUNDRED, max(ZERO, HUNDRED - penalty))
    return PortfolioHealth(
        at=at,
        score=score,
        positions=len(items),
        unrealized_pnl=total,
        daily_drawdown_pct=daily_drawdown_pct,
        open_loss_pct=open_loss_pct,
        losing_share=losing_share,
        band=band_for(score, settings),
    )


def worst(positions: Iterable[OpenPosition], count: int) -> list[OpenPosition]:
    """The ``count`` positions with the lowest unrealised P&L (ties by position id, so the
    choice is deterministic)."""
    return sorted(positions, key=lambda p: (p.upnl, p.position_id))[:count]
