"""Per-candle indicators: EMA, ATR/ATR%, ADX/DI, Hurst (R/S), lag-1 autocorrelation and
mean-reversion strength.

All math is Float64 over *closed* candles (see :mod:`tapeflow.analytics.closed_candles`).
Every value at candle ``t`` depends only on candles ``<= t`` (causal), so a row never changes
when later candles arrive. :func:`indicators` computes a whole frame (vectorised polars/numpy);
:class:`IndicatorTracker` continues the same series one closed candle at a time from the state
the batch left, for a strategy that precomputes at startup and then updates per candle.

Definitions (``n`` = period, ``x`` = input, all indices are candle positions):

* **EMA(n)** — ``ema[n-1] = mean(close[0..n-1])`` (SMA seed, as TA-Lib and TradingView do),
  then ``ema[t] = ema[t-1] + a * (close[t] - ema[t-1])`` with ``a = 2 / (n + 1)``.
* **Wilder smoothing(n)** (Wilder 1978, *New Concepts in Technical Trading Systems*): seed = the
  mean of the first ``n`` inputs, then ``s[t] = s[t-1] + (x[t] - s[t-1]) / n`` — an EMA with
  ``a = 1/n``. Wilder states it on running *sums* (``S - S/n + x``); sums are ``n`` times these
  averages, so every ratio (DI) is identical.
* **TR** — ``max(high - low, |high - close[t-1]|, |low - close[t-1]|)`` from ``t = 1``.
  **ATR(n)** — Wilder smoothing of TR, first value at ``t = n``. **ATR%** = ``ATR / close * 100``.
* **+DM / -DM** — ``up = high[t] - high[t-1]``, ``down = low[t-1] - low[t]``;
  ``+DM = up if up > down and up > 0 else 0``; ``-DM = down if down > up and down > 0 else 0``.
  **+DI / -DI** = ``100 * Wilder(±DM) / Wilder(TR)`` (0 when smoothed TR is 0), from ``t = n``.
  **DX** = ``100 * |+DI - -DI| / (+DI + -DI)`` (0 when both are 0). **ADX(n)** = Wilder
  smoothing of DX seeded with the mean of the first ``n`` DX values, first value at ``2n - 1``.
  Note: TA-Lib seeds the smoothed DM/TR with the sum of ``n - 1`` values, not Wilder's ``n``;
  the two agree once the seed has decayed (factor ``((n-1)/n)^k``, < 1e-9 after ~300 candles
  for n = 14).
* **Hurst exponent** — rescaled range (Hurst 1951; Mandelbrot & Wallis 1969) over the last
  ``W = hurst_window`` log returns: for chunk counts ``k = 2 .. W // 8`` the most recent
  ``k * (W // k)`` returns are cut into ``k`` chunks of ``m = W // k`` returns; per chunk
  ``R`` = range of the cumulative mean-adjusted sum, ``S`` = population std; ``(R/S)_m`` = mean
  over chunks with ``S > 0``. Small-sample bias is removed with the Anis-Lloyd (1976) expected
  value with Peters' (1994) factor, ``E(R/S)_m``, and ``H = 0.5 + slope`` of
  ``log (R/S)_m - log E(R/S)_m`` on ``log m`` (OLS) — the "AL-corrected R/S" of Weron (2002).
  H ~ 0.5 random walk, > 0.5 persistent (trending), < 0.5 anti-persistent (mean reverting).
  Null until ``W`` returns exist or when fewer than 3 chunk sizes have a chunk with ``S > 0``.
* **autocorrelation** — Pearson correlation of ``(r[t-1], r[t])`` over the last ``autocorr_window``
  pairs of log returns ``r[t] = ln(close[t] / close[t-1])``; null if either side is constant.
* **mean_reversion** (0..1) — how fast price has returned to its EMA after 2σ excursions:
  ``dev = close - EMA(mr_ema)``; ``σ[t]`` = population std of ``dev`` over the last
  ``mr_window`` candles. An *excursion* starts at ``t0`` when none is pending and
  ``|dev[t0]| >= mr_sigma * σ[t0]`` (σ > 0). It *reverts* at the first ``t > t0`` where ``dev``
  is zero or has the opposite sign (close back at or through the EMA): score
  ``(mr_horizon - (t - t0) + 1) / mr_horizon`` (1.0 = back on the next candle). If it has not
  reverted by ``t0 + mr_horizon`` it scores 0. ``mean_reversion[t]`` = mean score of the
  excursions that started within the last ``mr_window`` candles and were resolved at or before
  ``t``; null when there are none. A new excursion may start on the candle that resolved the
  previous one.
* **mean_reversion_ema**, **mean_reversion_sigma** — that ``EMA(mr_ema)`` and ``σ[t]``
  (quote; σ null until ``mr_window`` deviations exist): a price's distance from the mean in
  σ is ``(price - mean_reversion_ema) / mean_reversion_sigma`` (seed 001 §5.6).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, fields
from datetime import datetime

import numpy as np
import polars as pl

from tapeflow.analytics.closed_candles import closed_candles, float_prices, segments
from tapeflow.config.strategy import IndicatorSettings
from tapeflow.model.candles import Candle

_BLOCK = 8192  # windows per block in the vectorised rolling statistics (bounds memory)

_SETTINGS = IndicatorSettings()  # the defaults: ``strategy.indicators`` of the configuration


@dataclass(frozen=True, slots=True)
class IndicatorParams:
    """Periods of :func:`indicators` (candles). See the module docstring for definitions.

    The defaults are those of :class:`tapeflow.config.strategy.IndicatorSettings`
    (:meth:`from_settings` maps a configured section onto these names).
    """

    ema: tuple[int, ...] = (_SETTINGS.ema_fast, _SETTINGS.ema_mid, _SETTINGS.ema_slow)
    atr: int = _SETTINGS.atr_period
    adx: int = _SETTINGS.adx_period
    hurst_window: int = _SETTINGS.hurst_window
    autocorr_window: int = _SETTINGS.autocorrelation_window
    mr_ema: int = _SETTINGS.mean_reversion_ema
    mr_window: int = _SETTINGS.mean_reversion_window
    mr_sigma: float = _SETTINGS.mean_reversion_sigma
    mr_horizon: int = _SETTINGS.mean_reversion_horizon

    @classmethod
    def from_settings(cls, s: IndicatorSettings) -> IndicatorParams:
        """The periods of the ``strategy.indicators`` configuration section."""
        return cls(
            ema=(s.ema_fast, s.ema_mid, s.ema_slow),
            atr=s.atr_period,
            adx=s.adx_period,
            hurst_window=s.hurst_window,
            autocorr_window=s.autocorrelation_window,
            mr_ema=s.mean_reversion_ema,
            mr_window=s.mean_reversion_window,
            mr_sigma=s.mean_reversion_sigma,
            mr_horizon=s.mean_reversion_horizon,
        )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            values = value if isinstance(value, tuple) else (value,)
            if not values or any(v <= 0 for v in values):
                raise ValueError(f"indicator parameter {f.name}={value!r} must be positive")
        if self.hurst_window < 32:
            raise ValueError(f"hurst_window={self.hurst_window} must be >= 32 (3 chunk sizes)")
        if self.autocorr_window < 3:
            raise ValueError(f"autocorr_window={self.autocorr_window} must be >= 3")

    @property
    def warmup(self) -> int:
        """Candles after which every column is defined on a non-degenerate series."""
        return max(
            *self.ema,
            self.atr + 1,
            2 * self.adx,
            self.hurst_window + 1,
            self.autocorr_window + 2,
            self.mr_ema + self.mr_window,
        )


#: The default periods (the configuration's defaults).
_DEFAULT = IndicatorParams()


def output_columns(params: IndicatorParams) -> list[str]:
    """Column names of :func:`indicators` for these parameters, in order."""
    return [
        "open_time",
        "close",
        *(f"ema_{n}" for n in params.ema),
        "atr",
        "atr_pct",
        "plus_di",
        "minus_di",
        "adx",
        "hurst",
        "autocorrelation",
        "mean_reversion",
        "mean_reversion_ema",
        "mean_reversion_sigma",
    ]


def indicators(
    candles: pl.DataFrame,
    *,
    ema: tuple[int, ...] = _DEFAULT.ema,
    atr: int = _DEFAULT.atr,
    adx: int = _DEFAULT.adx,
    hurst_window: int = _DEFAULT.hurst_window,
    autocorr_window: int = _DEFAULT.autocorr_window,
    mr_ema: int = _DEFAULT.mr_ema,
    mr_window: int = _DEFAULT.mr_window,
    mr_sigma: float = _DEFAULT.mr_sigma,
    mr_horizon: int = _DEFAULT.mr_horizon,
) -> pl.DataFrame:
    """Indicators for every closed candle of ``candles`` (definitions: module docstring).

    Args:
        candles: the continuous closed candle frame (``open_time``, ``open/high/low/close`` as
            Decimal or Float64, optional ``closed``); rows with ``closed = False`` are dropped.
            Each continuity segment (optional ``segment``) starts afresh: every indicator
            warms up again after a data gap.

    Returns:
        One row per closed candle, sorted by ``open_time``. Columns: ``open_time``
        Datetime(us, UTC); Float64 ``close``; ``ema_{n}`` for each ``n`` in ``ema`` (quote
        units); ``atr`` (quote units); ``atr_pct`` (% of close); ``plus_di``, ``minus_di``,
        ``adx`` (0..100); ``hurst`` (dimensionless, ~0..1); ``autocorrelation`` (-1..1);
        ``mean_reversion`` (0..1). A value is null until its warm-up is complete.

    Raises:
        CandleFrameError: the frame breaks the closed-candle contract.
        ValueError: a period is not positive.
    """
    params = IndicatorParams(
        tuple(ema),
        atr,
        adx,
        hurst_window,
        autocorr_window,
        mr_ema,
        mr_window,
        mr_sigma,
        mr_horizon,
    )
    parts = segments(closed_candles(candles))
    return pl.concat([_compute(part, params)[0] for part in parts])


def ema_series(x: pl.Series, n: int) -> pl.Series:
    """EMA(n) of a Float64 series, SMA-seeded at index ``n - 1`` (null before)."""
    return _seeded_ewm(x, n, alpha=2.0 / (n + 1), first=0)


def wilder_series(x: pl.Series, n: int, first: int = 0) -> pl.Series:
    """Wilder smoothing of ``x[first:]``: mean of the first ``n`` values at ``first + n - 1``,
    then ``s + (x - s) / n`` (null before). Wilder (1978)."""
    return _seeded_ewm(x, n, alpha=1.0 / n, first=first)


def _seeded_ewm(x: pl.Series, n: int, *, alpha: float, first: int) -> pl.Series:
    seed_at = first + n - 1
    out_name = x.name
    if x.len() <= seed_at:
        return pl.Series(out_name, [None] * x.len(), dtype=pl.Float64)
    seed = float(x.slice(first, n).mean())
    seeded = pl.concat(
        [
            pl.Series([None] * seed_at, dtype=pl.Float64),
            pl.Series([seed], dtype=pl.Float64),
            x.slice(seed_at + 1).cast(pl.Float64),
        ]
    )
    # adjust=False is exactly y[t] = (1 - a) y[t-1] + a x[t], starting at the seed.
    return seeded.ewm_mean(alpha=alpha, adjust=False).alias(out_name)


def true_range(prices: pl.DataFrame) -> pl.Series:
    """TR per candle (Float64, null at index 0) from Float64 ``high, low, close``."""
    prev = pl.col("close").shift(1)
    return prices.select(
        pl.max_horizontal(
            pl.col("high") - pl.col("low"),
            (pl.col("high") - prev).abs(),
            (pl.col("low") - prev).abs(),
        )
        .fill_null(strategy="zero")  # placeholder at t=0, never read (smoothing starts at 1)
        .alias("tr")
    )["tr"]


def atr_series(frame: pl.DataFrame, n: int = 14) -> pl.Series:
    """ATR(n) (Wilder) per row of a validated closed-candle frame; Float64, null before ``n``."""
    return wilder_series(true_range(float_prices(frame)), n, first=1).alias("atr")


@dataclass(slots=True)
class _AdxState:
    tr: float
    plus_dm: float
    minus_dm: float
    adx: float


def _adx_parts(prices: pl.DataFrame, atr_n: int, adx_n: int) -> pl.DataFrame:
    """TR/DM smoothing, DI, DX and ADX columns (Float64), plus the raw TR/DM inputs."""
    up = pl.col("high") - pl.col("high").shift(1)
    down = pl.col("low").shift(1) - pl.col("low")
    dm = prices.select(
        plus_dm=pl.when((up > down) & (up > 0)).then(up).otherwise(0.0).fill_null(0.0),
        minus_dm=pl.when((down > up) & (down > 0)).then(down).otherwise(0.0).fill_null(0.0),
    )
    tr = true_range(prices)
    parts = pl.DataFrame(
        {
            "tr": tr,
            "plus_dm": dm["plus_dm"],
            "minus_dm": dm["minus_dm"],
            "atr": wilder_series(tr, atr_n, first=1),
            "tr_s": wilder_series(tr, adx_n, first=1),
            "plus_dm_s": wilder_series(dm["plus_dm"], adx_n, first=1),
            "minus_dm_s": wilder_series(dm["minus_dm"], adx_n, first=1),
        }
    )
    di = parts.select(
        plus_di=_safe_ratio(pl.col("plus_dm_s"), pl.col("tr_s")) * 100.0,
        minus_di=_safe_ratio(pl.col("minus_dm_s"), pl.col("tr_s")) * 100.0,
    )
    dx = di.select(
        dx=_safe_ratio(
            (pl.col("plus_di") - pl.col("minus_di")).abs(), pl.col("plus_di") + pl.col("minus_di")
        )
        * 100.0
    )["dx"]
    return parts.with_columns(di, dx=dx, adx=wilder_series(dx, adx_n, first=adx_n))


def _safe_ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den.is_null()).then(None).when(den == 0).then(0.0).otherwise(num / den)


def log_returns(close: np.ndarray) -> np.ndarray:
    """``r[t] = ln(close[t] / close[t-1])``; ``r[0]`` is NaN."""
    r = np.full(close.shape, np.nan)
    if close.size > 1:
        r[1:] = np.log(close[1:] / close[:-1])
    return r


def _expected_rs(m: int) -> float:
    """Anis-Lloyd (1976) E(R/S) for chunk length m, with Peters' (1994) (m - 1/2)/m factor."""
    i = np.arange(1, m)
    tail = np.sum(np.sqrt((m - i) / i))
    if m <= 340:
        front = math.exp(math.lgamma((m - 1) / 2) - math.lgamma(m / 2)) / math.sqrt(math.pi)
    else:
        front = 1.0 / math.sqrt(m * math.pi / 2)
    return (m - 0.5) / m * front * tail


def hurst_windows(windows: np.ndarray) -> np.ndarray:
    """AL-corrected R/S Hurst exponent of each row of ``windows`` (shape ``(rows, W)``, log
    returns, oldest first). NaN where undefined. See the module docstring."""
    rows, w = windows.shape
    sizes, log_rs = [], []
    for k in range(2, w // 8 + 1):
        m = w // k
        chunks = windows[:, w - k * m :].reshape(rows, k, m)
        dev = chunks - chunks.mean(axis=2, keepdims=True)
        cum = np.cumsum(dev, axis=2)
        r = cum.max(axis=2) - cum.min(axis=2)
        s = chunks.std(axis=2)
        valid = s > 0
        rs = np.where(valid, r / np.where(valid, s, 1.0), 0.0)
        count = valid.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_rs = np.where(count > 0, rs.sum(axis=1) / np.maximum(count, 1), np.nan)
            log_rs.append(np.log(mean_rs) - math.log(_expected_rs(m)))
        sizes.append(math.log(m))
    x = np.asarray(sizes)
    y = np.stack(log_rs, axis=1)  # (rows, sizes)
    ok = np.isfinite(y)
    n = ok.sum(axis=1)
    xs = np.where(ok, x, 0.0)
    ys = np.where(ok, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx = xs.sum(axis=1) / n
        my = ys.sum(axis=1) / n
        cov = (np.where(ok, (x - mx[:, None]) * (y - my[:, None]), 0.0)).sum(axis=1)
        var = (np.where(ok, (x - mx[:, None]) ** 2, 0.0)).sum(axis=1)
        slope = cov / var
    return np.where(n >= 3, 0.5 + slope, np.nan)


def autocorr_windows(windows: np.ndarray) -> np.ndarray:
    """Lag-1 Pearson autocorrelation of each row of ``windows`` (shape ``(rows, W + 1)``, the
    pairs are ``(w[i-1], w[i])``). NaN when either side is constant."""
    a, b = windows[:, :-1], windows[:, 1:]
    da = a - a.mean(axis=1, keepdims=True)
    db = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (da * db).sum(axis=1) / den, np.nan)


def _rolling(values: np.ndarray, width: int, fn) -> np.ndarray:
    """``fn`` over every full trailing window of ``values`` (aligned at the window's end)."""
    out = np.full(values.shape, np.nan)
    if values.size < width:
        return out
    view = np.lib.stride_tricks.sliding_window_view(values, width)
    for start in range(0, view.shape[0], _BLOCK):
        block = view[start : start + _BLOCK]
        res = fn(np.ascontiguousarray(block))
        # Windows touching the undefined r[0] (NaN) stay NaN.
        res[~np.isfinite(block).all(axis=1)] = np.nan
        out[width - 1 + start : width - 1 + start + block.shape[0]] = res
    return out


@dataclass(slots=True)
class ReversionState:
    """Excursion bookkeeping of ``mean_reversion`` (one step per candle; resumable)."""

    sigma_k: float
    horizon: int
    lookback: int
    t: int = -1
    pending_start: int | None = None
    pending_sign: float = 0.0
    resolved: deque[tuple[int, float]] = field(default_factory=deque)  # (start, score)

    def step(self, dev: float, sigma: float) -> float:
        """Advance one candle with its ``dev`` and ``σ`` (NaN = undefined); return the value."""
        self.t += 1
        t = self.t
        if self.pending_start is not None:
            tau = t - self.pending_start
            if np.isfinite(dev) and self.pending_sign * dev <= 0:
                self._resolve((self.horizon - tau + 1) / self.horizon)
            elif tau >= self.horizon:
                self._resolve(0.0)
        if (
            self.pending_start is None
            and np.isfinite(dev)
            and np.isfinite(sigma)
            and sigma > 0
            and abs(dev) >= self.sigma_k * sigma
        ):
            self.pending_start, self.pending_sign = t, math.copysign(1.0, dev)
        while self.resolved and self.resolved[0][0] <= t - self.lookback:
            self.resolved.popleft()
        if not self.resolved:
            return math.nan
        return math.fsum(score for _, score in self.resolved) / len(self.resolved)

    def _resolve(self, score: float) -> None:
        assert self.pending_start is not None
        self.resolved.append((self.pending_start, score))
        self.pending_start = None


def _sigma(dev: np.ndarray, window: int) -> np.ndarray:
    return _rolling(dev, window, lambda w: w.std(axis=1))


def _compute(
    frame: pl.DataFrame, p: IndicatorParams
) -> tuple[pl.DataFrame, _AdxState | None, ReversionState]:
    prices = float_prices(frame)
    close_s = prices["close"]
    close = close_s.to_numpy()
    parts = _adx_parts(prices, p.atr, p.adx)
    emas = {f"ema_{n}": ema_series(close_s, n) for n in p.ema}
    mr_ema = ema_series(close_s, p.mr_ema).to_numpy()
    dev = close - mr_ema
    sigma = _sigma(dev, p.mr_window)
    mr = ReversionState(p.mr_sigma, p.mr_horizon, p.mr_window)
    reversion = np.array([mr.step(d, s) for d, s in zip(dev, sigma, strict=True)])
    r = log_returns(close)
    out = pl.DataFrame(
        {
            "open_time": prices["open_time"],
            "close": close_s,
            **emas,
            "atr": parts["atr"],
            "atr_pct": parts["atr"] / close_s * 100.0,
            "plus_di": parts["plus_di"],
            "minus_di": parts["minus_di"],
            "adx": parts["adx"],
            "hurst": _rolling(r, p.hurst_window, hurst_windows),
            "autocorrelation": _rolling(r, p.autocorr_window + 1, autocorr_windows),
            "mean_reversion": reversion,
            "mean_reversion_ema": mr_ema,
            "mean_reversion_sigma": sigma,
        }
    ).with_columns(
        pl.col(c).fill_nan(None)
        for c in (
            "hurst",
            "autocorrelation",
            "mean_reversion",
            "mean_reversion_ema",
            "mean_reversion_sigma",
        )
    )
    state = None
    if frame.height and parts["adx"][-1] is not None:
        last = parts.row(-1, named=True)
        state = _AdxState(last["tr_s"], last["plus_dm_s"], last["minus_dm_s"], last["adx"])
    return out.select(output_columns(p)), state, mr


class IndicatorTracker:
    """:func:`indicators` continued one closed candle at a time.

    ``IndicatorTracker(params).update(candle)`` returns the new candle's row as a dict with the
    columns of :func:`indicators`; the value equals what :func:`indicators` would give for the
    frame of all candles seen (to float rounding, ~1e-12 relative). Until
    ``params.warmup`` candles have been seen the tracker recomputes the (short) batch; after
    that each update is O(window) with Wilder/EMA recursions.

    Start from history with :meth:`from_frame` (one batch pass), then feed closed candles in
    ``open_time`` order; a candle not after the last one raises ``ValueError``.
    """

    def __init__(self, params: IndicatorParams | None = None) -> None:
        self.params = params or IndicatorParams()
        self._rows: list[dict] = []  # candles kept until warm
        self._warm = False
        self._last_time: datetime | None = None
        self._memory = (
            max(self.params.hurst_window, self.params.autocorr_window + 1, self.params.mr_window)
            + 1
        )

    @classmethod
    def from_frame(
        cls, candles: pl.DataFrame, params: IndicatorParams | None = None
    ) -> tuple[IndicatorTracker, pl.DataFrame]:
        """Tracker positioned after ``candles`` plus the batch result for them."""
        tracker = cls(params)
        frame = closed_candles(candles)
        result = tracker._reset(frame)
        return tracker, result

    def _reset(self, frame: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        result, adx_state, mr = _compute(frame, p)
        prices = float_prices(frame)
        self._rows = prices.to_dicts()
        self._last_time = frame["open_time"][-1] if frame.height else None
        self._warm = frame.height >= p.warmup and adx_state is not None
        if self._warm:
            last = result.row(-1, named=True)
            self._ema = {n: last[f"ema_{n}"] for n in p.ema}
            self._mr_ema = ema_series(prices["close"], p.mr_ema)[-1]
            self._adx = adx_state
            self._mr = mr
            self._atr = last["atr"]
            keep = prices.tail(self._memory)
            self._close = deque(keep["close"].to_list(), maxlen=self._memory)
            self._high, self._low = keep["high"][-1], keep["low"][-1]
            dev = (
                keep["close"].to_numpy()
                - ema_series(prices["close"], p.mr_ema).tail(self._memory).to_numpy()
            )
            self._dev = deque(dev.tolist(), maxlen=p.mr_window)
            self._rows = []
        return result

    def update(self, candle: Candle) -> dict:
        """Add one closed candle; return its indicator row (see :func:`indicators`)."""
        if self._last_time is not None and candle.open_time <= self._last_time:
            raise ValueError(
                f"candle at {candle.open_time} is not after the last one ({self._last_time})"
            )
        self._last_time = candle.open_time
        h, lo, c = float(candle.high), float(candle.low), float(candle.close)
        if not self._warm:
            self._rows.append(
                {
                    "open_time": candle.open_time,
                    "open": float(candle.open),
                    "high": h,
                    "low": lo,
                    "close": c,
                }
            )
            return self._reset(pl.DataFrame(self._rows)).row(-1, named=True)
        p = self.params
        prev_c, prev_h, prev_l = self._close[-1], self._high, self._low
        tr = max(h - lo, abs(h - prev_c), abs(lo - prev_c))
        up, down = h - prev_h, prev_l - lo
        plus_dm = up if (up > down and up > 0) else 0.0
        minus_dm = down if (down > up and down > 0) else 0.0
        s = self._adx
        s.tr += (tr - s.tr) / p.adx
        s.plus_dm += (plus_dm - s.plus_dm) / p.adx
        s.minus_dm += (minus_dm - s.minus_dm) / p.adx
        plus_di = 100.0 * s.plus_dm / s.tr if s.tr else 0.0
        minus_di = 100.0 * s.minus_dm / s.tr if s.tr else 0.0
        di_sum = plus_di + minus_di
        dx = 100.0 * abs(plus_di - minus_di) / di_sum if di_sum else 0.0
        s.adx += (dx - s.adx) / p.adx
        self._atr += (tr - self._atr) / p.atr
        for n in p.ema:
            self._ema[n] += 2.0 / (n + 1) * (c - self._ema[n])
        self._mr_ema += 2.0 / (p.mr_ema + 1) * (c - self._mr_ema)
        self._close.append(c)
        self._high, self._low = h, lo
        self._dev.append(c - self._mr_ema)
        closes = np.asarray(self._close)
        r = log_returns(closes)
        sigma = float(np.std(np.asarray(self._dev)))
        row = {
            "open_time": candle.open_time,
            "close": c,
            **{f"ema_{n}": self._ema[n] for n in p.ema},
            "atr": self._atr,
            "atr_pct": self._atr / c * 100.0,
            "plus_di": plus_di,
            "minus_di": minus_di,
            "adx": s.adx,
            "hurst": _last(hurst_windows(r[None, -p.hurst_window :])),
            "autocorrelation": _last(autocorr_windows(r[None, -(p.autocorr_window + 1) :])),
            "mean_reversion": _nan_to_none(self._mr.step(c - self._mr_ema, sigma)),
            "mean_reversion_ema": self._mr_ema,
            "mean_reversion_sigma": _nan_to_none(sigma),
        }
        return row


def _last(values: np.ndarray) -> float | None:
    return _nan_to_none(float(values[-1]))


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else value
