"""The confluence score: weighted secondary filters on a candidate signal.

Two rule sets, chosen by ``confluence.rules``: ``seed`` (the default) scores exactly as
seed 001 §5.6 (:mod:`tapeflow.strategy.confluence_seed`); ``tapeflow`` is the set below.
Both share the weights, the probability classes, the gate and the filter names.

Under ``tapeflow`` rules each filter passes or not; a passing filter adds its weight
(default weights in brackets, maximum 8.0). For SHORT every rule is mirrored.

=========================== ======================================================= =====
filter                      passes when (LONG)                                       [w]
=========================== ======================================================= =====
profile_position            entry ≤ POC (buying at or below the fair price)          1.5
mean_reversion_distance     |entry − EMA fast| ≤ ``max_ema_distance_atr`` × ATR     1.5
                            (not over-extended from the mean)
autocorrelation             lag-1 autocorrelation of returns > ``min_autocorrelation`` 1.0
                            (moves persist)
zone_quality                half for proximity — entry inside the zone's band —,     2.0
                            half for freshness — the zone is a ``demand`` zone with
                            status ``fresh`` (untested)
opposing_zone_target        an unbroken ``supply`` zone above the entry whose low is  0.5
                            ≥ ``min_reward_risk`` × (entry − stop) away: the nearest
                            one becomes the signal's target
fvg                         an ``open``/``partial`` bullish FVG whose nearer edge is  1.5
                            within ``fvg_max_distance_atr`` × ATR of the entry
=========================== ======================================================= =====

Probability from the score: ``high`` ≥ 7, ``medium`` ≥ 5, ``low`` ≥ 3, else ``none``
(thresholds configurable). Signals scoring below ``min_score`` are not emitted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tapeflow.config.strategy import ConfluenceSettings
from tapeflow.strategy.confluence_seed import seed_filters
from tapeflow.strategy.inputs import Direction, Gap, IndicatorRow, ProfileSummary, Zone
from tapeflow.strategy.levels import LevelResult, to_decimal
from tapeflow.strategy.targets import opposing_target


@dataclass(frozen=True, slots=True)
class Confluence:
    """Score (0 – sum of weights), probability class, per-filter detail and the target."""

    score: float
    probability: str
    filters: dict[str, dict[str, Any]]
    target: Decimal | None


def probability(score: float, s: ConfluenceSettings) -> str:
    """``high`` / ``medium`` / ``low`` / ``none`` for a score (thresholds inclusive)."""
    if score >= s.high:
        return "high"
    if score >= s.medium:
        return "medium"
    if score >= s.low:
        return "low"
    return "none"


def _gap_distance(entry: Decimal, gap: Gap) -> Decimal:
    if gap.low <= entry <= gap.high:
        return Decimal(0)
    return min(abs(entry - gap.low), abs(entry - gap.high))


def confluence(
    direction: Direction,
    entry: Decimal,
    stop: Decimal,
    zone: Zone,
    row: IndicatorRow,
    profile: ProfileSummary | None,
    zones: Sequence[Zone],
    gaps: Sequence[Gap],
    s: ConfluenceSettings,
) -> Confluence:
    """Score a candidate signal under ``s.rules`` (``seed``: seed 001 §5.6; ``tapeflow``:
    the module docstring's rules). Arguments as :func:`tapeflow_confluence`; the target is
    :func:`~tapeflow.strategy.targets.opposing_target` under either rule set."""
    if s.rules == "tapeflow":
        return tapeflow_confluence(direction, entry, stop, zone, row, profile, zones, gaps, s)
    filters = seed_filters(direction, entry, row, profile, zones, gaps, s)
    target = opposing_target(direction, entry, stop, zones, to_decimal(s.min_reward_risk))
    filters["opposing_zone_target"]["target"] = target
    score = round(sum(f["points"] for f in filters.values()), 10)
    return Confluence(score, probability(score, s), filters, target)


def tapeflow_confluence(
    direction: Direction,
    entry: Decimal,
    stop: Decimal,
    zone: Zone,
    row: IndicatorRow,
    profile: ProfileSummary | None,
    zones: Sequence[Zone],
    gaps: Sequence[Gap],
    s: ConfluenceSettings,
) -> Confluence:
    """Score a candidate signal under tapeflow's rules (the module docstring).

    Args:
        entry: entry price (close of the evaluated candle), quote. stop: its stop, quote.
        zone: the zone traded from (level 2). row: longest-timeframe indicators.
        profile: market profile summary (``None``: the profile filter fails).
        zones: every supply/demand zone known now. gaps: every FVG known now (longest TF).
    """
    w = s.weights
    long = direction == "long"
    filters: dict[str, dict[str, Any]] = {}

    def put(name: str, weight: float, share: float, **detail: Any) -> None:
        filters[name] = {"passed": share > 0, "points": weight * share, **detail}

    # market profile position
    if profile is None:
        put("profile_position", w.profile_position, 0.0, poc=None)
    else:
        ok = entry <= profile.poc if long else entry >= profile.poc
        put("profile_position", w.profile_position, float(ok), poc=profile.poc)

    # mean-reversion distance from EMA fast, in ATRs
    if row.atr and row.ema_fast is not None:
        dist = abs(float(entry) - row.ema_fast) / row.atr
        put(
            "mean_reversion_distance",
            w.mean_reversion_distance,
            float(dist <= s.max_ema_distance_atr),
            distance_atr=dist,
        )
    else:
        put("mean_reversion_distance", w.mean_reversion_distance, 0.0, distance_atr=None)

    # autocorrelation of returns
    ac = row.autocorrelation
    put(
        "autocorrelation",
        w.autocorrelation,
        float(ac is not None and ac > s.min_autocorrelation),
        value=ac,
    )

    # zone proximity / freshness
    own = "demand" if long else "supply"
    inside = zone.low <= entry <= zone.high
    fresh = zone.kind == own and zone.status == "fresh"
    put(
        "zone_quality",
        w.zone_quality,
        0.5 * inside + 0.5 * fresh,
        inside=inside,
        fresh=fresh,
        kind=zone.kind,
    )

    # opposing zone as target
    target = opposing_target(direction, entry, stop, zones, to_decimal(s.min_reward_risk))
    put("opposing_zone_target", w.opposing_zone_target, float(target is not None), target=target)

    # FVG in the trade direction
    want = "bullish" if long else "bearish"
    reach = to_decimal(s.fvg_max_distance_atr * row.atr) if row.atr else None
    near = [
        g
        for g in gaps
        if g.direction == want
        and g.status in ("open", "partial")
        and reach is not None
        and _gap_distance(entry, g) <= reach
    ]
    put("fvg", w.fvg, float(bool(near)), gaps=len(near))

    score = round(sum(f["points"] for f in filters.values()), 10)
    return Confluence(score, probability(score, s), filters, target)


def confluence_level(c: Confluence, s: ConfluenceSettings) -> LevelResult:
    """Gate: passes when ``score >= min_score``."""
    passed = c.score >= s.min_score
    return LevelResult(
        "confluence",
        passed,
        f"confluence {c.score:g} {'>=' if passed else '<'} {s.min_score:g} ({c.probability})",
        {"score": c.score, "probability": c.probability, "filters": c.filters, "target": c.target},
        value=c.score,
    )
