"""The confluence rules of seed 001 §5.6, exactly (the default: ``confluence.rules: seed``).

``price`` is the entry (the close of the evaluated candle). Each filter earns its weight
(default weights in brackets, maximum 8.0 — the seed's comment says 10.0, its weights sum
to 8.0) or a share of it; numbers from :class:`~tapeflow.config.strategy.SeedConfluenceSettings`.

=================== ======================================================================
filter              points (LONG; SHORT as the seed's code, see below)
=================== ======================================================================
market profile      [1.5] at the value-area extreme: ``|price − VAL| < 0.05 × (VAH − VAL)``
                    (SHORT: at VAH); else 0.5 (1/3) when ``VAL ≤ price ≤ VAH``; else 0.
                    No profile (or a zero POC/VAH/VAL): 0.
mean reversion      [1.5] ``d = (price − EMA) / σ`` (the indicators' ``mean_reversion_ema``
                    and ``mean_reversion_sigma``): ``d ≤ −2`` full, ``d ≤ −1`` 0.75; SHORT
                    ``d ≥ 2`` / ``d ≥ 1`` (reverting towards the mean). σ undefined: 0.
autocorrelation     [1.0] ``|r| > 0.6`` (trend) or ``|r| < 0.3`` (range): full; else 0.5.
                    r undefined (warming up): 0.
demand zone         [2.0] LONG only: the nearest ``demand`` zone whose high ≤ price; if
                    ``(price − high) / price ≤ 0.5 %``: untouched 2.0, 1–2 touches 1.0,
                    more 0. SHORT: 0 (the seed scores demand zones for longs only).
supply zone         [0.5] LONG: any ``supply`` zone whose low > price; SHORT: any ``supply``
                    zone whose high < price (the seed's code, literally).
fvg                 [1.5] LONG: a bullish unfilled FVG whose low > price; SHORT: a bearish
                    one whose high < price.
=================== ======================================================================

The seed's code tests mean-reversion direction strictly (``d < −2.0``) after ``|d| ≥ 2.0``;
the stated rule "beyond 2σ" is taken inclusively (``≥``), so exactly 2σ earns full weight.
The signal's target is the nearest supply zone (SHORT: demand zone) at least
``min_reward_risk`` × risk away (:func:`tapeflow.strategy.targets.opposing_target`).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tapeflow.config.strategy import ConfluenceSettings
from tapeflow.strategy.inputs import Direction, Gap, IndicatorRow, ProfileSummary, Zone


def _profile_share(
    long: bool, price: Decimal, profile: ProfileSummary | None, edge: float, inside: float
) -> tuple[float, str]:
    if profile is None or not all((profile.vah, profile.val, profile.poc)):
        return 0.0, "no profile"
    vah, val = profile.vah, profile.val
    band = (vah - val) * Decimal(repr(edge))
    extreme = val if long else vah
    if abs(price - extreme) < band:
        return 1.0, "at VAL" if long else "at VAH"
    if val <= price <= vah:
        return inside, "inside value area"
    return 0.0, "outside value area"


def _reversion(long: bool, row: IndicatorRow, price: Decimal, full: float, partial: float):
    mean, sigma = row.mean_reversion_ema, row.mean_reversion_sigma
    if mean is None or not sigma:
        return None, 0.0
    d = (float(price) - mean) / sigma
    toward = -d if long else d  # distance on the side a reversion would move with us
    if toward >= full:
        return d, 1.0
    if toward >= partial:
        return d, None  # partial share
    return d, 0.0


def seed_filters(
    direction: Direction,
    entry: Decimal,
    row: IndicatorRow,
    profile: ProfileSummary | None,
    zones: Sequence[Zone],
    gaps: Sequence[Gap],
    s: ConfluenceSettings,
) -> dict[str, dict[str, Any]]:
    """Per-filter ``{"passed", "points", detail...}`` under the seed's rules (module
    docstring); filter names are those of the ``tapeflow`` rules, so decision logs compare.

    Args:
        entry: the price scored (quote). row: longest-timeframe indicators. profile:
            market profile (None: 0 points). zones: live supply/demand zones. gaps: live
            (unfilled) FVGs of the longest timeframe.
    """
    w, k = s.weights, s.seed
    long = direction == "long"
    filters: dict[str, dict[str, Any]] = {}

    def put(name: str, weight: float, share: float, **detail: Any) -> None:
        points = round(weight * share, 10)
        filters[name] = {"passed": points > 0, "points": points, **detail}

    share, where = _profile_share(long, entry, profile, k.value_area_edge, k.inside_value_share)
    put("profile_position", w.profile_position, share, position=where)

    d, share = _reversion(long, row, entry, k.reversion_full_sigma, k.reversion_partial_sigma)
    share = k.reversion_partial_share if share is None else share
    put("mean_reversion_distance", w.mean_reversion_distance, share, distance_sigma=d)

    r = row.autocorrelation
    if r is None:
        share = 0.0
    elif abs(r) > k.autocorrelation_trend or abs(r) < k.autocorrelation_range:
        share = 1.0
    else:
        share = k.autocorrelation_mid_share
    put("autocorrelation", w.autocorrelation, share, value=r)

    share, touches, distance_pct = 0.0, None, None
    if long:
        below = [z for z in zones if z.kind == "demand" and z.high <= entry]
        if below:
            nearest = min(below, key=lambda z: entry - z.high)
            gap = entry - nearest.high
            distance_pct = float(gap / entry * 100)
            touches = nearest.touches
            if gap * 100 <= Decimal(repr(k.zone_max_distance_pct)) * entry:
                if touches == 0:
                    share = 1.0
                elif touches <= k.zone_tested_max_touches:
                    share = k.zone_tested_share
    put("zone_quality", w.zone_quality, share, distance_pct=distance_pct, touches=touches)

    supply = [z for z in zones if z.kind == "supply"]
    found = any(z.low > entry for z in supply) if long else any(z.high < entry for z in supply)
    put("opposing_zone_target", w.opposing_zone_target, float(found))

    if long:
        fvg = any(g.direction == "bullish" and g.low > entry for g in gaps)
    else:
        fvg = any(g.direction == "bearish" and g.high < entry for g in gaps)
    put("fvg", w.fvg, float(fvg))
    return filters
