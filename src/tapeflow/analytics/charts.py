"""The order-flow chart: candles with FVGs and supply/demand zones, CVD beneath, the market
profile (POC, VAH, VAL) beside price.

One picture for the notebook (``notebooks/order_flow.ipynb``) and the CLI
(``tapeflow chart``): both call :func:`render_chart`. :func:`load_chart_data` gathers the
inputs from the analytics API; :func:`draw_chart` only draws a :class:`ChartData`, so it can be
used on any frames that follow the documented columns.

Candles are drawn with plain matplotlib (bodies and wicks): mplfinance 0.12.10b0 imports
``six`` without declaring it, which modern environments no longer carry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import NullLocator

from tapeflow.analytics.closed_candles import closed_candles
from tapeflow.analytics.fvg import fvgs
from tapeflow.analytics.zones import zones

UP, DOWN = "#26a69a", "#ef5350"
DEMAND, SUPPLY = "#2962ff", "#ff6d00"
VALUE_AREA, OUTSIDE_VA, POC = "#7e57c2", "#b0bec5", "#d81b60"
FIGSIZE_IN = (15.0, 9.0)
DPI = 110  # -> 1650 x 990 px


@dataclass(frozen=True)
class ChartData:
    """Everything one chart shows.

    Attributes:
        candles: candle frame (``open_time`` Datetime UTC, ``open/high/low/close``; optional
            ``closed``), sorted; provisional candles are drawn but detectors ignore them.
        cvd: ``open_time`` and ``cvd`` (cumulative volume delta, base units) per candle.
        profile_levels: ``level`` (bucket lower edge), ``volume``, ``in_value_area``,
            ``is_poc`` (market profile over the charted range; may be empty).
        bucket: profile level height (quote units).
        poc, vah, val: point of control and value area high/low (level lower edges) or None.
        fvgs: frame of :func:`tapeflow.analytics.fvg.fvgs`.
        zones: frame of :func:`tapeflow.analytics.zones.zones`.
        title: heading text.
    """

    candles: pl.DataFrame
    cvd: pl.DataFrame
    profile_levels: pl.DataFrame
    bucket: Decimal | None
    poc: Decimal | None
    vah: Decimal | None
    val: Decimal | None
    fvgs: pl.DataFrame
    zones: pl.DataFrame
    title: str


class ChartSource(Protocol):
    """The part of :class:`tapeflow.analytics.api.Analytics` the chart reads."""

    def candles(
        self, symbols: Any, timeframe: str = ..., start: Any = ..., end: Any = ..., **kw: Any
    ) -> pl.DataFrame: ...

    def cvd(
        self, symbols: Any, timeframe: str = ..., start: Any = ..., end: Any = ..., **kw: Any
    ) -> pl.DataFrame: ...

    def market_profile(self, symbol: Any, start: Any, end: Any, **kw: Any) -> Any: ...

    def sql(self, symbol: Any, query: str, params: Any = ()) -> pl.DataFrame: ...


def profile_bucket(low: Decimal, high: Decimal, tick: Decimal | None, levels: int = 60) -> Decimal:
    """A readable profile level size: the smallest 1/2/5 x 10^k step giving at most
    ``levels`` levels over ``[low, high]``, rounded up to a multiple of the tick size."""
    span = max(high - low, tick or Decimal("1e-8"))
    raw = span / levels
    exponent = raw.adjusted()
    step = next(
        m * Decimal(10) ** e
        for e in (exponent, exponent + 1)
        for m in (1, 2, 5)
        if m * Decimal(10) ** e >= raw
    )
    if tick:
        step = max(tick, (step / tick).to_integral_value(rounding="ROUND_CEILING") * tick)
    return step.normalize()


def load_chart_data(
    analytics: ChartSource,
    symbol: str,
    timeframe: str,
    start: Any = None,
    end: Any = None,
    *,
    bars: int = 180,
    bucket: Decimal | None = None,
) -> ChartData:
    """Candles, CVD, market profile, FVGs and zones of ``symbol`` / ``timeframe``.

    Args:
        start, end: the candles with ``open_time`` in ``[start, end)``; with ``start`` None,
            the last ``bars`` candles before ``end``.
        bucket: profile level size (quote); default :func:`profile_bucket`.

    The continuous candle series is used (empty intervals drawn flat; a data gap is not
    drawn: the candles on either side of it stand next to each other with a dotted line
    between them, :mod:`tapeflow.analytics.segments`). CVD is anchored at
    the first charted candle. The profile covers the trades of the charted candles. FVGs and
    zones are detected on the charted closed candles (their state as of the last one).

    Raises:
        ValueError: no candles in the range; errors of the analytics API.
    """
    if start is None:
        candles = analytics.candles(symbol, timeframe, None, end, continuous=True, last=bars)
    else:
        candles = analytics.candles(symbol, timeframe, start, end, continuous=True)
    if candles.is_empty():
        raise ValueError(f"no {timeframe} candles for {symbol} in [{start}, {end})")
    candles = candles.drop("symbol", strict=False)
    first = candles["open_time"][0]
    stop = candles["close_time"][-1]
    cvd = analytics.cvd(symbol, timeframe, first, stop, anchor="none", continuous=True)
    tick = analytics.sql(symbol, "SELECT max(tick_size) AS tick FROM symbol_meta")["tick"][0]
    low = min(candles["low"].to_list())
    high = max(candles["high"].to_list())
    size = bucket or profile_bucket(low, high, tick)
    profile = analytics.market_profile(symbol, first, stop, bucket=size)
    summary = profile.summary
    last = candles["open_time"][-1]
    title = (
        f"{symbol}  {timeframe}   {first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} UTC"
        f"   (profile level {_price(size)})"
    )
    return ChartData(
        candles=candles,
        cvd=cvd.select("open_time", "cvd"),
        profile_levels=profile.levels,
        bucket=summary.bucket,
        poc=summary.poc,
        vah=summary.vah,
        val=summary.val,
        fvgs=fvgs(candles),
        zones=zones(candles),
        title=title,
    )


def render_chart(
    analytics: ChartSource,
    symbol: str,
    timeframe: str,
    start: Any,
    end: Any,
    out_path: str | Path,
    **options: Any,
) -> Path:
    """Draw the chart of ``symbol`` / ``timeframe`` over ``[start, end)`` to a PNG file
    (``options``: ``bars``, ``bucket`` of :func:`load_chart_data`).

    Returns:
        The written path (parent directories are created).
    """
    data = load_chart_data(analytics, symbol, timeframe, start, end, **options)
    return save(draw_chart(data), out_path)


def save(fig: Figure, out_path: str | Path) -> Path:
    """Write ``fig`` as PNG at :data:`DPI`."""
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def _f(values) -> np.ndarray:
    return np.asarray([np.nan if v is None else float(v) for v in values], dtype=float)


def draw_chart(data: ChartData) -> Figure:
    """The figure for ``data`` (price + FVGs + zones + profile lines | profile; CVD below)."""
    c = data.candles.sort("open_time")
    times = c["open_time"].to_list()
    n = len(times)
    o, h, lo, cl = (_f(c[k].to_list()) for k in ("open", "high", "low", "close"))
    x = np.arange(n)
    index = {t: i for i, t in enumerate(times)}

    # A bare Figure (no pyplot): no global state, no GUI backend, safe in notebooks and CLIs.
    fig = Figure(figsize=FIGSIZE_IN, layout="constrained")
    grid = fig.add_gridspec(2, 2, width_ratios=(5, 1), height_ratios=(3, 1))
    ax = fig.add_subplot(grid[0, 0])
    ax_profile = fig.add_subplot(grid[0, 1], sharey=ax)
    ax_cvd = fig.add_subplot(grid[1, 0], sharex=ax)
    ax_info = fig.add_subplot(grid[1, 1])
    fig.suptitle(data.title, fontsize=13, fontweight="bold")

    pad = (np.nanmax(h) - np.nanmin(lo)) * 0.06 or 1.0
    ymin, ymax = np.nanmin(lo) - pad, np.nanmax(h) + pad
    right = n - 0.5 + max(2, n * 0.02)

    _draw_zones(ax, data.zones, index, right, min_gap=(ymax - ymin) * 0.025)
    _draw_fvgs(ax, data.fvgs, index, right)
    up = cl >= o
    colors = np.where(up, UP, DOWN)
    ax.vlines(x, lo, h, colors=colors, linewidth=0.9, zorder=3)
    body = np.maximum(np.abs(cl - o), (ymax - ymin) * 0.0015)
    ax.bar(
        x,
        body,
        bottom=np.minimum(o, cl),
        width=0.65,
        color=colors,
        edgecolor=colors,
        linewidth=0.5,
        zorder=4,
    )
    _draw_profile_lines(ax, data, right)
    if "segment" in c.columns:  # data gaps: the candles on either side are drawn adjacent
        for i in np.flatnonzero(np.diff(c["segment"].to_numpy())):
            for axis in (ax, ax_cvd):
                axis.axvline(i + 0.5, color="0.35", linestyle=":", linewidth=1.2, zorder=2)
    ax.set_xlim(-1, right)
    ax.set_ylim(ymin, ymax)
    ax.set_ylabel("price (quote)")
    ax.grid(alpha=0.25, linewidth=0.6)
    ax.tick_params(labelbottom=False)
    ax.legend(handles=_legend_handles(), loc="upper left", fontsize=8, framealpha=0.85, ncols=3)

    _draw_profile(ax_profile, data)
    _draw_cvd(ax_cvd, data.cvd, index, n)
    _time_axis(ax_cvd, times)
    _draw_info(ax_info, data)
    return fig


def _x_of(t: datetime | None, index: dict, default: float) -> float:
    if t is None:
        return default
    return float(index.get(t, default))


def _draw_fvgs(ax, gaps: pl.DataFrame, index: dict, right: float) -> None:
    for g in gaps.iter_rows(named=True):
        color = UP if g["direction"] == "bullish" else DOWN
        x0 = _x_of(g["anchor_at"], index, 0) - 0.5
        filled = g["status"] == "filled"
        x1 = _x_of(g["filled_at"], index, right) if filled else right
        bottom, top = float(g["bottom"]), float(g["top"])
        ax.add_patch(
            Rectangle(
                (x0, bottom),
                x1 - x0,
                top - bottom,
                facecolor=color,
                alpha=0.10 if filled else 0.28,
                edgecolor="none",
                zorder=1,
            )
        )


def _draw_zones(ax, items: pl.DataFrame, index: dict, right: float, min_gap: float) -> None:
    labelled: list[float] = []
    for z in items.iter_rows(named=True):
        color = DEMAND if z["type"] == "demand" else SUPPLY
        broken = z["status"] == "broken"
        x0 = _x_of(z["base_start"], index, 0) - 0.5
        x1 = _x_of(z["broken_at"], index, right) if broken else right
        low, high = float(z["price_low"]), float(z["price_high"])
        ax.add_patch(
            Rectangle(
                (x0, low),
                x1 - x0,
                high - low,
                facecolor=color,
                alpha=0.06 if broken else 0.16,
                edgecolor=color,
                linewidth=0.6 if broken else 1.1,
                linestyle="--" if broken else "-",
                zorder=1,
            )
        )
        y = (low + high) / 2
        if not broken and all(abs(y - other) >= min_gap for other in labelled):
            labelled.append(y)
            ax.text(
                right - 0.3,
                (low + high) / 2,
                f"{z['type']} {z['strength']:.0f}",
                fontsize=7,
                color=color,
                ha="right",
                va="center",
                zorder=5,
            )


def _draw_profile_lines(ax, data: ChartData, right: float) -> None:
    half = float(data.bucket) / 2 if data.bucket else 0.0
    for label, level, style in (
        ("POC", data.poc, "-"),
        ("VAH", data.vah, "--"),
        ("VAL", data.val, "--"),
    ):
        if level is None:
            continue
        y = float(level) + half  # the middle of the level's bucket
        ax.axhline(
            y,
            color=POC if label == "POC" else VALUE_AREA,
            linestyle=style,
            linewidth=1.2,
            alpha=0.9,
            zorder=2,
        )
        ax.text(
            -0.6,
            y,
            f" {label} {_price(level)}",
            fontsize=8,
            va="bottom",
            ha="left",
            color=POC if label == "POC" else VALUE_AREA,
            zorder=6,
            bbox={"facecolor": "white", "alpha": 0.75, "edgecolor": "none", "pad": 1},
        )


def _draw_profile(ax, data: ChartData) -> None:
    levels = data.profile_levels
    ax.set_title("volume profile", fontsize=9)
    ax.tick_params(labelleft=False)
    ax.grid(axis="x", alpha=0.25, linewidth=0.6)
    ax.set_xlabel("volume (base)")
    if levels.is_empty() or data.bucket is None:
        return
    bucket = float(data.bucket)
    y = _f(levels["level"].to_list()) + bucket / 2
    vol = _f(levels["volume"].to_list())
    in_va = levels["in_value_area"].to_list()
    is_poc = levels["is_poc"].to_list()
    colors = [
        POC if p else VALUE_AREA if v else OUTSIDE_VA for p, v in zip(is_poc, in_va, strict=True)
    ]
    ax.barh(y, vol, height=bucket * 0.9, color=colors, edgecolor="none")
    ax.set_xlim(0, np.nanmax(vol) * 1.05 if vol.size and np.nanmax(vol) > 0 else 1)


def _draw_cvd(ax, cvd: pl.DataFrame, index: dict, n: int) -> None:
    ax.set_ylabel("CVD (base)")
    ax.grid(alpha=0.25, linewidth=0.6)
    ax.axhline(0, color="#607d8b", linewidth=0.8)
    xs, ys = [], []
    for t, v in cvd.select("open_time", "cvd").iter_rows():
        if t in index and v is not None:
            xs.append(index[t])
            ys.append(float(v))
    if not xs:
        return
    xs_a, ys_a = np.asarray(xs, dtype=float), np.asarray(ys)
    ax.plot(xs_a, ys_a, color="#37474f", linewidth=1.3, drawstyle="steps-mid")
    ax.fill_between(xs_a, ys_a, 0, where=ys_a >= 0, color=UP, alpha=0.3, step="mid")
    ax.fill_between(xs_a, ys_a, 0, where=ys_a < 0, color=DOWN, alpha=0.3, step="mid")


def _time_axis(ax, times: list[datetime]) -> None:
    """Label round times (every 1/2/5/10/15/30 min, 1/2/4/6/12 h or days), ~10 labels."""
    n = len(times)
    span = (times[-1] - times[0]).total_seconds() if n > 1 else 60.0
    steps_min = (1, 2, 5, 10, 15, 30, 60, 120, 240, 360, 720, 1440, 2880, 10080)
    step_s = next((m * 60 for m in steps_min if span / (m * 60) <= 10), 10080 * 60)
    ticks = [i for i, t in enumerate(times) if int(t.timestamp()) % step_s == 0]
    if not ticks:
        ticks = list(range(0, n, max(1, n // 10)))
    fmt = "%m-%d %H:%M" if span >= 86400 else "%H:%M"
    ax.set_xticks(ticks, [times[i].strftime(fmt) for i in ticks], fontsize=8)
    ax.set_xlabel("open time (UTC)")
    ax.xaxis.set_minor_locator(NullLocator())  # x is the candle index: no gaps between bars


def _price(value: Decimal | None) -> str:
    return "–" if value is None else f"{value.normalize():f}"


def _draw_info(ax, data: ChartData) -> None:
    ax.axis("off")
    gaps, zs = data.fvgs, data.zones
    live_gaps = gaps.filter(pl.col("status") != "filled").height if gaps.height else 0
    live_zones = zs.filter(pl.col("status") != "broken").height if zs.height else 0
    closed = closed_candles(data.candles).height
    lines = [
        f"candles  {data.candles.height} ({closed} closed)",
        f"POC      {_price(data.poc)}",
        f"VAH      {_price(data.vah)}",
        f"VAL      {_price(data.val)}",
        f"FVGs     {gaps.height} ({live_gaps} unfilled)",
        f"zones    {zs.height} ({live_zones} unbroken)",
    ]
    ax.text(
        0.02,
        0.95,
        "\n".join(lines),
        family="monospace",
        fontsize=8.5,
        va="top",
        transform=ax.transAxes,
    )


def _legend_handles() -> list:
    return [
        Patch(facecolor=UP, alpha=0.35, label="bullish FVG"),
        Patch(facecolor=DOWN, alpha=0.35, label="bearish FVG"),
        Patch(facecolor=DEMAND, alpha=0.25, edgecolor=DEMAND, label="demand zone"),
        Patch(facecolor=SUPPLY, alpha=0.25, edgecolor=SUPPLY, label="supply zone"),
        Line2D([], [], color=POC, linewidth=1.2, label="POC"),
        Line2D([], [], color=VALUE_AREA, linewidth=1.2, linestyle="--", label="VAH / VAL"),
    ]
