"""Indicators on real candles: TA-Lib for EMA/ATR/ADX, plain reference loops for the rest."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import talib

from tapeflow.analytics.closed_candles import CandleFrameError, closed_candles, iter_candles
from tapeflow.analytics.indicators import (
    IndicatorParams,
    IndicatorTracker,
    ReversionState,
    hurst_windows,
    indicators,
)
from tests.analytics.candle_frames import tardis_candles, xrpeth_candles

REL = 1e-9


def _hlc(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    f = closed_candles(frame)
    return tuple(f[c].cast(pl.Float64).to_numpy() for c in ("high", "low", "close"))


def _assert_close(mine: np.ndarray, ref: np.ndarray, start: int = 0, rel: float = REL) -> None:
    mine, ref = mine[start:], ref[start:]
    assert np.array_equal(np.isnan(mine), np.isnan(ref)), "warm-up (null) positions differ"
    ok = ~np.isnan(ref)
    assert ok.sum() > 50
    np.testing.assert_allclose(mine[ok], ref[ok], rtol=rel, atol=0)


def _col(out: pl.DataFrame, name: str) -> np.ndarray:
    return out[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


@pytest.mark.parametrize(
    "candles", [xrpeth_candles("1m"), tardis_candles("1m")], ids=["xrpeth-1m", "btcusdt-1m"]
)
def test_ema_and_atr_match_talib_from_first_value(candles: pl.DataFrame) -> None:
    out = indicators(candles, ema=(20, 50))
    h, lo, c = _hlc(candles)
    _assert_close(_col(out, "ema_20"), talib.EMA(c, 20))
    _assert_close(_col(out, "ema_50"), talib.EMA(c, 50))
    _assert_close(_col(out, "atr"), talib.ATR(h, lo, c, 14))
    _assert_close(_col(out, "atr_pct"), talib.ATR(h, lo, c, 14) / c * 100)
    assert out["ema_20"].null_count() == 19 and out["atr"].null_count() == 14


def test_adx_matches_talib_after_seed_decay() -> None:
    """TA-Lib seeds the smoothed DM/TR with n-1 values (Wilder: n); after ~300 candles the
    seeds have decayed below 1e-9 and the series agree."""
    candles = xrpeth_candles("1m")
    out = indicators(candles)
    h, lo, c = _hlc(candles)
    assert len(c) > 3000
    _assert_close(_col(out, "adx"), talib.ADX(h, lo, c, 14), start=400)
    _assert_close(_col(out, "plus_di"), talib.PLUS_DI(h, lo, c, 14), start=400)
    _assert_close(_col(out, "minus_di"), talib.MINUS_DI(h, lo, c, 14), start=400)
    assert out["adx"].null_count() == 27  # first ADX at 2n - 1, as TA-Lib


def _wilder_adx_reference(h, lo, c, n):
    """Wilder 1978 on running sums, written as plainly as the book states it."""
    size = len(c)
    tr, pdm, mdm = [0.0] * size, [0.0] * size, [0.0] * size
    for t in range(1, size):
        tr[t] = max(h[t] - lo[t], abs(h[t] - c[t - 1]), abs(lo[t] - c[t - 1]))
        up, down = h[t] - h[t - 1], lo[t - 1] - lo[t]
        pdm[t] = up if up > down and up > 0 else 0.0
        mdm[t] = down if down > up and down > 0 else 0.0
    adx = [math.nan] * size
    tr_s, p_s, m_s = sum(tr[1 : n + 1]), sum(pdm[1 : n + 1]), sum(mdm[1 : n + 1])
    dxs = []
    for t in range(n, size):
        if t > n:
            tr_s = tr_s - tr_s / n + tr[t]
            p_s = p_s - p_s / n + pdm[t]
            m_s = m_s - m_s / n + mdm[t]
        pdi = 100 * p_s / tr_s if tr_s else 0.0
        mdi = 100 * m_s / tr_s if tr_s else 0.0
        dx = 100 * abs(pdi - mdi) / (pdi + mdi) if pdi + mdi else 0.0
        dxs.append(dx)
        if len(dxs) == n:
            adx[t] = sum(dxs) / n
        elif len(dxs) > n:
            adx[t] = (adx[t - 1] * (n - 1) + dx) / n
    return np.array(adx)


@pytest.mark.parametrize(
    "candles", [xrpeth_candles("1m"), tardis_candles("1m")], ids=["xrpeth-1m", "btcusdt-1m"]
)
def test_adx_equals_wilder_sums_from_the_first_value(candles: pl.DataFrame) -> None:
    out = indicators(candles)
    h, lo, c = _hlc(candles)
    _assert_close(_col(out, "adx"), _wilder_adx_reference(h, lo, c, 14), rel=1e-11)


def _hurst_reference(returns: list[float]) -> float:
    w = len(returns)
    xs, ys = [], []
    for k in range(2, w // 8 + 1):
        m = w // k
        data = returns[w - k * m :]
        rs_values = []
        for j in range(k):
            chunk = data[j * m : (j + 1) * m]
            mean = sum(chunk) / m
            cum, lo, hi = 0.0, 0.0, 0.0
            for x in chunk:
                cum += x - mean
                lo, hi = min(lo, cum), max(hi, cum)
            s = math.sqrt(sum((x - mean) ** 2 for x in chunk) / m)
            if s > 0:
                rs_values.append((hi - lo) / s)
        if not rs_values:
            continue
        expected = (
            (m - 0.5)
            / m
            * math.gamma((m - 1) / 2)
            / (math.sqrt(math.pi) * math.gamma(m / 2))
            * sum(math.sqrt((m - i) / i) for i in range(1, m))
        )
        xs.append(math.log(m))
        ys.append(math.log(sum(rs_values) / len(rs_values)) - math.log(expected))
    if len(xs) < 3:
        return math.nan
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )
    return 0.5 + slope


def test_hurst_and_autocorrelation_equal_plain_definitions_on_real_candles() -> None:
    candles = xrpeth_candles("1m")
    out = indicators(candles, hurst_window=100, autocorr_window=60)
    close = closed_candles(candles)["close"].cast(pl.Float64).to_list()
    r = [math.nan] + [math.log(close[t] / close[t - 1]) for t in range(1, len(close))]
    assert out["hurst"].null_count() == 100 and out["autocorrelation"].null_count() == 61
    for t in (100, 101, 777, 2000, len(close) - 1):
        ref = _hurst_reference(r[t - 99 : t + 1])
        assert out["hurst"][t] == pytest.approx(ref, rel=1e-10, abs=1e-12)
        a, b = np.array(r[t - 60 : t]), np.array(r[t - 59 : t + 1])
        assert out["autocorrelation"][t] == pytest.approx(np.corrcoef(a, b)[0, 1], rel=1e-9)
    # Real 1m XRPETH: stale prints and bid/ask bounce -> anti-persistent on average.
    assert 0.2 < out["hurst"].mean() < 0.5
    assert out["autocorrelation"].mean() < 0


def test_hurst_separates_persistent_random_and_antipersistent_returns() -> None:
    rng = np.random.default_rng(7)
    noise = rng.standard_normal((400, 200))

    def ar1(phi: float) -> np.ndarray:
        out = np.zeros_like(noise)
        for t in range(1, noise.shape[1]):
            out[:, t] = phi * out[:, t - 1] + noise[:, t]
        return out[:, 100:]

    h_random = np.nanmedian(hurst_windows(noise[:, 100:]))
    h_trend = np.nanmedian(hurst_windows(ar1(0.6)))
    h_revert = np.nanmedian(hurst_windows(ar1(-0.6)))
    assert 0.45 < h_random < 0.55
    assert h_trend > 0.65
    assert h_revert < 0.35


def test_mean_reversion_scores_time_back_to_the_ema() -> None:
    state = ReversionState(sigma_k=2.0, horizon=4, lookback=10)
    # t0: excursion +3σ; t1 still above; t2 back through the EMA -> tau = 2, score 3/4.
    assert math.isnan(state.step(3.0, 1.0))
    assert math.isnan(state.step(1.0, 1.0))
    assert state.step(-0.5, 1.0) == 0.75
    # t3 new excursion (below) that never comes back: expires at t3 + 4 with score 0.
    for dev in (-2.5, -3.0, -1.0, -1.0):
        assert state.step(dev, 1.0) == 0.75
    assert state.step(-1.0, 1.0) == pytest.approx((0.75 + 0.0) / 2)  # t7
    # Both events age out of the 10-candle lookback (starts t0 and t3).
    for _ in range(2, 12):
        value = state.step(0.1, 1.0)
    assert math.isnan(value)


def test_mean_reversion_on_real_candles_is_a_fraction() -> None:
    out = indicators(xrpeth_candles("1m"))
    mr = out["mean_reversion"].drop_nulls()
    assert mr.len() > 2000
    assert mr.min() >= 0 and mr.max() <= 1
    assert out["mean_reversion"][: 20 + 100 - 1].null_count() == 119  # EMA + σ window warm-up


def test_appending_candles_never_changes_earlier_rows() -> None:
    candles = xrpeth_candles("1m")
    full = indicators(candles)
    for k in (30, 250, 1999):
        prefix = indicators(candles.head(k))
        assert prefix.equals(full.head(prefix.height))


def test_tracker_continues_the_batch_series() -> None:
    candles = closed_candles(xrpeth_candles("1m"))
    full = indicators(candles)
    for k in (40, 1500):  # still warming up (batch recompute) / warm (recursions)
        tracker, head = IndicatorTracker.from_frame(candles.head(k))
        assert head.equals(full.head(k))
        rows = [tracker.update(c) for c in iter_candles(candles.slice(k, 400))]
        live = pl.DataFrame(rows, schema=full.schema, orient="row")
        ref = full.slice(k, 400)
        assert live["open_time"].equals(ref["open_time"])
        for col in full.columns[1:]:
            _assert_close(_col(live, col), _col(ref, col), rel=1e-12)
    with pytest.raises(ValueError, match="not after"):
        tracker.update(next(iter_candles(candles.head(1))))


def test_open_candle_is_ignored_and_float_prices_give_the_same_result() -> None:
    candles = tardis_candles("1m")
    assert not candles["closed"][-1]
    out = indicators(candles)
    assert out.height == candles.height - 1
    as_float = candles.with_columns(
        pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close")
    )
    assert indicators(as_float).equals(out)


def test_bad_frames_and_parameters_are_refused() -> None:
    candles = tardis_candles("1m")
    with pytest.raises(CandleFrameError, match="lacks column"):
        indicators(candles.drop("low"))
    with pytest.raises(CandleFrameError, match="strictly increasing"):
        indicators(candles.reverse())
    with pytest.raises(ValueError, match="atr=0"):
        indicators(candles, atr=0)
    with pytest.raises(ValueError, match="hurst_window"):
        IndicatorParams(hurst_window=20)
