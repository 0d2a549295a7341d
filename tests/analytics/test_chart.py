"""The order-flow chart and ``tapeflow chart`` on a store holding the real recordings."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import typer
from matplotlib.image import imread
from typer.testing import CliRunner

from tapeflow.analytics.api import open as open_analytics
from tapeflow.analytics.charts import (
    DOWN,
    DPI,
    FIGSIZE_IN,
    UP,
    load_chart_data,
    profile_bucket,
    render_chart,
)
from tapeflow.analytics.fvg import fvgs
from tapeflow.cli.analytics import register
from tests.analytics.candle_frames import build_store

SIZE = (round(FIGSIZE_IN[1] * DPI), round(FIGSIZE_IN[0] * DPI))  # (rows, cols) = (990, 1650)


@pytest.fixture(scope="module")
def recordings_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("store"))


def _pixels_near(img: np.ndarray, hex_color: str, tol: float = 0.03) -> int:
    rgb = np.array([int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return int((np.abs(img[:, :, :3] - rgb).max(axis=2) < tol).sum())


def test_chart_png_shows_candles_profile_and_patterns(
    recordings_root: Path, tmp_path: Path
) -> None:
    with open_analytics(recordings_root) as ta:
        data = load_chart_data(ta, "BTCUSDT", "1m")
        summary = ta.market_profile(
            "BTCUSDT",
            data.candles["open_time"][0],
            data.candles["close_time"][-1],
            bucket=data.bucket,
        ).summary
        out = render_chart(ta, "BTCUSDT", "1m", None, None, tmp_path / "deep" / "btc.png")
    # The whole 2h05m recording: 126 candles, the last one still forming.
    assert data.candles.height == 126 and data.candles["closed"].sum() == 125
    assert data.bucket == Decimal(1)
    assert (data.poc, data.vah, data.val) == (summary.poc, summary.vah, summary.val)
    assert data.val <= data.poc <= data.vah
    assert data.fvgs.equals(fvgs(data.candles)) and data.fvgs.height > 10
    assert data.zones.height > 3
    assert (
        data.cvd["cvd"][-1] == data.candles["buy_volume"].sum() - data.candles["sell_volume"].sum()
    )

    img = imread(out)
    assert img.shape[:2] == SIZE
    assert img[:, :, :3].std() > 0.1  # not a blank canvas
    assert _pixels_near(img, UP) > 2000 and _pixels_near(img, DOWN) > 2000


def test_chart_of_a_date_range_and_a_thin_market(recordings_root: Path, tmp_path: Path) -> None:
    with open_analytics(recordings_root) as ta:
        data = load_chart_data(ta, "XRPETH", "15m", "2019-10-12T00:00", "2019-10-13T00:00")
        render_chart(
            ta, "XRPETH", "15m", "2019-10-12T00:00", "2019-10-13T00:00", tmp_path / "xrp.png"
        )
    assert data.candles.height == 96
    assert data.candles["open_time"][0].isoformat() == "2019-10-12T00:00:00+00:00"
    assert data.bucket == Decimal("0.000001")
    assert imread(tmp_path / "xrp.png").shape[:2] == SIZE


def test_profile_bucket_is_a_round_multiple_of_the_tick() -> None:
    assert profile_bucket(Decimal("9650.1"), Decimal("9710.5"), Decimal("0.1")) == 2
    assert profile_bucket(Decimal("9650.1"), Decimal("9710.5"), Decimal("0.3")) == Decimal("2.1")
    assert profile_bucket(Decimal("0.00139"), Decimal("0.00145"), None) == Decimal("0.000001")
    assert profile_bucket(Decimal(100), Decimal(100), Decimal("0.01")) == Decimal("0.01")


def test_cli_chart_writes_the_png(recordings_root: Path, tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    out = tmp_path / "cli.png"
    result = runner.invoke(
        app, ["BTCUSDT", "--tf", "5m", "--out", str(out), "--root", str(recordings_root)]
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    assert imread(out).shape[:2] == SIZE

    missing = runner.invoke(
        app, ["DOGEUSDT", "--out", str(tmp_path / "x.png"), "--root", str(recordings_root)]
    )
    # input errors exit 2 in every command (README: exit codes)
    assert missing.exit_code == 2 and "error: no symbol 'DOGEUSDT'" in missing.output
    assert not (tmp_path / "x.png").exists()
    bad_tf = runner.invoke(app, ["BTCUSDT", "--tf", "7m", "--root", str(recordings_root)])
    assert bad_tf.exit_code == 2 and "7m" in bad_tf.output
    no_store = runner.invoke(app, ["BTCUSDT", "--root", str(tmp_path / "nowhere")])
    assert no_store.exit_code == 2 and "no tick store" in no_store.output
