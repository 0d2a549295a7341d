"""While `tapeflow run` holds a store: user queries cannot change it, a second run is
refused at once, and every reading command answers through the query endpoint exactly as
it answers from the files once the run is gone."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

import tapeflow
from tapeflow.analytics.endpoint import FlightRunner, find_endpoint
from tapeflow.analytics.query import Query
from tapeflow.cli import app
from tapeflow.model.symbols import SymbolKey
from tests.app.test_run_e2e import tapeflow_run, write_config
from tests.store.test_sandbox import CHECK, fingerprint
from tests.support.hostile import hostile
from tests.support.paths import HFT_DIR

pytestmark = pytest.mark.slow

KEY = SymbolKey("binance", "usdm", "BTCUSDT")
OTHER = SymbolKey("binance", "spot", "ETHUSDT")


def cli(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def state(root: Path) -> dict:
    """Tick count and checksum of every symbol, plus the decision and candle-cache rows."""
    with tapeflow.open(root) as ta:
        return {
            str(key): (
                ta.sql(key, CHECK).rows(),
                ta.sql(key, "SELECT count(*) FROM decisions").rows(),
                ta.sql(key, "SELECT count(*) FROM candles_1m").rows(),
            )
            for key in ta.symbols()
        }


def reading_outputs(root: Path, tmp_path: Path, tag: str) -> dict[str, str]:
    """The output of every reading command (and the chart's bytes)."""
    png = tmp_path / f"chart-{tag}.png"
    commands = {
        "info": ("info", "--root", str(root)),
        "gaps": ("gaps", "--root", str(root)),
        "gaps-one": ("gaps", "binance/usdm/BTCUSDT", "--root", str(root)),
        "sql": (
            "sql",
            str(KEY),
            "SELECT count(*) AS n, sum(quantity) AS q, min(ts) AS t FROM ticks",
            "--root",
            str(root),
        ),
        "sql-explain": ("sql", str(KEY), "EXPLAIN SELECT count(*) FROM ticks", "--root", str(root)),
        "explain": ("explain", str(KEY), "--root", str(root), "--json"),
        "chart": (
            "chart",
            str(KEY),
            "--tf",
            "1m",
            "--bars",
            "10",
            "--out",
            str(png),
            "--root",
            str(root),
        ),
    }
    out = {}
    for name, args in commands.items():
        res = cli(*args)
        assert res.exit_code == 0, (name, res.output)
        out[name] = res.output.replace(str(png), "PNG")
    out["chart-bytes"] = png.read_bytes()
    return out


def hostile_everywhere(root: Path) -> list[str]:
    """Every hostile query through Analytics.sql, `tapeflow sql` and (while a run holds
    the files) the endpoint itself; returns the CLI's error line for each."""
    live = find_endpoint(root)
    runner = FlightRunner(live) if live is not None else None
    errors = []
    with tapeflow.open(root) as ta:
        for sql in hostile(root, OTHER.path(root)):
            with pytest.raises((ValueError, RuntimeError, duckdb.Error)):
                ta.sql(KEY, sql)
                pytest.fail(f"Analytics.sql ran: {sql}")
            if runner is not None:
                with pytest.raises((ValueError, RuntimeError)):
                    runner.run(KEY, Query(sql))
                    pytest.fail(f"the endpoint ran: {sql}")
            res = cli("sql", str(KEY), sql, "--root", str(root))
            assert res.exit_code != 0 and res.output.startswith("error:"), (sql, res.output)
            assert "Traceback" not in res.output
            errors.append(res.output.strip())
    if runner is not None:
        runner.close()
    return errors


def test_live_store_is_read_only_single_owner_and_reads_the_same(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    root = tmp_path / "data"
    usdm = HFT_DIR / "usdm"
    # 5 minutes of 2024-07-19 trades, then the replay waits ~48 min for 2024-08-08's
    proc = tapeflow_run(
        config, usdm / "btcusdt_20240719.gz", usdm / "btcusdt_20240808.gz", speed="600"
    )
    try:
        for line in proc.stdout:
            if line.startswith("status") and "ticks 0 " not in line:
                break
        # wait until the run is quiet (every tick of 07-19 handled, nothing more written)
        seen = [None]
        while len(seen) < 4 or len({repr(s) for s in seen[-3:]}) != 1:
            time.sleep(1)
            seen.append(state(root))
        before, files = seen[-1], fingerprint(root)
        assert before[str(KEY)][0][0][0] > 0

        # a second run on the same root is refused before it does anything
        second = tapeflow_run(config, usdm / "btcusdt_20240719.gz")
        out, _ = second.communicate(timeout=120)
        assert second.returncode == 1, out
        assert f"another tapeflow run (pid {proc.pid}, started " in out
        assert f"holds {root}" in out
        assert "Traceback" not in out and "ready" not in out and "reconcil" not in out.lower()

        live = reading_outputs(root, tmp_path, "live")
        live_errors = hostile_everywhere(root)
        assert state(root) == before
        assert fingerprint(root) == files
    finally:
        proc.send_signal(signal.SIGKILL)  # nothing more is written: what was committed stays
        proc.wait(timeout=30)
    assert find_endpoint(root) is None

    stopped = reading_outputs(root, tmp_path, "stopped")
    assert stopped == live
    stopped_errors = hostile_everywhere(root)
    assert len(stopped_errors) == len(live_errors) >= 30
    assert state(root) == before
    assert fingerprint(root) == files
