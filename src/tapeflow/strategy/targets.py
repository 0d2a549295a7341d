"""The signal's profit target: the nearest opposing zone far enough away."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from tapeflow.strategy.inputs import Direction, Zone


def opposing_target(
    direction: Direction,
    entry: Decimal,
    stop: Decimal,
    zones: Sequence[Zone],
    min_reward_risk: Decimal,
) -> Decimal | None:
    """The nearest unbroken opposing zone edge (LONG: a ``supply`` zone's low above the
    entry; SHORT: a ``demand`` zone's high below it) whose distance from ``entry`` is ≥
    ``min_reward_risk`` × the risk ``|entry − stop|``; None when there is none.

    Prices in quote; ``min_reward_risk`` is a multiple of the risk (1.0 = 1R).
    """
    long = direction == "long"
    risk = entry - stop if long else stop - entry
    need = min_reward_risk * risk
    other = "supply" if long else "demand"
    targets = []
    for z in zones:
        if z.kind != other or z.status == "broken":
            continue
        edge = z.low if long else z.high
        reward = edge - entry if long else entry - edge
        if risk > 0 and reward >= need:
            targets.append((reward, edge))
    return min(targets)[1] if targets else None
