"""The four levels of the hierarchical strategy, as pure functions over small inputs.

Each returns a :class:`LevelResult` (pass/fail, the reason in words, and the metrics it
decided on, as recorded in the decision log). Defaults come from
:mod:`tapeflow.config.strategy`; every comparison is strict unless stated, so a value sitting
exactly on a threshold does **not** pass (e.g. ADX = 20 is not "< 20": not ranging by ADX;
fast imbalance = 2.0 is not "> 2.0": no LONG cascade).

1. :func:`regime_level` — longest timeframe: ranging / uptrend (LONG) / downtrend (SHORT).
2. :func:`zone_level` — longest timeframe: is price at a demand zone / POC / VAL (LONG) or
   a supply zone / POC / VAH (SHORT)?
3. :func:`cascade_level` — order-flow imbalance rising from the longest to the fastest window.
4. :func:`bounce_level` — the last fastest candle rejected the zone on a volume spike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any, Literal

from tapeflow.config.strategy import BounceSettings, CascadeSettings, RegimeSettings, ZoneSettings
from tapeflow.strategy.inputs import Bar, Direction, Flow, IndicatorRow, ProfileSummary, Zone

LEVELS: tuple[str, ...] = ("regime", "zone", "cascade", "bounce", "confluence")


@dataclass(frozen=True, slots=True)
class LevelResult:
    """Outcome of one level.

    Attributes:
        level: ``regime`` / ``zone`` / ``cascade`` / ``bounce`` / ``confluence``.
        passed: whether the evaluation may continue to the next level.
        reason: why, in words (for ``tapeflow explain``).
        metrics: the values it decided on (JSON-able after :func:`~tapeflow.strategy.jsonable.
            jsonable`).
        direction: regime only: ``long`` / ``short`` when trending.
        zone: zone only: the zone chosen. stop: zone only: the stop price (quote).
        tolerance: zone only: the distance tolerance used (quote).
        value: the level's headline number (bounce strength, fast imbalance, ...).
    """

    level: str
    passed: bool
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)
    direction: Direction | None = None
    zone: Zone | None = None
    stop: Decimal | None = None
    tolerance: Decimal | None = None
    value: float | None = None


def to_decimal(x: float) -> Decimal:
    """A float as the shortest decimal that round-trips (``0.1`` → ``Decimal("0.1")``)."""
    return Decimal(repr(float(x)))


# --------------------------------------------------------------------------- 1. regime


def regime_level(
    row: IndicatorRow,
    s: RegimeSettings,
    *,
    data_gap: tuple[datetime, datetime] | None = None,
) -> LevelResult:
    """Level 1: the longest timeframe's regime.

    Rule: *ranging* if any of ``adx < min_adx`` (trend too weak), ``atr_pct <
    min_atr_pct`` (too quiet), ``hurst < min_hurst`` (not persistent), ``mean_reversion >
    max_mean_reversion`` (reverts to its mean too readily). Otherwise *uptrend* (LONG) if
    ``ema_fast > ema_mid > ema_slow`` and ``close > ema_fast``; *downtrend* (SHORT) if
    ``ema_fast < ema_mid < ema_slow`` and ``close < ema_fast``; else ranging. ``close`` is the
    close of the last closed longest-timeframe candle.

    A ``mean_reversion`` of ``None`` (no 2σ excursion resolved in its window) is no evidence
    of mean reversion and does not make the market ranging. Any other indicator ``None``
    (history too short) fails the level as ``warming_up``; with ``data_gap`` (the last
    candle before and first after the data gap the features restarted at, UTC) the reason
    says so: the indicators are warming up again after a break in the data.

    Returns:
        passed with ``direction`` set when trending; metrics ``regime`` (uptrend /
        downtrend / ranging / warming_up), ``ranging_because`` and every input.
    """
    metrics: dict[str, Any] = {
        "candle": row.open_time,
        "close": row.close,
        "ema_fast": row.ema_fast,
        "ema_mid": row.ema_mid,
        "ema_slow": row.ema_slow,
        "atr": row.atr,
        "atr_pct": row.atr_pct,
        "adx": row.adx,
        "hurst": row.hurst,
        "mean_reversion": row.mean_reversion,
    }
    required = ("close", "ema_fast", "ema_mid", "ema_slow", "atr_pct", "adx", "hurst")
    missing = [k for k in required if metrics[k] is None or math.isnan(metrics[k])]
    if missing:
        metrics["regime"] = "warming_up"
        why = "warming up"
        if data_gap is not None:
            before, after = data_gap
            metrics["data_gap"] = [before, after]
            why = (
                f"warming up after a data gap (no data between {before:%Y-%m-%d %H:%M} and "
                f"{after:%Y-%m-%d %H:%M} UTC)"
            )
        return LevelResult("regime", False, f"{why}: {', '.join(missing)} not yet defined", metrics)
    close, fast, mid, slow = row.close, row.ema_fast, row.ema_mid, row.ema_slow
    adx, atr_pct, hurst = row.adx, row.atr_pct, row.hurst
    # every one is defined: ``missing`` above returned otherwise
    assert close is not None and fast is not None and mid is not None and slow is not None
    assert adx is not None and atr_pct is not None and hurst is not None
    because = []
    if adx < s.min_adx:
        because.append(f"adx {adx:.4g} < {s.min_adx:g}")
    if atr_pct < s.min_atr_pct:
        because.append(f"atr% {atr_pct:.4g} < {s.min_atr_pct:g}")
    if hurst < s.min_hurst:
        because.append(f"hurst {hurst:.4g} < {s.min_hurst:g}")
    if row.mean_reversion is not None and row.mean_reversion > s.max_mean_reversion:
        because.append(f"mean reversion {row.mean_reversion:.4g} > {s.max_mean_reversion:g}")
    if not because:
        if fast > mid > slow and close > fast:
            metrics.update(regime="uptrend", ranging_because=[])
            return LevelResult(
                "regime",
                True,
                "uptrend: EMA stack rising, close above EMA fast",
                metrics,
                direction="long",
            )
        if fast < mid < slow and close < fast:
            metrics.update(regime="downtrend", ranging_because=[])
            return LevelResult(
                "regime",
                True,
                "downtrend: EMA stack falling, close below EMA fast",
                metrics,
                direction="short",
            )
        because.append("EMAs not stacked with close beyond EMA fast")
    metrics.update(regime="ranging", ranging_because=because)
    return LevelResult("regime", False, "ranging: " + "; ".join(because), metrics)


# --------------------------------------------------------------------------- 2. zone


def zone_tolerance(close: Decimal, atr: float, s: ZoneSettings) -> Decimal:
    """``max(atr_multiple × ATR, max_distance_pct % × close)`` in quote units."""
    return max(to_decimal(s.atr_multiple * atr), close * to_decimal(s.max_distance_pct) / 100)


def profile_zones(profile: ProfileSummary, direction: Direction, strength: float) -> list[Zone]:
    """The profile levels a direction trades from, as bands ``[L, L + bucket_size]``:
    VAL and POC for LONG, VAH and POC for SHORT."""
    names: tuple[Literal["val", "vah"], Literal["poc"]] = (
        ("val", "poc") if direction == "long" else ("vah", "poc")
    )
    return [
        Zone(n, getattr(profile, n), getattr(profile, n) + profile.bucket_size, strength, "level")
        for n in names
    ]


def at_zone(direction: Direction, close: Decimal, zone: Zone, tol: Decimal) -> bool:
    """The distance rule: LONG ``low < close <= high + tol`` (inside a support band or up to
    ``tol`` above it — not below it, which would be a break); SHORT ``low - tol <= close <
    high``."""
    if direction == "long":
        return zone.low < close <= zone.high + tol
    return zone.low - tol <= close < zone.high


def zone_distance(direction: Direction, close: Decimal, zone: Zone) -> Decimal:
    """How far ``close`` sits beyond the band on the trade's side (0 inside; quote)."""
    if direction == "long":
        return max(close - zone.high, Decimal(0))
    return max(zone.low - close, Decimal(0))


def zone_level(
    direction: Direction,
    close: Decimal,
    atr: float | None,
    zones: Sequence[Zone],
    profile: ProfileSummary | None,
    s: ZoneSettings,
    price_step: Decimal | None = None,
) -> LevelResult:
    """Level 2: is price at a zone the direction trades from?

    Candidates: for LONG, supply/demand zones of kind ``demand`` and for SHORT of kind
    ``supply``, not ``broken``, with ``strength >= min_zone_strength``; plus (when
    ``use_profile_levels``) the profile's VAL and POC (LONG) or VAH and POC (SHORT) bands with
    strength ``profile_level_strength``. A candidate qualifies under :func:`at_zone` with
    ``tol`` from :func:`zone_tolerance`. The strongest qualifying zone wins (ties: the nearer,
    then the first listed). The stop is the zone's far boundary — ``low`` for LONG, ``high``
    for SHORT — moved away by ``stop_buffer_atr × ATR`` rounded outward to ``price_step``.

    Args:
        close: price now (close of the evaluated fastest candle), quote.
        atr: ATR of the longest timeframe (quote); ``None`` fails the level.
        zones: supply/demand zones known now (any kind; filtered here).
        profile: the market profile summary, or ``None`` if unavailable.
        price_step: exchange tick size for rounding a buffered stop.
    """
    metrics: dict[str, Any] = {"direction": direction, "close": close, "atr": atr}
    if profile is not None:
        metrics.update(
            poc=profile.poc,
            vah=profile.vah,
            val=profile.val,
            bucket_size=profile.bucket_size,
            profile_start=profile.start,
            profile_end=profile.end,
        )
    if atr is None or math.isnan(atr):
        return LevelResult("zone", False, "ATR not yet defined", metrics)
    tol = zone_tolerance(close, atr, s)
    want = "demand" if direction == "long" else "supply"
    candidates = [
        z
        for z in zones
        if z.kind == want and z.status != "broken" and z.strength >= s.min_zone_strength
    ]
    if s.use_profile_levels and profile is not None:
        candidates += profile_zones(profile, direction, s.profile_level_strength)
    reach = [z for z in candidates if at_zone(direction, close, z, tol)]
    metrics.update(tolerance=tol, candidates=len(candidates), in_reach=len(reach))
    if not reach:
        return LevelResult(
            "zone",
            False,
            f"no {want} zone{' or profile level' if s.use_profile_levels else ''} within "
            f"{tol} of {close} ({len(candidates)} candidates)",
            metrics,
            tolerance=tol,
        )
    best = max(
        enumerate(reach),
        key=lambda iz: (iz[1].strength, -zone_distance(direction, close, iz[1]), -iz[0]),
    )[1]
    buffer = to_decimal(s.stop_buffer_atr * atr)
    if price_step and buffer:
        buffer = (buffer / price_step).to_integral_value(ROUND_CEILING) * price_step
    stop = best.low - buffer if direction == "long" else best.high + buffer
    metrics["zone"] = {
        "kind": best.kind,
        "low": best.low,
        "high": best.high,
        "strength": best.strength,
        "status": best.status,
        "first_seen": best.first_seen,
        "distance": zone_distance(direction, close, best),
    }
    metrics["stop"] = stop
    return LevelResult(
        "zone",
        True,
        f"at {best.kind} zone [{best.low}, {best.high}] (strength {best.strength:g})",
        metrics,
        zone=best,
        stop=stop,
        tolerance=tol,
    )


# --------------------------------------------------------------------------- 3. cascade


def cascade_level(direction: Direction, flow: Flow, s: CascadeSettings) -> LevelResult:
    """Level 3: the order-flow cascade.

    Imbalance = taker-buy volume / taker-sell volume over the trailing fastest, middle and
    longest timeframe windows ending at the evaluated candle's close. LONG needs ``fast >
    middle > longest`` and ``fast > min_fast_imbalance``; SHORT needs ``fast < middle <
    longest`` and ``fast < max_fast_imbalance``. An undefined imbalance (``None``: no volume
    in the window) fails.
    """
    metrics: dict[str, Any] = {
        "direction": direction,
        "fast": flow.fast,
        "middle": flow.middle,
        "longest": flow.longest,
    }
    f, m, lo = flow.fast, flow.middle, flow.longest
    if f is None or m is None or lo is None:
        return LevelResult("cascade", False, "imbalance undefined (no volume in a window)", metrics)
    if direction == "long":
        ordered, strong = f > m > lo, f > s.min_fast_imbalance
        rule = f"fast > middle > longest and fast > {s.min_fast_imbalance:g}"
    else:
        ordered, strong = f < m < lo, f < s.max_fast_imbalance
        rule = f"fast < middle < longest and fast < {s.max_fast_imbalance:g}"
    metrics.update(ordered=ordered, strong=strong)
    passed = ordered and strong
    text = f"imbalance fast {f:.4g}, middle {m:.4g}, longest {lo:.4g}"
    return LevelResult(
        "cascade", passed, f"{text}: {'meets' if passed else 'fails'} {rule}", metrics, value=f
    )


# --------------------------------------------------------------------------- 4. bounce


def bounce_strength(
    direction: Direction, bar: Bar, zone: Zone, tol: Decimal, wick_weight: float
) -> float:
    """How firmly ``bar`` rejected ``zone``, 0–1.

    LONG: if the bar reached the zone (``low <= zone.high + tol``), ``wick_weight ×
    (min(open, close) − low) / range + (1 − wick_weight) × (close − low) / range`` — the lower
    (rejection) wick's share of the range blended with where in the range it closed; else
    0. SHORT mirrors: ``high >= zone.low − tol``, upper wick ``(high − max(open, close))`` and
    ``(high − close)``. A bar with zero range scores 0.
    """
    rng = bar.high - bar.low
    if rng <= 0:
        return 0.0
    if direction == "long":
        if bar.low > zone.high + tol:
            return 0.0
        wick, loc = min(bar.open, bar.close) - bar.low, bar.close - bar.low
    else:
        if bar.high < zone.low - tol:
            return 0.0
        wick, loc = bar.high - max(bar.open, bar.close), bar.high - bar.close
    return float((to_decimal(wick_weight) * wick + (1 - to_decimal(wick_weight)) * loc) / rng)


def volume_spike(volume: Decimal, previous_volume: Decimal | None, lookback: int) -> float | None:
    """``volume / (previous_volume / lookback)``: the candle's volume over the mean volume of
    the ``lookback`` candles before it (``previous_volume`` = their total, intervals without
    trades counting 0). ``None`` when the history does not cover them; ``inf`` when they
    traded nothing but this candle did; 0 when neither did."""
    if previous_volume is None:
        return None
    if previous_volume == 0:
        return math.inf if volume > 0 else 0.0
    return float(volume * lookback / previous_volume)


def bounce_level(
    direction: Direction,
    bar: Bar | None,
    previous_volume: Decimal | None,
    zone: Zone,
    tol: Decimal,
    s: BounceSettings,
) -> LevelResult:
    """Level 4: bounce strength of the evaluated candle > ``min_strength`` and its volume
    spike > ``min_volume_spike`` (see :func:`bounce_strength`, :func:`volume_spike`).

    Args:
        bar: the evaluated closed fastest-timeframe candle; ``None`` if it had no trades
            (fails: nothing bounced).
        previous_volume: total volume of the ``volume_lookback`` candles before it, or
            ``None`` when the stored history does not reach back that far.
    """
    if bar is None:
        return LevelResult("bounce", False, "no trades in the evaluated candle", {})
    strength = bounce_strength(direction, bar, zone, tol, s.wick_weight)
    spike = volume_spike(bar.volume, previous_volume, s.volume_lookback)
    metrics: dict[str, Any] = {
        "candle": bar.open_time,
        "open": bar.open,
        "high": bar.high,
        "low": bar.low,
        "close": bar.close,
        "volume": bar.volume,
        "previous_volume": previous_volume,
        "strength": strength,
        "volume_spike": spike,
    }
    if spike is None:
        return LevelResult(
            "bounce",
            False,
            f"need {s.volume_lookback} previous candles of history for the volume spike",
            metrics,
            value=strength,
        )
    ok_strength, ok_spike = strength > s.min_strength, spike > s.min_volume_spike
    passed = ok_strength and ok_spike
    reason = (
        f"bounce strength {strength:.3f} {'>' if ok_strength else '<='} {s.min_strength:g}, "
        f"volume spike {spike:.3g} {'>' if ok_spike else '<='} {s.min_volume_spike:g}"
    )
    return LevelResult("bounce", passed, reason, metrics, value=strength)
