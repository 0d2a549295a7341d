"""``tapeflow explain SYMBOL --last N`` prints the decision log."""

import json
from datetime import timedelta

import typer
from typer.testing import CliRunner

from tapeflow.cli.strategy import register
from tapeflow.config import parse_config
from tapeflow.strategy.engine import StrategyEngine
from tests.strategy.recordings import XRPETH
from tests.strategy.test_engine import RELAXED, START


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def _noop() -> None:  # a second command keeps typer in multi-command mode
        pass

    return app


def test_explain_shows_the_last_evaluations(recorded_store):
    cfg = parse_config(RELAXED, env={})
    engine = StrategyEngine.from_config(recorded_store, cfg)
    engine.warm_up(as_of=START + timedelta(hours=21))
    t0 = START + timedelta(hours=21)
    decisions = [engine.evaluate(XRPETH, t0 + timedelta(minutes=i)) for i in range(40)]
    engine.flush()
    root = recorded_store.root
    recorded_store.close()  # explain opens the files itself (read-only)

    runner = CliRunner()
    result = runner.invoke(
        _app(), ["explain", "XRPETH", "--last", "5", "--root", str(root), "--json"]
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    newest = decisions[::-1][:5]
    assert [r["level_reached"] for r in records] == [d.level_reached for d in newest]
    assert [r["reason"] for r in records] == [d.reason for d in newest]
    assert records[0]["levels"]["regime"]["metrics"]["adx"] == newest[0].levels[0].metrics["adx"]

    result = runner.invoke(
        _app(),
        ["explain", "XRPETH", "--last", "20", "--root", str(root)],
        env={"COLUMNS": "250"},
    )
    assert result.exit_code == 0, result.output
    assert "binance/spot/XRPETH — last 20 evaluations" in result.output
    assert newest[0].candle_time.strftime("%Y-%m-%d %H:%M") in result.output
    signal = next((d for d in decisions[::-1][:20] if d.signal), None)
    if signal is not None:
        assert signal.signal.signal_id in result.output


def test_explain_unknown_symbol_is_a_clear_error(recorded_store):
    root = recorded_store.root
    recorded_store.close()
    result = CliRunner().invoke(_app(), ["explain", "DOGEUSDT", "--root", str(root)])
    assert result.exit_code == 2  # an unknown symbol is an input error, as in every command
    assert "error: no symbol 'DOGEUSDT'" in result.output
