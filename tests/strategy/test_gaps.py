"""The strategy never decides on prices carried over a data gap: on a store like the
demo's (USD-M BTCUSDT 2020 + July/August 2024, spot BTCUSDT 2021 + August 2024), every
closed 1m candle evaluated in time order, as a replay does, the August evaluations see only
August prices — or warm up again, saying why."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import typer
from typer.testing import CliRunner

from tapeflow.analytics.api import Analytics
from tapeflow.cli.strategy import register
from tapeflow.config import parse_config
from tapeflow.store import TickStore
from tapeflow.strategy.decision_log import Decision
from tapeflow.strategy.engine import StrategyEngine
from tests.support.gap_store import SPOT_BTC, USDM_BTC, build_gap_store

AUGUST = datetime(2024, 8, 8, tzinfo=UTC)
#: the close of the last USD-M candle before the gap (2024-07-19 00:05), which the filled
#: series used to carry into August
JULY_CLOSE = 63865.4


@pytest.fixture
def gap_store(tmp_path_factory: pytest.TempPathFactory, market_dir):
    root = build_gap_store(tmp_path_factory.mktemp("strategy_gaps") / "data")
    store = TickStore(root)
    yield store
    store.close()


def replay(store: TickStore, key, **strategy) -> list[Decision]:
    """Evaluate every closed 1m candle of ``key`` in time order (shipped thresholds)."""
    cfg = parse_config({"symbols": [str(key)], "defaults": {"strategy": strategy}}, env={})
    engine = StrategyEngine.from_config(store, cfg)
    times = Analytics.from_store(store).candles(key, "1m", closed_only=True)["open_time"]
    decisions = [engine.evaluate(key, t) for t in times]
    engine.close()
    return decisions


@pytest.mark.parametrize(
    "strategy",
    [{}, {"detection": {"history_candles": 5000}}],
    ids=["rebuilt-after-a-long-gap", "caught-up-across-the-gap"],
)
def test_usdm_regime_after_the_gap_is_never_the_july_price(gap_store, strategy):
    decisions = replay(gap_store, USDM_BTC, **strategy)
    august = [d for d in decisions if d.candle_time >= AUGUST]
    assert [d.candle_time.minute for d in august] == [54, 55, 56, 57, 58]
    for d in august:
        regime = d.levels[0]
        # the last closed 15m candle (23:30) lies in the gap: nothing of this segment has
        # closed yet, so every input is undefined — never July's 63865.4
        assert regime.metrics["close"] is None and regime.metrics["candle"] is None
        assert regime.metrics["regime"] == "warming_up" and d.level_reached == "regime"
        assert d.reason.startswith(
            "warming up after a data gap (no data between 2024-07-19 00:00 and "
            "2024-08-08 23:45 UTC): close, "
        )
        assert d.context["data_gap"] == [
            datetime(2024, 7, 19, tzinfo=UTC),
            datetime(2024, 8, 8, 23, 45, tzinfo=UTC),
        ]
    july = [d for d in decisions if datetime(2024, 7, 1, tzinfo=UTC) <= d.candle_time < AUGUST]
    # the July features restarted after the 2020 recording as well: never its ~9,700 price
    assert july and all(
        d.levels[0].metrics["close"] in (None, JULY_CLOSE) or d.levels[0].metrics["close"] > 60_000
        for d in july
    )
    assert july[0].reason.startswith("warming up after a data gap (no data between 2020-02-22")


def test_spot_regime_after_the_gap_sees_the_august_close(gap_store):
    decisions = replay(gap_store, SPOT_BTC)
    after = [d for d in decisions if d.candle_time >= datetime(2024, 8, 9, tzinfo=UTC)]
    assert after
    for d in after:
        m = d.levels[0].metrics
        # the 23:45 candle of August 8 has closed: its real close, not the 2021 price
        assert m["candle"] == datetime(2024, 8, 8, 23, 45, tzinfo=UTC)
        assert 60_000 < m["close"] < 63_000
        assert d.reason.startswith("warming up after a data gap (no data between 2021-01-08")
    candle = Analytics.from_store(gap_store).candles(SPOT_BTC, "15m", "2024-08-08T23:45")
    assert Decimal(repr(after[0].levels[0].metrics["close"])) == candle["close"][0]


def test_explain_shows_the_real_inputs_after_the_gap(gap_store):
    replay(gap_store, USDM_BTC)
    root = gap_store.root
    gap_store.close()
    app = typer.Typer()
    register(app)
    app.command()(lambda: None)  # a second command keeps typer in multi-command mode
    result = CliRunner().invoke(
        app, ["explain", str(USDM_BTC), "--last", "5", "--root", str(root), "--json"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert len(records) == 5
    for r in records:
        m = r["levels"]["regime"]["metrics"]
        assert m["close"] is None and m["atr"] is None and m["adx"] is None
        assert r["reason"].startswith("warming up after a data gap")
