"""Thresholds of the hierarchical strategy (regime → zone → cascade → bounce) and its
confluence score. Defaults are tapeflow's own thresholds (the confluence score's are seed
001 §5.6); every rule is documented in ``docs/strategy.md`` and in
:mod:`tapeflow.strategy.levels`.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from tapeflow.config.base import Section


class IndicatorSettings(Section):
    """Indicator periods on the longest timeframe (in candles of that timeframe); the
    definitions are those of :mod:`tapeflow.analytics.indicators`.

    Attributes:
        ema_fast / ema_mid / ema_slow: EMA periods of the trend stack (20 / 50 / 200).
        atr_period: ATR period, Wilder smoothing (14).
        adx_period: ADX period, Wilder 1978 (14).
        hurst_window: log returns in the rescaled-range Hurst estimate (100, ≥ 32).
        autocorrelation_window: return pairs in the lag-1 autocorrelation (100).
        mean_reversion_ema: EMA the mean-reversion strength measures returns to (20).
        mean_reversion_window: candles over which excursions are scored (100).
        mean_reversion_sigma: an excursion is a deviation ≥ this many σ (2.0).
        mean_reversion_horizon: candles an excursion has to revert (20).
    """

    ema_fast: int = Field(20, ge=2, le=1000)
    ema_mid: int = Field(50, ge=2, le=1000)
    ema_slow: int = Field(200, ge=2, le=2000)
    atr_period: int = Field(14, ge=2, le=500)
    adx_period: int = Field(14, ge=2, le=500)
    hurst_window: int = Field(100, ge=32, le=5000)
    autocorrelation_window: int = Field(100, ge=3, le=5000)
    mean_reversion_ema: int = Field(20, ge=2, le=1000)
    mean_reversion_window: int = Field(100, ge=2, le=5000)
    mean_reversion_sigma: float = Field(2.0, gt=0, le=10)
    mean_reversion_horizon: int = Field(20, ge=1, le=1000)

    @model_validator(mode="after")
    def _ema_order(self) -> Self:
        if not self.ema_fast < self.ema_mid < self.ema_slow:
            raise ValueError(
                "EMA periods must be ordered ema_fast < ema_mid < ema_slow "
                f"(got {self.ema_fast}, {self.ema_mid}, {self.ema_slow})"
            )
        return self


class DetectionSettings(Section):
    """Detection of the longest timeframe's features (definitions in
    :mod:`tapeflow.analytics.zones`, :mod:`~tapeflow.analytics.fvg` and
    :mod:`~tapeflow.analytics.structure`).

    Attributes:
        history_candles: longest-timeframe candles of stored history the features are
            computed from at startup (≥ the indicator warm-up; default 600).
        zone_base_body_ratio: a base candle's body is at most this share of its range (0.5).
        zone_max_base: most candles in a base (6).
        zone_departure_atr: departure candle range in ATRs (1.5).
        zone_rejection_wick_ratio: rejection wick share of the range (0.6, in (0.5, 1)).
        zone_rejection_atr: rejection candle range in ATRs (1.0).
        fvg_min_atr: smallest FVG in ATRs (0 = any).
        fvg_min_pct: smallest FVG in % of price (0 = any).
        swing_bars: fractal half-width of swing points (2).
        order_block_lookback: candles searched for an order block (20).
    """

    history_candles: int = Field(600, ge=50, le=100_000)
    zone_base_body_ratio: float = Field(0.5, gt=0, lt=1)
    zone_max_base: int = Field(6, ge=1, le=100)
    zone_departure_atr: float = Field(1.5, gt=0, le=50)
    zone_rejection_wick_ratio: float = Field(0.6, gt=0.5, lt=1)
    zone_rejection_atr: float = Field(1.0, gt=0, le=50)
    fvg_min_atr: float = Field(0.0, ge=0, le=50)
    fvg_min_pct: float = Field(0.0, ge=0, le=100)
    swing_bars: int = Field(2, ge=1, le=50)
    order_block_lookback: int = Field(20, ge=1, le=1000)


class RegimeSettings(Section):
    """Level 1, regime on the longest timeframe.

    Ranging (evaluation stops) if ``adx < min_adx`` or ``atr_pct < min_atr_pct`` or
    ``hurst < min_hurst`` or ``mean_reversion > max_mean_reversion``; otherwise uptrend
    (LONG) if EMA fast > mid > slow and close > EMA fast, downtrend (SHORT) on the mirror,
    else ranging. All comparisons strict.

    Attributes:
        min_adx: ADX(14) below this is ranging (20).
        min_atr_pct: ATR as % of close below this is ranging (0.5, i.e. 0.5 %).
        min_hurst: Hurst exponent below this is ranging (0.55).
        max_mean_reversion: mean-reversion strength (0–1) above this is ranging (0.6).
    """

    min_adx: float = Field(20.0, ge=0, le=100)
    min_atr_pct: float = Field(0.5, ge=0, le=100)
    min_hurst: float = Field(0.55, ge=0, le=1)
    max_mean_reversion: float = Field(0.6, ge=0, le=1)


class ZoneSettings(Section):
    """Level 2, zone on the longest timeframe.

    A zone is *at price* when, with ``tol = max(atr_multiple × ATR, max_distance_pct % ×
    close)``: for LONG ``zone.low < close <= zone.high + tol`` (price inside a support zone or
    just above it, not below it), for SHORT ``zone.low - tol <= close < zone.high``.

    Attributes:
        atr_multiple: tolerance in ATRs of the longest timeframe (0.5).
        max_distance_pct: tolerance as % of price (0.1 %).
        use_profile_levels: also trade from market-profile POC / VAL (LONG) / VAH (SHORT).
        profile_candles: longest-timeframe candles the market profile covers (96 = one day
            at 15m).
        min_zone_strength: supply/demand zones weaker than this (0–100) are ignored (0).
        profile_level_strength: strength given to a market-profile level (0–100) (50).
        stop_buffer_atr: the stop is the zone boundary moved this many ATRs further away
            (0 = exactly at the boundary).
    """

    atr_multiple: float = Field(0.5, ge=0, le=20)
    max_distance_pct: float = Field(0.1, ge=0, le=50)
    use_profile_levels: bool = True
    profile_candles: int = Field(96, ge=1, le=10_000)
    min_zone_strength: float = Field(0.0, ge=0, le=100)
    profile_level_strength: float = Field(50.0, ge=0, le=100)
    stop_buffer_atr: float = Field(0.0, ge=0, le=20)


class CascadeSettings(Section):
    """Level 3, order-flow cascade: buy/sell volume imbalance over the last fastest, middle
    and longest timeframe windows ending at the close of the evaluated candle.

    LONG: ``fast > middle > longest`` and ``fast > min_fast_imbalance``.
    SHORT: ``fast < middle < longest`` and ``fast < max_fast_imbalance``.

    Attributes:
        min_fast_imbalance: LONG threshold on the fast imbalance (2.0, must be > 0).
        max_fast_imbalance: SHORT threshold on the fast imbalance (0.5, must be > 0).
    """

    min_fast_imbalance: float = Field(2.0, gt=0)
    max_fast_imbalance: float = Field(0.5, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.max_fast_imbalance < self.min_fast_imbalance:
            raise ValueError(
                "max_fast_imbalance (SHORT) must be below min_fast_imbalance (LONG) "
                f"(got {self.max_fast_imbalance} and {self.min_fast_imbalance})"
            )
        return self


class BounceSettings(Section):
    """Level 4, bounce on the last closed fastest-timeframe candle.

    Bounce strength (0–1) for LONG = ``wick_weight × lower_wick/range + (1 − wick_weight)
    × (close − low)/range`` if the candle's low reached the zone (``low <= zone.high + tol``),
    else 0; SHORT mirrors. Passes if strength > ``min_strength`` and volume spike (volume /
    mean volume of the previous ``volume_lookback`` candles) > ``min_volume_spike``.

    Attributes:
        min_strength: bounce strength threshold (0.7).
        wick_weight: weight of the rejection wick vs the close location (0.5).
        min_volume_spike: volume spike threshold (1.5).
        volume_lookback: previous candles averaged for the spike (19).
    """

    min_strength: float = Field(0.7, ge=0, lt=1)
    wick_weight: float = Field(0.5, ge=0, le=1)
    min_volume_spike: float = Field(1.5, ge=0)
    volume_lookback: int = Field(19, ge=1, le=1000)


class ConfluenceWeights(Section):
    """Weights of the confluence filters (sum = maximum score, 8.0 by default)."""

    profile_position: float = Field(1.5, ge=0, le=100)
    mean_reversion_distance: float = Field(1.5, ge=0, le=100)
    autocorrelation: float = Field(1.0, ge=0, le=100)
    zone_quality: float = Field(2.0, ge=0, le=100)
    opposing_zone_target: float = Field(0.5, ge=0, le=100)
    fvg: float = Field(1.5, ge=0, le=100)

    @property
    def total(self) -> float:
        """The maximum attainable score."""
        return (
            self.profile_position
            + self.mean_reversion_distance
            + self.autocorrelation
            + self.zone_quality
            + self.opposing_zone_target
            + self.fvg
        )


class SeedConfluenceSettings(Section):
    """Numbers of the seed's confluence rules (seed 001 §5.6; rules:
    :mod:`tapeflow.strategy.confluence_seed`). Shares are of the filter's weight.

    Attributes:
        value_area_edge: at a value-area extreme when ``|price − VAL| < edge × (VAH − VAL)``
            (LONG; SHORT at VAH) (0.05): full weight (1.5).
        inside_value_share: price inside ``[VAL, VAH]`` otherwise (1/3: 0.5 of 1.5).
        reversion_full_sigma: ``(price − mean) / σ ≤ −this`` (LONG; SHORT ``≥ +this``): full
            weight (2.0 → 1.5).
        reversion_partial_sigma: ``≤ −this`` otherwise (1.0): ``reversion_partial_share``
            (0.5 → 0.75).
        autocorrelation_trend / autocorrelation_range: ``|r| > trend`` (0.6) or ``|r| <
            range`` (0.3): full weight (1.0); in between ``autocorrelation_mid_share`` (0.5).
        zone_max_distance_pct: the nearest demand zone at or below the price counts when its
            high is within this % of the price (0.5 %).
        zone_tested_max_touches: a zone touched 1 to this many times (2) earns
            ``zone_tested_share`` (0.5 → 1.0); untouched: full weight (2.0).
    """

    value_area_edge: float = Field(0.05, ge=0, le=1)
    inside_value_share: float = Field(1 / 3, ge=0, le=1)
    reversion_full_sigma: float = Field(2.0, gt=0, le=20)
    reversion_partial_sigma: float = Field(1.0, gt=0, le=20)
    reversion_partial_share: float = Field(0.5, ge=0, le=1)
    autocorrelation_trend: float = Field(0.6, ge=0, le=1)
    autocorrelation_range: float = Field(0.3, ge=0, le=1)
    autocorrelation_mid_share: float = Field(0.5, ge=0, le=1)
    zone_max_distance_pct: float = Field(0.5, ge=0, le=100)
    zone_tested_max_touches: int = Field(2, ge=0, le=1000)
    zone_tested_share: float = Field(0.5, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not self.reversion_partial_sigma <= self.reversion_full_sigma:
            raise ValueError(
                "reversion_partial_sigma must be <= reversion_full_sigma "
                f"(got {self.reversion_partial_sigma} and {self.reversion_full_sigma})"
            )
        if not self.autocorrelation_range <= self.autocorrelation_trend:
            raise ValueError(
                "autocorrelation_range must be <= autocorrelation_trend "
                f"(got {self.autocorrelation_range} and {self.autocorrelation_trend})"
            )
        return self


class ConfluenceSettings(Section):
    """Secondary filters scored on a candidate signal.

    Two rule sets share the weights, thresholds and gate: ``rules: seed`` (default) scores
    exactly as seed 001 §5.6 (:mod:`tapeflow.strategy.confluence_seed`, numbers in
    ``seed``); ``rules: tapeflow`` is tapeflow's own pass/fail filters
    (:mod:`tapeflow.strategy.confluence`, the ``max_*``/``min_*``/``fvg_*`` keys below).
    ``docs/strategy.md`` compares them.

    Attributes:
        rules: ``seed`` or ``tapeflow``.
        seed: the seed rules' numbers.
        weights: per-filter weights (the seed's: 1.5 / 1.5 / 1.0 / 2.0 / 0.5 / 1.5).
        min_score: signals scoring below this are not emitted (3.0).
        low / medium / high: probability class thresholds (3 / 5 / 7).
        max_ema_distance_atr: mean-reversion filter passes when |close − EMA fast| ≤ this
            many ATRs (1.0).
        min_autocorrelation: autocorrelation filter passes when lag-1 autocorrelation of
            returns > this (0.0).
        fvg_max_distance_atr: an unfilled FVG in the trade direction counts when its nearer
            edge is within this many ATRs of the entry (2.0).
        min_reward_risk: an opposing zone becomes the signal's target when its distance
            from the entry is ≥ this multiple of the risk (entry − stop) (1.0; both rule
            sets; under ``tapeflow`` rules it is also the filter's condition).
    """

    rules: Literal["seed", "tapeflow"] = "seed"
    seed: SeedConfluenceSettings = SeedConfluenceSettings()
    weights: ConfluenceWeights = ConfluenceWeights()
    min_score: float = Field(3.0, ge=0)
    low: float = Field(3.0, ge=0)
    medium: float = Field(5.0, ge=0)
    high: float = Field(7.0, ge=0)
    max_ema_distance_atr: float = Field(1.0, gt=0)
    min_autocorrelation: float = Field(0.0, ge=-1, le=1)
    fvg_max_distance_atr: float = Field(2.0, ge=0)
    min_reward_risk: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.low <= self.medium <= self.high:
            raise ValueError(
                "probability thresholds must be ordered low <= medium <= high "
                f"(got {self.low}, {self.medium}, {self.high})"
            )
        if self.min_score > self.weights.total:
            raise ValueError(
                f"min_score {self.min_score} can never be reached: the weights sum to "
                f"{self.weights.total}"
            )
        return self


class StrategySettings(Section):
    """One symbol's strategy: its name and the thresholds of each level.

    Attributes:
        name: label of this parameter set, carried by every signal and decision-log row and
            part of the signal id (lower case, digits, ``_``/``-``; default
            ``"hierarchical"``).
    """

    name: str = Field("hierarchical", pattern=r"^[a-z][a-z0-9_\-]{0,47}$")
    indicators: IndicatorSettings = IndicatorSettings()
    detection: DetectionSettings = DetectionSettings()
    regime: RegimeSettings = RegimeSettings()
    zone: ZoneSettings = ZoneSettings()
    cascade: CascadeSettings = CascadeSettings()
    bounce: BounceSettings = BounceSettings()
    confluence: ConfluenceSettings = ConfluenceSettings()
