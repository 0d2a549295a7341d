"""Take-profit targets: where a position exits with its profit.

A target is fixed when the position is opened, from the signal and the symbol's risk
settings (``take_profit``, ``risk_reward``):

    risk      = |entry − stop|                       (quote; the distance sizing risks)
    long:  target = entry + risk_reward × risk
    short: target = entry − risk_reward × risk

with ``entry`` the signal's reference entry price and ``stop`` its stop at the zone
boundary (seed 001 §6.1–6.2: R:R 1.5 for Config 1, 2.0 for Config 2; "quick profit
targets"). The signal's own target (the nearest opposing zone, see
:mod:`tapeflow.strategy.confluence`) is used instead when ``take_profit`` asks for it and
it lies beyond the entry. Exact :class:`~decimal.Decimal` arithmetic, not rounded to the
price tick (a target is a trigger level, like a stop).
"""

from __future__ import annotations

from decimal import Decimal

from tapeflow.config.execution import RiskSettings
from tapeflow.model.signals import TradeSignal


def risk_reward_target(
    direction: str, entry: Decimal, stop: Decimal, risk_reward: Decimal
) -> Decimal | None:
    """``entry ± risk_reward × |entry − stop|`` (quote); None when the stop is not on the
    losing side of the entry (no risk to scale)."""
    risk = entry - stop if direction == "long" else stop - entry
    if risk <= 0:
        return None
    return entry + risk_reward * risk if direction == "long" else entry - risk_reward * risk


def take_profit_price(signal: TradeSignal, risk: RiskSettings) -> Decimal | None:
    """The take-profit target of a position opened on ``signal`` (quote), or None.

    Modes (``risk.take_profit``): ``signal_or_risk_reward`` — the signal's target if it
    lies beyond the entry, else the risk:reward target; ``signal`` — the signal's target
    only; ``risk_reward`` — the risk:reward target only; ``off`` — none.
    """
    mode = risk.take_profit
    if mode == "off":
        return None
    own = signal.target
    entry = signal.entry_price
    if own is not None and not (own > entry if signal.direction == "long" else own < entry):
        own = None
    if mode == "signal" or (mode == "signal_or_risk_reward" and own is not None):
        return own
    return risk_reward_target(
        signal.direction, signal.entry_price, signal.stop_loss, risk.risk_reward
    )
